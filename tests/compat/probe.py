"""What one Keycloak version does with the requests the function sends, in a few words per behaviour.

The probes use the local admin on the project realm and clean up after themselves. They record
facts for the compatibility table; the suites decide pass or fail.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from keycloak import KeycloakAdmin, KeycloakOpenIDConnection

from registrar_local.keycloak_server import CLIENT_ID, CLIENT_SECRET, REALM

UNDECLARED = "undeclaredProbe"
# The user profile's unmanagedAttributePolicy values (none means unmanaged attributes are off).
UNMANAGED_POLICIES = (None, "ADMIN_VIEW", "ADMIN_EDIT", "ENABLED")


def _users(admin: KeycloakAdmin) -> str:
    return f"admin/realms/{REALM}/users"


def _create(admin: KeycloakAdmin, user: dict[str, Any]) -> tuple[int, str]:
    response = admin.connection.raw_post(_users(admin), data=json.dumps(user))
    return response.status_code, _error_text(response.text)


def _error_text(body: str) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        return body.strip()[:80]
    if isinstance(document, dict):
        return str(document.get("errorMessage") or document.get("error") or document)[:80]
    return str(document)[:80]


def _find(admin: KeycloakAdmin, username: str) -> dict[str, Any] | None:
    found = admin.connection.raw_get(_users(admin), username=username, exact="true", briefRepresentation="false")
    users = found.json() if found.status_code == 200 else []
    return users[0] if users else None


def _cleanup(admin: KeycloakAdmin, tag: str) -> None:
    for user in admin.get_users({"search": tag}):
        admin.delete_user(user["id"])


def undeclared_attribute(admin: KeycloakAdmin, tag: str, policy: str | None) -> str:
    """Is an attribute the user profile does not declare kept on create, under `policy`?"""
    profile_path = f"admin/realms/{REALM}/users/profile"
    original = admin.connection.raw_get(profile_path)
    if original.status_code != 200:
        return f"user profile API answered {original.status_code}"
    config = original.json()
    changed = {key: value for key, value in config.items() if key != "unmanagedAttributePolicy"}
    if policy is not None:
        changed["unmanagedAttributePolicy"] = policy
    admin.connection.raw_put(profile_path, data=json.dumps(changed))
    try:
        username = f"{tag}-attr-{(policy or 'none').lower()}"
        status, text = _create(
            admin,
            {
                "username": username,
                "email": f"{username}@example.com",
                "enabled": True,
                "attributes": {UNDECLARED: ["x"], "registrationId": ["r"]},
            },
        )
        if status != 201:
            return f"create answered {status} ({text})"
        attributes = (_find(admin, username) or {}).get("attributes", {})
        kept = "kept" if UNDECLARED in attributes else "dropped silently"
        declared = "declared kept" if attributes.get("registrationId") == ["r"] else "declared lost"
        return f"{kept}; {declared}"
    finally:
        admin.connection.raw_put(profile_path, data=json.dumps(config))


def conflicts(admin: KeycloakAdmin, tag: str) -> dict[str, str]:
    """The 409 each kind of clash gets, with Keycloak's message."""
    first = {"username": f"{tag}-taken", "email": f"{tag}-taken@example.com", "enabled": True}
    _create(admin, first)
    clashes = {
        "same username": {**first, "email": f"{tag}-other@example.com"},
        "same email": {**first, "username": f"{tag}-other"},
        "same both": first,
    }
    return {name: "{} {}".format(*_create(admin, user)) for name, user in clashes.items()}


def unknown_group(admin: KeycloakAdmin, tag: str) -> str:
    status, text = _create(
        admin,
        {"username": f"{tag}-group", "email": f"{tag}-group@example.com", "groups": ["/no-such-group-" + tag]},
    )
    return f"{status} {text}".strip()


def invalid_username(admin: KeycloakAdmin, tag: str) -> str:
    status, text = _create(admin, {"username": f"{tag}/slash", "email": f"{tag}-slash@example.com"})
    return f"{status} {text}".strip()


def lowercased(admin: KeycloakAdmin, tag: str) -> str:
    username = f"{tag}-MiXeD"
    _create(admin, {"username": username, "email": f"{tag}-MiXeD@Example.com", "enabled": True})
    user = _find(admin, username.lower()) or {}
    return f"username {user.get('username')!r}, email {user.get('email')!r}".replace(tag, "<tag>")


def registrar_can_read(keycloak_url: str) -> dict[str, str]:
    """What the function's own client (its four roles) may read at a cold start to check the realm."""
    connection = KeycloakOpenIDConnection(
        server_url=keycloak_url,
        realm_name=REALM,
        client_id=CLIENT_ID,
        client_secret_key=CLIENT_SECRET,
        grant_type="client_credentials",
    )
    connection.get_token()
    answers: dict[str, str] = {}
    for name, path in (
        ("user profile", f"admin/realms/{REALM}/users/profile"),
        ("realm", f"admin/realms/{REALM}"),
        ("server info", "admin/serverinfo"),
    ):
        response = connection.raw_get(path)
        answers[name] = str(response.status_code)
        if name == "user profile" and response.status_code == 200:
            declared = {attribute.get("name") for attribute in response.json().get("attributes", [])}
            answers[name] += ", registrationId declared" if "registrationId" in declared else ", not declared"
    return answers


def probe(admin: KeycloakAdmin, keycloak_url: str) -> dict[str, Any]:
    """Every probe, each isolated: one that fails records its error and the others still run."""
    tag = f"probe{uuid.uuid4().hex[:8]}"
    probes: dict[str, Callable[[], Any]] = {
        "undeclared attribute": lambda: {
            policy or "no policy": undeclared_attribute(admin, tag, policy) for policy in UNMANAGED_POLICIES
        },
        "409": lambda: conflicts(admin, tag),
        "unknown group": lambda: unknown_group(admin, tag),
        "invalid username": lambda: invalid_username(admin, tag),
        "lowercased": lambda: lowercased(admin, tag),
        "registrar client may GET": lambda: registrar_can_read(keycloak_url),
    }
    found: dict[str, Any] = {}
    try:
        for name, run in probes.items():
            try:
                found[name] = run()
            except Exception as error:  # noqa: BLE001 - a probe's failure is itself a finding
                found[name] = f"probe failed: {type(error).__name__}: {error}"[:200]
    finally:
        _cleanup(admin, tag)
    return found
