"""The function's runtime for tests: real settings and wiring, Keycloak in memory or real, SQS from moto."""

from __future__ import annotations

from typing import Any

from registrar.config import Settings
from registrar.domain.directory import UserDirectory
from registrar.domain.registration import RegistrationPolicy
from registrar.runtime import Runtime, build_runtime
from registrar_local import keycloak_server

UNIT_SETTINGS: dict[str, Any] = {
    "keycloak_url": "http://keycloak.invalid",
    "realm": "registrar",
    "client_id": "registrar",
    "client_secret": "memory-secret",
    "policy": {
        "allowed_groups": "/customers",
        "allowed_attributes": "signupSource",
        "allowed_required_actions": "VERIFY_EMAIL",
    },
}


def memory_runtime(directory: UserDirectory, sqs: Any, dlq_url: str | None, **settings: Any) -> Runtime:
    """The function's runtime with Keycloak replaced by `directory`; retries do not sleep."""
    values = {**UNIT_SETTINGS, "dlq_url": dlq_url, **settings}
    return build_runtime(
        Settings.model_validate(values), directory=directory, sqs_client=lambda: sqs, sleep=lambda _seconds: None
    )


def local_policy() -> RegistrationPolicy:
    """What the local realm's function environment lets a message ask for."""
    return Settings.from_environment(keycloak_server.function_environment("http://127.0.0.1:8080")).policy
