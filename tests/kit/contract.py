"""The message contract's cases that more than one suite holds to: the model refuses each, and so must the schema."""

from __future__ import annotations

import json

from registrar.domain.registration import RegistrationPolicy

POLICY = RegistrationPolicy(
    allowed_groups=frozenset({"/customers"}),
    allowed_attributes=frozenset({"signupSource"}),
    allowed_required_actions=frozenset({"VERIFY_EMAIL"}),
)

# (body, error class, a fragment of the reason): every one is refused with that reason.
REFUSED_BODIES: list[tuple[str, str, str]] = [
    ("", "EmptyBody", "empty"),
    ("{not json", "NotJson", "not JSON"),
    ("[1, 2]", "NotAnObject", "JSON object"),
    ('{"email": "not-an-address"}', "SchemaError", "email"),
    ('{"email": "a@example.com", "emial": "typo"}', "SchemaError", "emial"),
    ('{"email": "a@example.com", "username": "two words"}', "SchemaError", "username"),
    ('{"email": "a@example.com", "username": "ab"}', "SchemaError", "username"),
    ('{"email": "a@example.com", "groups": ["/realm-admins"]}', "SchemaError", "/realm-admins"),
    ('{"email": "a@example.com", "attributes": {"isAdmin": ["1"]}}', "SchemaError", "isAdmin"),
    ('{"email": "a@example.com", "requiredActions": ["CONFIGURE_TOTP"]}', "SchemaError", "CONFIGURE_TOTP"),
    ('{"email": "a@example.com", "realmRoles": ["admin"]}', "SchemaError", "realmRoles"),
    (
        '{"email": "a@example.com", "clientRoles": {"realm-management": ["manage-users"]}}',
        "SchemaError",
        "clientRoles",
    ),
    ('{"email": "a@example.com", "id": "0000"}', "SchemaError", "id"),
    ('{"email": "a@example.com", "federatedIdentities": []}', "SchemaError", "federatedIdentities"),
    ('{"email": "a@example.com", "realm": "master"}', "SchemaError", "realm"),
    ('{"Type": "Notification", "Message": "{oops"}', "NotJson", "SNS Message"),
    ("[" * 100_000 + "]" * 100_000, "NotJson", "nested"),
]

# Refused unless the deployment allows passwords; never echoed either way.
PASSWORD_BODY = json.dumps({"email": "a@example.com", "password": "correct horse battery staple"})
CREDENTIALS_BODY = json.dumps(
    {"email": "a@example.com", "credentials": [{"type": "password", "value": "s3cret-value"}]}
)
