from __future__ import annotations

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from registrar.adapters.secrets import secret_source
from registrar.config import ConfigurationError, Settings
from tests.kit.directory import MemoryDirectory
from tests.kit.runtime import memory_runtime

BASE = {
    "KEYCLOAK_URL": "https://keycloak.example.com",
    "KEYCLOAK_REALM": "customers",
    "KEYCLOAK_CLIENT_ID": "registrar",
}


def test_settings_read_lists_and_numbers_from_the_environment():
    settings = Settings.from_environment(
        {**BASE, "KEYCLOAK_CLIENT_SECRET": "s", "ALLOWED_GROUPS": "/a, /b,,", "MAX_WORKERS": "4"}
    )
    assert settings.policy.allowed_groups == frozenset({"/a", "/b"})
    assert settings.max_workers == 4
    assert settings.verify_tls is True


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({}, "KEYCLOAK_URL"),
        ({**BASE}, "KEYCLOAK_CLIENT_SECRET_ARN"),
        ({**BASE, "KEYCLOAK_CLIENT_SECRET": "s", "MAX_WORKERS": "many"}, "MAX_WORKERS"),
        ({**BASE, "KEYCLOAK_CLIENT_SECRET": "s", "KEYCLOAK_VERIFY_TLS": "false"}, "REGISTRAR_ENVIRONMENT"),
        ({**BASE, "KEYCLOAK_CLIENT_SECRET": "s", "ALLOW_PASSWORDS": "perhaps"}, "ALLOW_PASSWORDS"),
        ({**BASE, "KEYCLOAK_CLIENT_SECRET": "s", "QUEUE_RETENTION_SECONDS": "3600"}, "QUEUE_RETENTION_SECONDS"),
    ],
)
def test_a_broken_deployment_is_a_clear_error(environment, named):
    with pytest.raises(ConfigurationError, match=named):
        Settings.from_environment(environment)


@pytest.fixture
def secrets(sqs):  # sqs starts moto's mock_aws
    parameters.clear_caches()
    client = boto3.client("secretsmanager", region_name="eu-west-1")
    yield client
    parameters.clear_caches()


def test_the_client_secret_comes_from_secrets_manager_cached_until_a_forced_refresh(secrets):
    arn = secrets.create_secret(Name="registrar/keycloak", SecretString="first-secret")["ARN"]
    source = secret_source(secret_arn=arn, plain_secret=None, max_age_seconds=300)

    assert source(False) == "first-secret"
    secrets.put_secret_value(SecretId=arn, SecretString="rotated-secret")
    assert source(False) == "first-secret"  # cached for SECRET_MAX_AGE_SECONDS
    assert source(True) == "rotated-secret"  # after Keycloak refused the old one


def test_required_action_aliases_are_kept_as_keycloak_spells_them() -> None:
    settings = Settings.from_environment(
        {**BASE, "KEYCLOAK_CLIENT_SECRET": "s", "ALLOWED_REQUIRED_ACTIONS": "verify_email,my-custom-action"}
    )
    assert settings.policy.required_actions == frozenset({"VERIFY_EMAIL", "my-custom-action"})


def test_a_max_receive_count_too_small_for_the_retry_window_is_noticed() -> None:
    base = {**BASE, "KEYCLOAK_CLIENT_SECRET": "s", "RETRY_WINDOW_SECONDS": "21600"}
    assert Settings.from_environment({**base, "MAX_RECEIVE_COUNT": "5"}).receives_cut_window_short()
    assert not Settings.from_environment({**base, "MAX_RECEIVE_COUNT": "100"}).receives_cut_window_short()


def test_a_recased_or_custom_required_action_is_warned_about_once_at_cold_start(function_logs) -> None:

    memory_runtime(
        MemoryDirectory(), None, None, policy={"allowed_required_actions": "verify_email,my-own,UPDATE_PASSWORD"}
    )
    warned = {line["required_action"]: line for line in function_logs.warnings() if "required_action" in line}
    assert sorted(warned) == ["my-own", "verify_email"]
    assert warned["verify_email"]["keycloak_alias"] == "VERIFY_EMAIL"
