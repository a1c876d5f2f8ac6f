"""No message can grant privilege: against the real Keycloak, every attempt is refused with a reason.

The registrar's service account holds manage-users, which is enough to put a new user in any
group (Keycloak honours `groups` on create), so the allowlists are the guard. Each attempt is
sent next to a good record, which proves the batch did reach Keycloak.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from keycloak import KeycloakAdmin

from registrar.domain.deadline import Deadline
from registrar.processor import process_event
from registrar.runtime import Runtime
from registrar_local.keycloak_server import CLIENT_ID, template_settings
from tests.kit.aws import dead_letters, letters_by_message
from tests.kit.events import eventbridge_body, failures, sns_body, sqs_event, synthetic_record

pytestmark = pytest.mark.keycloak


def in_envelope(envelope: Callable[[dict[str, Any]], str], **fields: Any) -> Callable[[str], str]:
    """The body, for a given email, of a registration asking for `fields`, in `envelope`."""
    return lambda email: envelope({"email": email, **fields})


def plain(**fields: Any) -> Callable[[str], str]:
    return in_envelope(json.dumps, **fields)


ATTEMPTS: dict[str, tuple[Callable[[str], str], str]] = {
    "realmRoles": (plain(realmRoles=["admin", "default-roles-registrar"]), "realmRoles"),
    "clientRoles": (plain(clientRoles={"realm-management": ["realm-admin", "manage-users"]}), "clientRoles"),
    "admin-group": (plain(groups=["/realm-admins"]), "groups not allowed: /realm-admins"),
    "admin-group-next-to-an-allowed-one": (plain(groups=["/customers", "/realm-admins"]), "/realm-admins"),
    "admin-group-other-case": (plain(groups=["/Realm-Admins"]), "groups not allowed"),
    "admin-group-trailing-slash": (plain(groups=["/realm-admins/"]), "groups not allowed"),
    "admin-group-by-traversal": (plain(groups=["/customers/../realm-admins"]), "groups not allowed"),
    "admin-group-look-alike": (plain(groups=["/re\u0430lm-admins"]), "groups not allowed"),
    "credentials": (plain(credentials=[{"type": "password", "value": "Privileged-123456"}]), "credentials"),
    "id": (plain(id="00000000-0000-0000-0000-000000000001"), "id"),
    "federatedIdentities": (
        plain(federatedIdentities=[{"identityProvider": "google", "userId": "1", "userName": "x"}]),
        "federatedIdentities",
    ),
    "realm": (plain(realm="master"), "realm"),
    "serviceAccountClientId": (plain(serviceAccountClientId=CLIENT_ID), "serviceAccountClientId"),
    "access": (plain(access={"manage": True, "impersonate": True}), "access"),
    "attribute-not-allowed": (plain(attributes={"isAdmin": ["true"]}), "attributes not allowed: isAdmin"),
    "registrationId-as-attribute": (plain(attributes={"registrationId": ["someone-else"]}), "registrationId"),
    "requiredAction-not-allowed": (plain(requiredActions=["CONFIGURE_TOTP"]), "requiredActions not allowed"),
    "requiredAction-delete-account": (plain(requiredActions=["delete_account"]), "requiredActions not allowed"),
    "password-not-allowed": (plain(password="Privileged-123456"), "passwords are not accepted"),
    "field-name-other-case": (plain(Groups=["/realm-admins"]), "Groups"),
    "sns-realmRoles": (in_envelope(sns_body, realmRoles=["admin"]), "realmRoles"),
    "sns-admin-group": (in_envelope(sns_body, groups=["/realm-admins"]), "/realm-admins"),
    "eventbridge-admin-group": (in_envelope(eventbridge_body, groups=["/realm-admins"]), "/realm-admins"),
    "eventbridge-clientRoles": (
        in_envelope(eventbridge_body, clientRoles={"realm-management": ["realm-admin"]}),
        "clientRoles",
    ),
}


def realm_management(admin: KeycloakAdmin) -> str:
    return str(admin.get_client_id("realm-management"))


def assert_no_privilege_was_granted(admin: KeycloakAdmin, tag: str) -> None:
    """No user this test made holds a realm-management role or sits in /realm-admins."""
    admins_group = admin.get_group_by_path("/realm-admins")
    members = admin.get_group_members(admins_group["id"], {"max": 10000})
    assert [member["username"] for member in members if tag in member["username"]] == []
    management = realm_management(admin)
    for role in admin.get_client_roles(management):
        holders = admin.get_client_role_members(management, role["name"])
        assert [holder["username"] for holder in holders if tag in holder["username"]] == [], role["name"]
    for user in admin.get_users({"search": tag, "briefRepresentation": False}):
        assert admin.get_composite_client_roles_of_user(user["id"], management) == [], user["username"]
        realm_roles = {role["name"] for role in admin.get_composite_realm_roles_of_user(user["id"])}
        assert realm_roles <= {"default-roles-registrar", "offline_access", "uma_authorization"}, realm_roles
        groups = {group["path"] for group in admin.get_user_groups(user["id"])}
        assert groups <= set(template_settings()["ALLOWED_GROUPS"].split(",")), groups


@pytest.mark.parametrize("attempt", list(ATTEMPTS))
def test_a_privileged_message_is_refused_with_its_reason_and_creates_nothing(
    attempt: str,
    make_runtime: Callable[..., Runtime],
    admin: KeycloakAdmin,
    tag: str,
    sqs: Any,
    dlq_url: str,
) -> None:
    make_body, expected_reason = ATTEMPTS[attempt]
    email = f"{tag}-attempt@example.com"
    good = f"{tag}-good@example.com"
    event = {
        "Records": [
            synthetic_record("attempt", make_body(email)),
            synthetic_record("good", json.dumps({"email": good, "groups": ["/customers"]})),
        ]
    }

    response = process_event(event, Deadline.after(30, 2000), make_runtime())

    assert failures(response) == []
    (letter,) = dead_letters(sqs, dlq_url)
    assert letter.original_message_id == "attempt"
    assert letter.attributes["outcome"] == "invalid"
    assert letter.attributes["errorClass"] == "SchemaError"
    assert expected_reason in letter.reason, letter.reason
    assert admin.get_users({"email": email, "exact": True}) == []
    master_users = admin.connection.raw_get("admin/realms/master/users", email=email, exact="true").json()
    assert master_users == []
    (created,) = admin.get_users({"email": good, "exact": True})
    assert [group["path"] for group in admin.get_user_groups(created["id"])] == ["/customers"]
    assert_no_privilege_was_granted(admin, tag)


def test_a_repeated_field_is_checked_as_it_is_sent(
    make_runtime: Callable[..., Runtime], admin: KeycloakAdmin, tag: str, sqs: Any, dlq_url: str
) -> None:
    # Duplicate keys: the value validated is the one Keycloak receives (the body is re-serialised).
    refused = f'{{"email": "{tag}-a@example.com", "groups": ["/customers"], "groups": ["/realm-admins"]}}'
    allowed = f'{{"email": "{tag}-b@example.com", "groups": ["/realm-admins"], "groups": ["/customers"]}}'
    event = {"Records": [synthetic_record("refused", refused), synthetic_record("allowed", allowed)]}

    response = process_event(event, Deadline.after(30, 2000), make_runtime())

    assert failures(response) == []
    (letter,) = dead_letters(sqs, dlq_url)
    assert letter.original_message_id == "refused"
    assert admin.get_users({"email": f"{tag}-a@example.com", "exact": True}) == []
    (user,) = admin.get_users({"email": f"{tag}-b@example.com", "exact": True})
    assert [group["path"] for group in admin.get_user_groups(user["id"])] == ["/customers"]
    assert_no_privilege_was_granted(admin, tag)


def test_a_message_cannot_take_over_the_service_account(
    make_runtime: Callable[..., Runtime], admin: KeycloakAdmin, tag: str, sqs: Any, dlq_url: str
) -> None:
    account = admin.get_client_service_account_user(admin.get_client_id(CLIENT_ID))
    attempts = [
        json.dumps({"email": f"{tag}@example.com", "id": account["id"]}),
        json.dumps({"email": f"{tag}@example.com", "username": account["username"]}),
    ]
    event = sqs_event(*attempts)

    response = process_event(event, Deadline.after(30, 2000), make_runtime())

    assert failures(response) == []
    letters = letters_by_message(sqs, dlq_url)
    assert set(letters) == {"m-0", "m-1"}
    assert "id" in letters["m-0"].reason
    assert letters["m-1"].attributes["outcome"] == "conflict"
    after = admin.get_user(account["id"])
    assert after.get("email") == account.get("email")
    assert after["username"] == account["username"]
    assert admin.get_users({"email": f"{tag}@example.com", "exact": True}) == []
