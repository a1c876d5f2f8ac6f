"""What setup-keycloak changes in a realm: the function's client, its roles, the user profile, groups.

The current state is read first and turned into a plan of steps; `--dry-run` prints the plan,
otherwise each step is applied. A realm already set up gives an empty plan, so a second run
changes nothing. Each step looks its ids up again when applied: a step may need what an
earlier one created (the service account exists only once its client does).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakGetError

REALM_MANAGEMENT = "realm-management"
REQUIRED_ROLES = frozenset({"manage-users", "view-users", "query-users", "query-groups"})
"""The function creates and looks up users and reads groups: these and no more."""
HTTP_NOT_FOUND = 404

# A confidential client that can only do the client-credentials grant.
CLIENT_SETTINGS: dict[str, Any] = {
    "enabled": True,
    "protocol": "openid-connect",
    "publicClient": False,
    "clientAuthenticatorType": "client-secret",
    "serviceAccountsEnabled": True,
    "standardFlowEnabled": False,
    "directAccessGrantsEnabled": False,
    "implicitFlowEnabled": False,
}
ADMIN_ONLY = {"view": ["admin"], "edit": ["admin"]}


@dataclass(frozen=True)
class Step:
    description: str
    apply: Callable[[], None]


@dataclass(frozen=True)
class SetupRequest:
    client_id: str
    registration_id_attribute: str
    groups: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    """ALLOWED_ATTRIBUTES: declared when missing (Keycloak drops undeclared ones); others left as they are."""


def plan_setup(admin: KeycloakAdmin, request: SetupRequest) -> list[Step]:
    profile = admin.get_realm_users_profile()
    attributes = [name for name in request.attributes if name != request.registration_id_attribute]
    return [
        *_client_steps(admin, request.client_id),
        *_role_steps(admin, request.client_id),
        *_profile_steps(admin, profile, request.registration_id_attribute),
        *_attribute_steps(admin, profile, attributes),
        *_group_steps(admin, request.groups),
    ]


def client_secret(admin: KeycloakAdmin, client_id: str) -> str | None:
    internal_id = admin.get_client_id(client_id)
    if internal_id is None:
        return None
    return str(admin.get_client_secrets(internal_id)["value"])


# --- the client -------------------------------------------------------------------------------


def _client_steps(admin: KeycloakAdmin, client_id: str) -> list[Step]:
    internal_id = admin.get_client_id(client_id)
    if internal_id is None:
        payload = {"clientId": client_id, "name": "sqs-keycloak-registrar service account", **CLIENT_SETTINGS}
        return [
            Step(
                f"create confidential client {client_id} with a service account",
                lambda: _ignore(admin.create_client(payload)),
            )
        ]
    current = admin.get_client(internal_id)
    differences = {name: value for name, value in CLIENT_SETTINGS.items() if current.get(name) != value}
    if not differences:
        return []
    listed = ", ".join(f"{name}={value}" for name, value in sorted(differences.items()))
    return [
        Step(
            f"update client {client_id}: {listed}",
            lambda: _ignore(admin.update_client(internal_id, {**current, **differences})),
        )
    ]


# --- the service account's roles ---------------------------------------------------------------


def _role_steps(admin: KeycloakAdmin, client_id: str) -> list[Step]:
    internal_id = admin.get_client_id(client_id)
    held: set[str] = set()
    if internal_id is not None and admin.get_client(internal_id).get("serviceAccountsEnabled"):
        held = {role["name"] for role in _direct_roles(admin, internal_id)}
    missing = sorted(REQUIRED_ROLES - held)
    extra = sorted(held - REQUIRED_ROLES)
    steps = []
    if missing:
        steps.append(
            Step(
                f"grant the service account {REALM_MANAGEMENT} roles {', '.join(missing)}",
                lambda: _change_roles(admin, client_id, missing, grant=True),
            )
        )
    if extra:
        steps.append(
            Step(
                f"remove {REALM_MANAGEMENT} roles {', '.join(extra)} from the service account (not needed)",
                lambda: _change_roles(admin, client_id, extra, grant=False),
            )
        )
    return steps


def _direct_roles(admin: KeycloakAdmin, internal_id: str) -> list[dict[str, Any]]:
    user_id = admin.get_client_service_account_user(internal_id)["id"]
    management_id = _management_client(admin)
    return list(admin.get_client_roles_of_user(user_id, management_id))


def _change_roles(admin: KeycloakAdmin, client_id: str, names: list[str], *, grant: bool) -> None:
    internal_id = admin.get_client_id(client_id)
    if internal_id is None:
        raise RuntimeError(f"client {client_id} disappeared while being set up")
    user_id = admin.get_client_service_account_user(internal_id)["id"]
    management_id = _management_client(admin)
    roles = [admin.get_client_role(management_id, name) for name in names]
    if grant:
        admin.assign_client_role(user_id, management_id, roles)
    else:
        admin.delete_client_roles_of_user(user_id, management_id, roles)


def _management_client(admin: KeycloakAdmin) -> str:
    management_id = admin.get_client_id(REALM_MANAGEMENT)
    if management_id is None:
        raise RuntimeError(f"the realm has no {REALM_MANAGEMENT} client")
    return management_id


# --- the user profile ----------------------------------------------------------------------------


def declared_attribute(profile: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((item for item in profile.get("attributes", []) if item.get("name") == name), None)


def admin_only(attribute: dict[str, Any]) -> bool:
    permissions = attribute.get("permissions") or {}
    return all(set(permissions.get(kind) or []) == {"admin"} for kind in ("view", "edit"))


def _profile_steps(admin: KeycloakAdmin, profile: dict[str, Any], attribute: str) -> list[Step]:
    declared = declared_attribute(profile, attribute)
    if declared is not None and admin_only(declared):
        return []
    verb = "declare" if declared is None else "make admin-only"
    return [
        Step(
            f"{verb} user-profile attribute {attribute} (admins view and edit; users never see it)",
            functools.partial(_declare, admin, {attribute: "Registration id"}),
        )
    ]


def _attribute_steps(admin: KeycloakAdmin, profile: dict[str, Any], names: Iterable[str]) -> list[Step]:
    """The missing ones declared admin-only in one change; declared ones are left as they are."""
    missing = [name for name in names if declared_attribute(profile, name) is None]
    if not missing:
        return []
    plural = "s" if len(missing) > 1 else ""
    return [
        Step(
            f"declare user-profile attribute{plural} {', '.join(missing)} (admins view and edit)",
            functools.partial(_declare, admin, {name: name for name in missing}),
        )
    ]


def _declare(admin: KeycloakAdmin, display_names: dict[str, str]) -> None:
    """Each name declared admin-only (an existing declaration made so), in one update."""
    # Read again: the profile is replaced whole, and must keep whatever else it declares.
    profile = admin.get_realm_users_profile()
    for name, display_name in display_names.items():
        declared = declared_attribute(profile, name)
        if declared is None:
            profile.setdefault("attributes", []).append(
                {
                    "name": name,
                    "displayName": display_name,
                    "validations": {"length": {"max": 255}},
                    "permissions": ADMIN_ONLY,
                    "multivalued": False,
                }
            )
        else:
            declared["permissions"] = ADMIN_ONLY
    admin.update_realm_users_profile(profile)


# --- groups ------------------------------------------------------------------------------------


def group_exists(admin: KeycloakAdmin, path: str) -> bool:
    try:
        admin.get_group_by_path(path)
    except KeycloakGetError as error:
        if error.response_code == HTTP_NOT_FOUND:
            return False
        raise
    return True


def _group_steps(admin: KeycloakAdmin, paths: Iterable[str]) -> list[Step]:
    missing = [path for path in paths if not group_exists(admin, path)]
    return [Step(f"create group {path}", lambda path=path: _create_group(admin, path)) for path in missing]  # type: ignore[misc]


def _create_group(admin: KeycloakAdmin, path: str) -> None:
    parent: str | None = None
    prefix = ""
    for name in [part for part in path.split("/") if part]:
        prefix += "/" + name
        if group_exists(admin, prefix):
            parent = str(admin.get_group_by_path(prefix)["id"])
        else:
            parent = str(admin.create_group({"name": name}, parent=parent))


def _ignore(_result: object) -> None:
    """Steps return nothing; the library's answers are not needed once a call succeeded."""
