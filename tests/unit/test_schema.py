"""schema/registration.schema.json: current with the model, and agreeing with it on events/ and the refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from registrar.domain.registration import Registration, parse_body
from registrar_local.keycloak_command import sam_env_file
from registrar_local.samples import EVENTS_DIR
from registrar_local.schema import SCHEMA_PATH, deployment_schema, example_files, registration_schema, render
from tests.kit.contract import CREDENTIALS_BODY, PASSWORD_BODY, POLICY, REFUSED_BODIES
from tests.kit.runtime import local_policy

# Every event file of events/ but the refusals (and env.json, which is sam's environment file):
# a new one is checked without being listed.
REFUSED_EVENT_FILES = frozenset({"invalid.json"})
SUCCEEDING_EVENT_FILES = sorted(
    path.name for path in EVENTS_DIR.glob("*.json") if path.name not in REFUSED_EVENT_FILES | {"env.json"}
)
# Refused only by the deployment's allowlists or its password setting, which the published schema leaves open.
DEPLOYMENT_ONLY_REFUSALS = {
    '{"email": "a@example.com", "groups": ["/realm-admins"]}',
    '{"email": "a@example.com", "attributes": {"isAdmin": ["1"]}}',
    '{"email": "a@example.com", "requiredActions": ["CONFIGURE_TOTP"]}',
    PASSWORD_BODY,
}


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def published() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def registration_document(body: str) -> Any:
    """The registration a body carries, out of an SNS or EventBridge envelope (the function's rules)."""
    document = json.loads(body)
    if isinstance(document, dict) and document.get("Type") == "Notification" and "Message" in document:
        return json.loads(document["Message"])
    if isinstance(document, dict) and "detail" in document and "detail-type" in document:
        return document["detail"]
    return document


def schema_accepts(schema: dict[str, Any], body: str) -> bool:
    try:
        document = registration_document(body)
    except (ValueError, RecursionError):
        return False  # not JSON: nothing a schema could accept
    return validator(schema).is_valid(document)


def event_bodies(name: str) -> list[str]:
    return [record["body"] for record in json.loads((EVENTS_DIR / name).read_text())["Records"]]


def test_the_published_schema_is_the_models():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render(registration_schema()), (
        "schema/registration.schema.json is stale: run python -m registrar_local schema"
    )
    Draft202012Validator.check_schema(published())


def test_the_description_names_what_the_schema_cannot_express():
    description = published()["description"]

    for limit in ("ALLOWED_GROUPS", "ALLOWED_ATTRIBUTES", "ALLOWED_REQUIRED_ACTIONS", "ALLOW_PASSWORDS"):
        assert limit in description
    assert "Keycloak applies its own username rules" in description
    assert "invisible format characters" in description


def test_a_password_is_a_write_only_string_in_the_schema():
    (as_string, as_null) = published()["properties"]["password"]["anyOf"]

    assert as_string["type"] == "string"
    assert as_string["writeOnly"] is True
    assert as_null == {"type": "null"}


def test_the_named_examples_are_in_the_schema_and_the_model_accepts_them():
    names = [path.stem for path in example_files()]
    schema = published()

    assert len(names) >= 3
    assert f"Examples, in order: {', '.join(names)}." in schema["description"]
    for example in schema["examples"]:
        assert validator(schema).is_valid(example)
        Registration.model_validate(example, context={"policy": local_policy()})
    assert schema["examples"] == deployment_schema(local_policy(), schema)["examples"]


@pytest.mark.parametrize("name", SUCCEEDING_EVENT_FILES)
def test_every_registration_in_events_passes_the_schema(name):
    schema = published()
    local = deployment_schema(local_policy(), schema)

    for body in event_bodies(name):
        document = registration_document(body)
        assert not list(validator(schema).iter_errors(document)), body
        assert not list(validator(local).iter_errors(document)), body


def test_invalid_json_disagrees_with_the_schema_only_where_keycloak_decides():
    local = deployment_schema(local_policy(), published())
    model_refuses = []
    for body in event_bodies("invalid.json"):
        try:
            parse_body(body, local_policy())
        except ValueError:
            model_refuses.append(body)
            assert not schema_accepts(local, body), body
    # The one the model accepts is refused by Keycloak itself (a username with a slash).
    assert len(model_refuses) == len(event_bodies("invalid.json")) - 1


@pytest.mark.parametrize(
    "body",
    [body for body, _, _ in REFUSED_BODIES] + [PASSWORD_BODY, CREDENTIALS_BODY],
    ids=lambda body: body[:60],
)
def test_every_refusal_of_the_model_fails_the_schema(body):
    assert not schema_accepts(deployment_schema(POLICY, published()), body)
    # The published schema leaves only the deployment's allowlists and password setting open.
    assert schema_accepts(published(), body) == (body in DEPLOYMENT_ONLY_REFUSALS)


def test_the_username_pattern_refuses_what_the_model_refuses():
    schema = published()
    for username in ("two words", "tab\there", "a<b", "a&b", 'quo"te', "apo'strophe", "bell\x07"):
        assert not validator(schema).is_valid({"email": "a@example.com", "username": username}), username
    assert validator(schema).is_valid({"email": "a@example.com", "username": "a.b-c_d@x"})


def test_the_keycloak_command_prints_what_events_env_json_holds():
    (printed,) = sam_env_file(8080).values()
    (checked_in,) = json.loads((EVENTS_DIR / "env.json").read_text()).values()

    for name, value in printed.items():
        assert checked_in[name] == value, name
    assert set(sam_env_file(8080)) == set(json.loads((EVENTS_DIR / "env.json").read_text()))
