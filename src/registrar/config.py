"""Deployment settings, read once per execution environment from the environment.

The realm, the Keycloak URL and every allowlist come from here and never from a message.
A missing or malformed setting is a broken deployment: it raises, which fails the whole
batch, so the messages stay on the queue until the deployment is fixed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from registrar.domain.backoff import RetryLimits, VisibilityBackoff
from registrar.domain.deadline import TimeBudget
from registrar.domain.registration import RegistrationPolicy

_POLICY = "policy."

# One table of environment variable -> setting, so template.yaml, events/env.json and the
# local stack can be checked against it. "policy.x" is field x of the nested RegistrationPolicy.
ENVIRONMENT_VARIABLES: dict[str, str] = {
    "KEYCLOAK_URL": "keycloak_url",
    "KEYCLOAK_REALM": "realm",
    "KEYCLOAK_CLIENT_ID": "client_id",
    "KEYCLOAK_CLIENT_SECRET_ARN": "client_secret_arn",
    "KEYCLOAK_CLIENT_SECRET": "client_secret",
    "KEYCLOAK_VERIFY_TLS": "verify_tls",
    "KEYCLOAK_CA_BUNDLE": "ca_bundle",
    "KEYCLOAK_TIMEOUT_SECONDS": "request_timeout_seconds",
    "REGISTRAR_ENVIRONMENT": "environment",
    "MAX_WORKERS": "max_workers",
    "DEADLINE_MARGIN_MS": "deadline_margin_ms",
    "DLQ_URL": "dlq_url",
    "ALLOWED_GROUPS": "policy.allowed_groups",
    "ALLOWED_ATTRIBUTES": "policy.allowed_attributes",
    "ALLOWED_REQUIRED_ACTIONS": "policy.allowed_required_actions",
    "ALLOW_PASSWORDS": "policy.allow_passwords",
    "REGISTRATION_ID_ATTRIBUTE": "policy.registration_id_attribute",
    "SECRET_MAX_AGE_SECONDS": "secret_max_age_seconds",
    "GROUP_CACHE_SECONDS": "group_cache_seconds",
    "RETRY_MAX_ATTEMPTS": "retry_max_attempts",
    "CIRCUIT_FAILURE_THRESHOLD": "circuit_failure_threshold",
    "CIRCUIT_COOLDOWN_SECONDS": "circuit_cooldown_seconds",
    "VISIBILITY_BACKOFF_BASE_SECONDS": "visibility_backoff_base_seconds",
    "VISIBILITY_BACKOFF_MAX_SECONDS": "visibility_backoff_max_seconds",
    "RETRY_WINDOW_SECONDS": "retry_window_seconds",
    "MAX_RECEIVE_COUNT": "max_receive_count",
    "QUEUE_RETENTION_SECONDS": "queue_retention_seconds",
}

SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+")

PositiveSeconds = Annotated[float, Field(gt=0, le=900)]
SQS_MAX_RETENTION_SECONDS = 1_209_600


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
    ca_bundle: str | None = Field(default=None, max_length=2048)
    """PEM bundle of the CA(s) Keycloak's certificate is checked against: a file shipped with the
    function, or the ARN of a Secrets Manager secret holding the PEM text. None: the public CAs."""
    environment: str = "production"
    request_timeout_seconds: PositiveSeconds = 5.0
    max_workers: int = Field(default=10, ge=1, le=64)
    deadline_margin_ms: int = Field(default=3000, ge=0)
    dlq_url: str | None = None
    policy: RegistrationPolicy = RegistrationPolicy()
    secret_max_age_seconds: int = Field(default=300, ge=0)
    group_cache_seconds: float = Field(default=300.0, ge=0)
    retry_max_attempts: int = Field(default=3, ge=1, le=10)
    circuit_failure_threshold: int = Field(default=5, ge=1)
    circuit_cooldown_seconds: float = Field(default=30.0, ge=0)
    visibility_backoff_base_seconds: float = Field(default=30.0, ge=0)
    visibility_backoff_max_seconds: float = Field(default=900.0, ge=0, le=43200)
    retry_window_seconds: float = Field(default=21600.0, gt=0, le=SQS_MAX_RETENTION_SECONDS)
    """How long after it was sent a still-failing message keeps being retried before its DLQ copy."""
    max_receive_count: int | None = Field(default=None, ge=1)
    """The source queue's maxReceiveCount: the last receive sends the copy, with its reason."""
    queue_retention_seconds: int | None = Field(default=None, ge=60, le=SQS_MAX_RETENTION_SECONDS)

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if not self.client_secret_arn and not self.client_secret:
            raise ValueError("set KEYCLOAK_CLIENT_SECRET_ARN (Secrets Manager) or KEYCLOAK_CLIENT_SECRET")
        if not self.verify_tls and self.environment != "development":
            raise ValueError("KEYCLOAK_VERIFY_TLS=false is only accepted with REGISTRAR_ENVIRONMENT=development")
        if self.ca_bundle is not None:
            if not self.verify_tls:
                raise ValueError("KEYCLOAK_CA_BUNDLE and KEYCLOAK_VERIFY_TLS=false contradict each other: set one")
            if self.ca_bundle.startswith("arn:") and not SECRET_ARN.fullmatch(self.ca_bundle):
                raise ValueError("KEYCLOAK_CA_BUNDLE: an ARN must be a Secrets Manager secret's (or give a file path)")
        if (
            self.queue_retention_seconds is not None
            and self.retry_window_seconds + self.visibility_backoff_max_seconds > self.queue_retention_seconds
        ):
            # The queue would delete a message still being retried: lost without a DLQ copy.
            raise ValueError(
                "RETRY_WINDOW_SECONDS plus VISIBILITY_BACKOFF_MAX_SECONDS must not exceed QUEUE_RETENTION_SECONDS"
            )
        return self

    # Read per record in the processor; derived once per environment.
    @cached_property
    def time_budget(self) -> TimeBudget:
        return TimeBudget(margin_ms=self.deadline_margin_ms)

    @cached_property
    def backoff(self) -> VisibilityBackoff:
        return VisibilityBackoff(
            base_seconds=self.visibility_backoff_base_seconds, max_seconds=self.visibility_backoff_max_seconds
        )

    @cached_property
    def retry_limits(self) -> RetryLimits:
        return RetryLimits(retry_window_seconds=self.retry_window_seconds, max_receive_count=self.max_receive_count)

    def receives_cut_window_short(self) -> bool:
        """Whether maxReceiveCount can be reached, by backoff alone, before the retry window ends."""
        if self.max_receive_count is None:
            return False
        return self.backoff.shortest_span(self.max_receive_count) < self.retry_window_seconds

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {
            field: environ[name]
            for name, field in ENVIRONMENT_VARIABLES.items()
            if not field.startswith(_POLICY) and environ.get(name, "") != ""
        }
        if policy := policy_values(environ):
            values["policy"] = policy
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            # Only names and messages: a value (a secret, say) must not reach the log.
            problems = "; ".join(
                f"{_variable_for(issue['loc'])}: {issue['msg']}"
                for issue in error.errors(include_input=False, include_url=False)
            )
            raise ConfigurationError(f"invalid configuration: {problems}") from None


def policy_values(environ: Mapping[str, str]) -> dict[str, str]:
    """The RegistrationPolicy fields a function environment sets (empty values count as unset)."""
    return {
        field.removeprefix(_POLICY): environ[name]
        for name, field in ENVIRONMENT_VARIABLES.items()
        if field.startswith(_POLICY) and environ.get(name, "") != ""
    }


def policy_from_environment(
    environ: Mapping[str, str], overrides: Mapping[str, str | None] | None = None
) -> RegistrationPolicy:
    """What a deployment lets a message ask for, without the rest of its settings (no Keycloak, no secret)."""
    values = policy_values(environ) | {name: value for name, value in (overrides or {}).items() if value is not None}
    return RegistrationPolicy.model_validate(values)


def _variable_for(location: tuple[int | str, ...]) -> str:
    """The environment variable behind a validation error's location."""
    if not location:
        return "settings"
    nested = location[0] == "policy" and len(location) > 1
    field = f"{_POLICY}{location[1]}" if nested else str(location[0])
    for name, candidate in ENVIRONMENT_VARIABLES.items():
        if candidate == field:
            return name
    return field
