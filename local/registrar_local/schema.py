"""The published JSON Schema of the registration message, generated from the function's own model.

`schema/registration.schema.json` is what producers validate against; a test fails when it no
longer matches `Registration`. The allowlists are deployment configuration, so the published
schema leaves them open and `deployment_schema` narrows a copy to one deployment's policy.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registrar.domain.registration import Registration, RegistrationPolicy

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema"
SCHEMA_PATH = SCHEMA_DIR / "registration.schema.json"
EXAMPLES_DIR = SCHEMA_DIR / "examples"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

DESCRIPTION = """\
The body of one SQS message to sqs-keycloak-registrar: a sign-up that becomes one Keycloak user. \
It may also arrive wrapped, as the Message string of an SNS notification or the detail of an \
EventBridge event. Generated from the function's model (registrar.domain.registration.Registration) \
by `python -m registrar_local schema`; do not edit by hand.

What this schema cannot express, and the function still enforces: \
(1) groups, attribute names and requiredActions must be in the deployment's allowlists \
(ALLOWED_GROUPS, ALLOWED_ATTRIBUTES, ALLOWED_REQUIRED_ACTIONS), which are configuration rather than \
contract; `python -m registrar_local schema --deployment` prints this schema narrowed to the allowlists \
of its environment. \
(2) password is refused unless the deployment sets ALLOW_PASSWORDS=true. \
(3) attributes may not carry the registrationId attribute; send registrationId instead. \
(4) username may not hold invisible format characters (Unicode category Cf), and Keycloak applies \
its own username rules on top: it answers 400 and the message goes to the DLQ. \
(5) email must be an address the email-validator package accepts; a format checker is usually looser. \
The function is more lenient than this schema in places (it trims whitespace around strings and \
reads "true" as true); send what the schema describes. Email and username are stored lowercased.

Examples, in order: {names}."""


def example_files(examples_dir: Path = EXAMPLES_DIR) -> list[Path]:
    return sorted(examples_dir.glob("*.json"))


def registration_schema(examples_dir: Path = EXAMPLES_DIR) -> dict[str, Any]:
    """The published schema: the model's own JSON Schema, the contract's limits, named examples."""
    files = example_files(examples_dir)
    schema: dict[str, Any] = {"$schema": JSON_SCHEMA_DIALECT, **Registration.model_json_schema()}
    schema["description"] = DESCRIPTION.format(names=", ".join(path.stem for path in files))
    schema["examples"] = [json.loads(path.read_text(encoding="utf-8")) for path in files]
    return schema


def deployment_schema(policy: RegistrationPolicy, published: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The published schema narrowed to one deployment's allowlists and password setting."""
    schema = copy.deepcopy(dict(published if published is not None else registration_schema()))
    properties = schema["properties"]
    properties["groups"]["items"] = _one_of(policy.allowed_groups)
    attribute_names = policy.allowed_attributes - {policy.registration_id_attribute}
    properties["attributes"]["propertyNames"] = _one_of(attribute_names)
    # Keycloak's own spelling only: the function recases a built-in alias, a producer should not rely on it.
    properties["requiredActions"]["items"] = _one_of(policy.required_actions)
    if not policy.allow_passwords:
        del properties["password"]  # additionalProperties is false, so a password is refused
    schema["examples"] = [
        example
        for example in schema.get("examples", [])
        if _allowed_by(example, policy)  # an example this deployment refuses would mislead
    ]
    return schema


def render(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def _one_of(values: frozenset[str]) -> dict[str, Any] | bool:
    # An empty allowlist admits nothing; `enum` should not be empty, the false schema says it.
    return {"type": "string", "enum": sorted(values)} if values else False


def _allowed_by(example: Any, policy: RegistrationPolicy) -> bool:
    try:
        Registration.model_validate(example, context={"policy": policy})
    except ValueError:
        return False
    return True
