"""Deployment settings: TLS verification is only off in development, and no error echoes the secret."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from registrar.config import ConfigurationError, Settings
from registrar.runtime import build_runtime
from tests.kit.logs import LogCapture
from tests.kit.secrecy import exception_texts

SECRET = "s3cr3t-Value-That-Must-Not-Leak"

BASE = {
    "KEYCLOAK_URL": "https://keycloak.example.com",
    "KEYCLOAK_REALM": "registrar",
    "KEYCLOAK_CLIENT_ID": "registrar",
    "KEYCLOAK_CLIENT_SECRET": SECRET,
    "DLQ_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/registrations-dlq",
}


def shows_secret(text: str) -> bool:
    """True when any eight characters of the secret appear (error texts truncate long values)."""
    return any(SECRET[start : start + 8] in text for start in range(len(SECRET) - 7))


def tls_warnings(logs: LogCapture) -> list[dict[str, Any]]:
    return [line for line in logs.warnings() if "TLS" in line["message"]]


@pytest.mark.parametrize("verify", ["false", "False", "0", "no", "off"])
@pytest.mark.parametrize("environment", [None, "production", "Development", "dev", "development "])
def test_tls_verification_off_is_refused_outside_development(verify: str, environment: str | None) -> None:
    environ = {**BASE, "KEYCLOAK_VERIFY_TLS": verify}
    if environment is not None:
        environ["REGISTRAR_ENVIRONMENT"] = environment

    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment(environ)

    assert "KEYCLOAK_VERIFY_TLS=false is only accepted with REGISTRAR_ENVIRONMENT=development" in str(refused.value)
    assert not shows_secret(exception_texts([refused.value]))


def test_tls_verification_off_is_refused_when_settings_are_built_directly() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate(
            {"keycloak_url": "https://k", "realm": "r", "client_id": "c", "verify_tls": False, "client_secret": SECRET}
        )
    assert "REGISTRAR_ENVIRONMENT=development" in str(refused.value)
    assert not shows_secret(exception_texts([refused.value]))


def test_tls_verification_off_in_development_warns_at_every_cold_start(function_logs: LogCapture) -> None:
    settings = Settings.from_environment(
        {**BASE, "KEYCLOAK_VERIFY_TLS": "false", "REGISTRAR_ENVIRONMENT": "development"}
    )
    assert settings.verify_tls is False

    build_runtime(settings)
    assert len(tls_warnings(function_logs)) == 1
    build_runtime(settings)
    assert len(tls_warnings(function_logs)) == 2
    assert not shows_secret(function_logs.text())


def test_tls_verification_on_gives_no_warning(function_logs: LogCapture) -> None:
    for environment in ({}, {"REGISTRAR_ENVIRONMENT": "development"}, {"KEYCLOAK_VERIFY_TLS": "true"}):
        settings = Settings.from_environment({**BASE, **environment})
        assert settings.verify_tls is True
        build_runtime(settings)
    assert tls_warnings(function_logs) == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KEYCLOAK_URL", "not a url"),
        ("KEYCLOAK_REALM", None),
        ("KEYCLOAK_CLIENT_ID", None),
        ("KEYCLOAK_URL", None),
        ("MAX_WORKERS", "many"),
        ("MAX_WORKERS", SECRET),  # the secret pasted into the wrong variable
        ("KEYCLOAK_TIMEOUT_SECONDS", "-1"),
        ("ALLOW_PASSWORDS", "maybe"),
        ("DEADLINE_MARGIN_MS", "-5"),
        ("KEYCLOAK_VERIFY_TLS", "false"),
        ("KEYCLOAK_VERIFY_TLS", SECRET),
        ("SECRET_MAX_AGE_SECONDS", "forever"),
    ],
)
def test_a_configuration_error_never_echoes_the_secret(variable: str, value: str | None) -> None:
    environ = dict(BASE)
    if value is None:
        del environ[variable]
    else:
        environ[variable] = value

    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment(environ)

    assert variable in str(refused.value), "the error must name the variable to fix"
    # Neither the message nor anything chained to it (an error reporter may walk __context__).
    assert not shows_secret(exception_texts([refused.value]))


def test_settings_never_show_the_secret() -> None:
    settings = Settings.from_environment(BASE)
    assert not shows_secret(repr(settings))
    assert not shows_secret(str(settings))
