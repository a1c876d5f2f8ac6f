"""Deployment settings, read once per execution environment from the environment.

The realm, the Keycloak URL and every allowlist come from here and never from a message.
A missing or malformed setting is a broken deployment: it raises, which fails the whole
batch, so the messages stay on the queue until the deployment is fixed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator, model_validator

# One table of environment variable -> setting, so template.yaml, events/env.json and the
# local stack can be checked against it.
ENVIRONMENT_VARIABLES: dict[str, str] = {
    "KEYCLOAK_URL": "keycloak_url",
    "KEYCLOAK_REALM": "realm",
    "KEYCLOAK_CLIENT_ID": "client_id",
    "KEYCLOAK_CLIENT_SECRET_ARN": "client_secret_arn",
    "KEYCLOAK_CLIENT_SECRET": "client_secret",
    "KEYCLOAK_VERIFY_TLS": "verify_tls",
    "KEYCLOAK_TIMEOUT_SECONDS": "request_timeout_seconds",
    "REGISTRAR_ENVIRONMENT": "environment",
    "MAX_WORKERS": "max_workers",
    "DEADLINE_MARGIN_MS": "deadline_margin_ms",
    "DLQ_URL": "dlq_url",
    "ALLOWED_GROUPS": "allowed_groups",
    "ALLOWED_ATTRIBUTES": "allowed_attributes",
    "ALLOWED_REQUIRED_ACTIONS": "allowed_required_actions",
    "ALLOW_PASSWORDS": "allow_passwords",
    "REGISTRATION_ID_ATTRIBUTE": "registration_id_attribute",
    "SECRET_MAX_AGE_SECONDS": "secret_max_age_seconds",
    "RETRY_MAX_ATTEMPTS": "retry_max_attempts",
    "CIRCUIT_FAILURE_THRESHOLD": "circuit_failure_threshold",
    "CIRCUIT_COOLDOWN_SECONDS": "circuit_cooldown_seconds",
    "VISIBILITY_BACKOFF_BASE_SECONDS": "visibility_backoff_base_seconds",
    "VISIBILITY_BACKOFF_MAX_SECONDS": "visibility_backoff_max_seconds",
}

PositiveSeconds = Annotated[float, Field(gt=0, le=900)]


class ConfigurationError(RuntimeError):
    """The deployment is incomplete or inconsistent; no record can be processed."""


class Settings(BaseModel):
    # Inputs stay out of validation errors: the client secret is one of them, and so is any
    # value pasted into the wrong variable.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    keycloak_url: HttpUrl
    realm: str = Field(min_length=1, max_length=255)
    client_id: str = Field(min_length=1, max_length=255)
    client_secret_arn: str | None = None
    client_secret: str | None = Field(default=None, repr=False)
    verify_tls: bool = True
    environment: str = "production"
    request_timeout_seconds: PositiveSeconds = 5.0
    max_workers: int = Field(default=10, ge=1, le=64)
    deadline_margin_ms: int = Field(default=3000, ge=0)
    dlq_url: str | None = None
    allowed_groups: frozenset[str] = frozenset()
    allowed_attributes: frozenset[str] = frozenset()
    allowed_required_actions: frozenset[str] = frozenset()
    allow_passwords: bool = False
    registration_id_attribute: str = "registrationId"
    secret_max_age_seconds: int = Field(default=300, ge=0)
    retry_max_attempts: int = Field(default=3, ge=1, le=10)
    circuit_failure_threshold: int = Field(default=5, ge=1)
    circuit_cooldown_seconds: float = Field(default=30.0, ge=0)
    visibility_backoff_base_seconds: float = Field(default=30.0, ge=0)
    visibility_backoff_max_seconds: float = Field(default=900.0, ge=0, le=43200)

    @field_validator("allowed_groups", "allowed_attributes", "allowed_required_actions", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(item.strip() for item in value.split(",") if item.strip())
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if not self.client_secret_arn and not self.client_secret:
            raise ValueError("set KEYCLOAK_CLIENT_SECRET_ARN (Secrets Manager) or KEYCLOAK_CLIENT_SECRET")
        if not self.verify_tls and self.environment != "development":
            raise ValueError("KEYCLOAK_VERIFY_TLS=false is only accepted with REGISTRAR_ENVIRONMENT=development")
        return self

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values = {field: environ[name] for name, field in ENVIRONMENT_VARIABLES.items() if environ.get(name, "") != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            # Only names and messages: a value (a secret, say) must not reach the log.
            problems = "; ".join(
                f"{_variable_for(str(issue['loc'][0]) if issue['loc'] else '')}: {issue['msg']}"
                for issue in error.errors(include_input=False, include_url=False)
            )
            raise ConfigurationError(f"invalid configuration: {problems}") from None


def _variable_for(field: str) -> str:
    for name, candidate in ENVIRONMENT_VARIABLES.items():
        if candidate == field:
            return name
    return field or "settings"
