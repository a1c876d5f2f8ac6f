"""template.yaml's defaults, events/env.json and the local realm describe the same function."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registrar.config import ENVIRONMENT_VARIABLES, Settings
from registrar_local import cfn, keycloak_server
from registrar_local.keycloak_server import DEPLOYMENT_VARIABLES
from registrar_local.postgres_server import PostgresServer

ENV_FILE = Path(__file__).resolve().parents[2] / "events" / "env.json"
USER_PROFILE_PROVIDER = "org.keycloak.userprofile.UserProfileProvider"
# Required actions Keycloak enables in a realm imported without a requiredActions list (a subset
# of its defaults: those every supported version enables; TERMS_AND_CONDITIONS, for one, it does not).
ENABLED_ON_IMPORT = frozenset({"VERIFY_EMAIL", "UPDATE_PASSWORD", "UPDATE_PROFILE", "CONFIGURE_TOTP"})


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn.load_template()


@pytest.fixture(scope="module")
def template_defaults(template: dict[str, Any]) -> dict[str, str]:
    """The function's environment with every parameter at its default."""
    return cfn.function_environment(template, cfn.parameter_values(template))


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(keycloak_server.REALM_FILE.read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def env_json() -> dict[str, str]:
    (variables,) = json.loads(ENV_FILE.read_text(encoding="utf-8")).values()
    return dict(variables)


def local_settings() -> Settings:
    return Settings.from_environment(keycloak_server.function_environment("http://127.0.0.1:8080"))


def user_profile_attributes(realm: dict[str, Any]) -> set[str]:
    (provider,) = realm["components"][USER_PROFILE_PROVIDER]
    (profile,) = provider["config"]["kc.user.profile.config"]
    return {attribute["name"] for attribute in json.loads(profile)["attributes"]}


def listed(value: str) -> set[str]:
    return {item for item in value.split(",") if item}


def test_the_local_stack_takes_every_behaviour_setting_from_the_template(template_defaults):
    behaviour = {
        name: value
        for name, value in template_defaults.items()
        if name in ENVIRONMENT_VARIABLES and name not in DEPLOYMENT_VARIABLES
    }
    local = keycloak_server.function_environment("http://127.0.0.1:8080")

    assert {"ALLOWED_GROUPS", "RETRY_MAX_ATTEMPTS", "CIRCUIT_FAILURE_THRESHOLD", "MAX_WORKERS"} <= set(behaviour)
    assert {name: local[name] for name in behaviour} == behaviour


def test_retry_breaker_and_backoff_settings_are_template_parameters(template, template_defaults):
    for name in (
        "RETRY_MAX_ATTEMPTS",
        "CIRCUIT_FAILURE_THRESHOLD",
        "CIRCUIT_COOLDOWN_SECONDS",
        "VISIBILITY_BACKOFF_BASE_SECONDS",
        "VISIBILITY_BACKOFF_MAX_SECONDS",
        "GROUP_CACHE_SECONDS",
    ):
        variable = template["Resources"]["RegistrationFunction"]["Properties"]["Environment"]["Variables"][name]
        assert set(variable) == {"Ref"}, name
        assert variable["Ref"] in template["Parameters"], name
        # The template's default is the function's own: a deploy with no override changes nothing.
        field = ENVIRONMENT_VARIABLES[name]
        assert float(template_defaults[name]) == float(Settings.model_fields[field].default), name


def test_env_json_agrees_with_the_template_and_the_local_realm(template_defaults, env_json):
    local = keycloak_server.function_environment(env_json["KEYCLOAK_URL"])

    for name, value in local.items():
        assert env_json[name] == value, name
    for name in set(env_json) & set(template_defaults) - DEPLOYMENT_VARIABLES - {"POWERTOOLS_LOG_LEVEL"}:
        assert env_json[name] == template_defaults[name], name
    assert env_json["KEYCLOAK_CLIENT_SECRET"] == keycloak_server.CLIENT_SECRET


def test_the_realm_is_the_templates_default_realm_and_client(template, realm):
    parameters = cfn.parameter_values(template)

    assert realm["realm"] == parameters["KeycloakRealm"] == keycloak_server.REALM
    client_ids = {client["clientId"] for client in realm["clients"]}
    assert parameters["KeycloakClientId"] == keycloak_server.CLIENT_ID
    assert keycloak_server.CLIENT_ID in client_ids


def test_every_allowed_group_exists_in_the_local_realm(realm):
    allowed = local_settings().policy.allowed_groups
    paths = {group["path"] for group in realm["groups"]}

    assert allowed, "the template allows no group: the local realm test would prove nothing"
    assert allowed <= paths, allowed - paths


def test_every_allowed_attribute_is_declared_in_the_local_user_profile(realm):
    policy = local_settings().policy
    declared = user_profile_attributes(realm)

    assert policy.allowed_attributes
    assert policy.allowed_attributes <= declared, policy.allowed_attributes - declared
    # The function writes the registration id too: Keycloak drops an undeclared attribute.
    assert policy.registration_id_attribute in declared


def test_every_allowed_required_action_is_enabled_in_the_local_realm(realm):
    allowed = local_settings().policy.allowed_required_actions
    enabled = (
        {action["alias"] for action in realm["requiredActions"] if action.get("enabled", True)}
        if "requiredActions" in realm
        else ENABLED_ON_IMPORT
    )

    assert allowed
    assert allowed <= enabled, allowed - enabled


def test_the_database_password_is_never_read_by_keycloak_24_as_a_missing_value():
    """Keycloak 24 takes --db-password=-x for an option without its value and exits at start."""
    values = [PostgresServer(port=1).keycloak_options()[-1].split("=", 1)[1] for _ in range(500)]
    assert not [value for value in values if value.startswith("-")]
    assert len(set(values)) == len(values)
