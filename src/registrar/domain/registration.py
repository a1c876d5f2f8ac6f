"""The registration message, the envelopes it may arrive in, and what a deployment lets it ask for.

A registration is validated against a :class:`RegistrationPolicy` passed as pydantic
validation context, so the allowlists stay deployment settings rather than model constants.
Anything that could grant privilege is not a field of the model, and unknown fields are
refused, so such an attempt fails validation with a reason that names the field.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from registrar.domain.required_actions import canonical_required_action

# Keycloak's own username rules are richer (homographs, more characters); it answers 400 for
# those and the record goes to the DLQ the same way. These are the ones worth catching early.
_USERNAME_FORBIDDEN_CHARACTERS = "<>&\"'\\s\\x00-\\x1f\\x7f"  # a regex character class body
_USERNAME_FORBIDDEN = re.compile(f"[{_USERNAME_FORBIDDEN_CHARACTERS}]")
_REGISTRATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# The same rules for the published JSON Schema (schema/registration.schema.json), which cannot
# name a Unicode category: the invisible format characters are left to the validator below.
USERNAME_PATTERN = f"^[^{_USERNAME_FORBIDDEN_CHARACTERS}]+$"

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
AttributeValue = Annotated[str, StringConstraints(max_length=255)]

MAX_BODY_BYTES = 256 * 1024


def comma_separated(value: str) -> frozenset[str]:
    """An allowlist as the environment (and the operator commands) write it: "a, b,,c"."""
    return frozenset(item.strip() for item in value.split(",") if item.strip())


class RegistrationPolicy(BaseModel):
    """What a deployment lets a message ask for (part of the settings; see `registrar.config`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    allowed_groups: frozenset[str] = frozenset()
    allowed_attributes: frozenset[str] = frozenset()
    allowed_required_actions: frozenset[str] = frozenset()
    """As configured; `required_actions` is what Keycloak is sent."""
    allow_passwords: bool = False
    registration_id_attribute: str = Field(default="registrationId", min_length=1, max_length=255)

    @field_validator("allowed_groups", "allowed_attributes", "allowed_required_actions", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Environment variables hold comma-separated lists."""
        return comma_separated(value) if isinstance(value, str) else value

    @property
    def required_actions(self) -> frozenset[str]:
        """The allowlisted required actions as Keycloak spells them (a built-in alias in another case is recased)."""
        return frozenset(canonical_required_action(alias) for alias in self.allowed_required_actions)


class InvalidMessage(ValueError):
    """The body is not a registration; `reason` says why, without echoing secret values."""

    def __init__(self, reason: str, error_class: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_class = error_class


def _policy(info: ValidationInfo) -> RegistrationPolicy:
    context = info.context or {}
    policy = context.get("policy")
    return policy if isinstance(policy, RegistrationPolicy) else RegistrationPolicy()


def _refuse_outside(field_name: str, values: Iterable[str], allowed: frozenset[str]) -> None:
    refused = sorted(value for value in values if value not in allowed)
    if refused:
        raise ValueError(f"{field_name} not allowed: {', '.join(_clip(value) for value in refused)}")


class Registration(BaseModel):
    # Inputs stay out of ValidationError texts: a refused password must not ride along in one.
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, strict=False, hide_input_in_errors=True
    )

    email: EmailStr
    username: str | None = Field(
        default=None, min_length=3, max_length=255, json_schema_extra={"pattern": USERNAME_PATTERN}
    )
    firstName: Name | None = None  # noqa: N815 - the wire names are Keycloak's
    lastName: Name | None = None  # noqa: N815
    enabled: bool = True
    emailVerified: bool = False  # noqa: N815
    attributes: dict[str, list[AttributeValue]] = Field(default_factory=dict, max_length=20)
    groups: list[str] = Field(default_factory=list, max_length=20)
    requiredActions: list[str] = Field(default_factory=list, max_length=10)  # noqa: N815
    registrationId: str | None = Field(  # noqa: N815
        default=None, json_schema_extra={"pattern": _REGISTRATION_ID.pattern}
    )
    password: SecretStr | None = Field(default=None, max_length=1024)

    @field_validator("email", mode="after")
    @classmethod
    def _lower_email(cls, value: str) -> str:
        return value.lower()

    @field_validator("username", mode="after")
    @classmethod
    def _check_username(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if _USERNAME_FORBIDDEN.search(value) or any(unicodedata.category(ch) == "Cf" for ch in value):
            # Cf: invisible format characters (zero-width, bidi overrides) that Keycloak accepts
            # and that make one username look like another.
            raise ValueError("username contains a space, a control or invisible character or one of <>&\"'")
        return value.lower()

    @field_validator("registrationId", mode="after")
    @classmethod
    def _check_registration_id(cls, value: str | None) -> str | None:
        if value is not None and not _REGISTRATION_ID.match(value):
            raise ValueError("registrationId must be 1-128 characters of letters, digits and ._:-")
        return value

    @field_validator("attributes", mode="after")
    @classmethod
    def _check_attributes(cls, value: dict[str, list[str]], info: ValidationInfo) -> dict[str, list[str]]:
        policy = _policy(info)
        _refuse_outside("attributes", value, policy.allowed_attributes)
        if policy.registration_id_attribute in value:
            raise ValueError(f"set {policy.registration_id_attribute} through registrationId, not attributes")
        return value

    @field_validator("groups", mode="after")
    @classmethod
    def _check_groups(cls, value: list[str], info: ValidationInfo) -> list[str]:
        _refuse_outside("groups", value, _policy(info).allowed_groups)
        return sorted(set(value))

    @field_validator("requiredActions", mode="after")
    @classmethod
    def _check_required_actions(cls, value: list[str], info: ValidationInfo) -> list[str]:
        # Keycloak drops an alias it does not know, case included: send its own spelling.
        allowed = _policy(info).required_actions
        refused = [alias for alias in value if canonical_required_action(alias) not in allowed]
        _refuse_outside("requiredActions", refused, frozenset())
        return sorted({canonical_required_action(alias) for alias in value})

    @field_validator("password", mode="after")
    @classmethod
    def _check_password(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and not _policy(info).allow_passwords:
            raise ValueError("passwords are not accepted by this deployment")
        return value

    @model_validator(mode="after")
    def _default_username(self) -> Registration:
        if self.username is None:
            object.__setattr__(self, "username", self.email)
        return self

    @property
    def login(self) -> str:
        """The username Keycloak will store (always set after validation)."""
        return self.username or self.email

    def identity_key(self) -> tuple[str, str]:
        """The username and email Keycloak would store: equal keys are the same user."""
        return (self.login, self.email)

    def to_user_representation(self, registration_id_attribute: str) -> dict[str, Any]:
        """The Keycloak UserRepresentation to POST; the only place a password is revealed."""
        attributes = {name: list(values) for name, values in self.attributes.items()}
        if self.registrationId is not None:
            attributes[registration_id_attribute] = [self.registrationId]
        user: dict[str, Any] = {
            "username": self.login,
            "email": self.email,
            "enabled": self.enabled,
            "emailVerified": self.emailVerified,
        }
        if self.firstName is not None:
            user["firstName"] = self.firstName
        if self.lastName is not None:
            user["lastName"] = self.lastName
        if attributes:
            user["attributes"] = attributes
        if self.groups:
            user["groups"] = list(self.groups)
        if self.requiredActions:
            user["requiredActions"] = list(self.requiredActions)
        if self.password is not None:
            user["credentials"] = [{"type": "password", "value": self.password.get_secret_value(), "temporary": False}]
        return user

    def dedupe_key(self) -> str:
        """Equal for two messages that ask for exactly the same user (passwords masked)."""
        return self.model_dump_json()


@dataclass(frozen=True)
class ParsedBody:
    registration: Registration
    envelope: str


def parse_body(body: str | None, policy: RegistrationPolicy) -> ParsedBody:
    """Parse an SQS body, unwrapping an SNS notification or an EventBridge event."""
    if body is None or body == "":
        raise InvalidMessage("empty body", "EmptyBody")
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise InvalidMessage("body larger than 256 KiB", "BodyTooLarge")
    document = _load_json(body, "body")
    envelope = "plain"
    if isinstance(document, dict) and document.get("Type") == "Notification" and "Message" in document:
        envelope = "sns"
        inner = document["Message"]
        if not isinstance(inner, str):
            raise InvalidMessage("SNS Message is not a string", "InvalidEnvelope")
        document = _load_json(inner, "SNS Message")
    elif isinstance(document, dict) and "detail" in document and "detail-type" in document:
        envelope = "eventbridge"
        document = document["detail"]
    if not isinstance(document, dict):
        raise InvalidMessage(f"registration must be a JSON object, got {type(document).__name__}", "NotAnObject")
    try:
        registration = Registration.model_validate(document, context={"policy": policy})
    except ValidationError as error:
        raise InvalidMessage(describe_validation_error(error), "SchemaError") from None
    return ParsedBody(registration=registration, envelope=envelope)


def describe_validation_error(error: ValidationError) -> str:
    """Field locations and messages only: input values (a password, say) are never echoed."""
    parts = []
    for issue in error.errors(include_input=False, include_url=False, include_context=False)[:10]:
        location = ".".join(_clip(str(part), 40) for part in issue["loc"]) or "body"
        parts.append(f"{location}: {issue['msg']}")
    return "; ".join(parts)


def _load_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidMessage(f"{what} is nested too deeply", "NotJson") from None
    except json.JSONDecodeError as error:
        raise InvalidMessage(f"{what} is not JSON: {error.msg} at position {error.pos}", "NotJson") from None
    except ValueError:
        # Python refuses integers of more than 4300 digits with a plain ValueError.
        raise InvalidMessage(f"{what} is not JSON this function accepts: a number is too long", "NotJson") from None


def _clip(text: str, limit: int = 64) -> str:
    printable = "".join(ch if ch.isprintable() else "?" for ch in text)
    return printable if len(printable) <= limit else printable[: limit - 3] + "..."


_SECRET_KEYS = frozenset({"password", "credentials"})
_SECRET_IN_TEXT = re.compile(
    r"(\\?\"(?:password|credentials)\\?\"\s*:\s*)(\\?\"(?:[^\"\\]|\\.)*(?:\\?\"|$)|\[[^\]]*(?:\]|$)|[^,}\]\s]*)",
    re.IGNORECASE | re.DOTALL,
)
REDACTED = "[redacted]"


def redact_body(body: str) -> str:
    """The body with every password or credentials value removed, for a DLQ copy.

    Parsed when it parses (SNS and EventBridge envelopes included); scrubbed as text when it
    does not, since a broken body can still carry a password.
    """
    try:
        document = json.loads(body)
        redacted = _redact(document)
    except (ValueError, RecursionError):
        return _SECRET_IN_TEXT.sub(lambda match: match.group(1) + f'"{REDACTED}"', body)
    # Keep the original text when there was nothing to remove, so a redrive replays it as sent.
    # ASCII: the decoded text may hold characters SQS refuses (U+FFFF, lone surrogates) that the
    # original only carried as escapes.
    return body if redacted == document else json.dumps(redacted, ensure_ascii=True, separators=(",", ":"))


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: REDACTED if key.lower() in _SECRET_KEYS else _redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    if isinstance(value, str) and value.lstrip().startswith(("{", "[", '"')):
        # An SNS notification carries the registration as a JSON string (whitespace may lead).
        return redact_body(value)
    return value
