"""Clients and events of the real Keycloak, for the tests that provision their own service accounts."""

from __future__ import annotations

from dataclasses import dataclass

from keycloak import KeycloakAdmin


@dataclass(frozen=True)
class ServiceClient:
    """A confidential client of the project realm with a service account."""

    id: str
    client_id: str
    secret: str
    service_account_id: str


REGISTRAR_ROLES = ("manage-users", "view-users", "query-users", "query-groups")


def client_events(admin: KeycloakAdmin, client_id: str, event_type: str) -> int:
    """How many events of `event_type` Keycloak recorded for `client_id` (the realm stores them)."""
    events = admin.connection.raw_get(
        f"admin/realms/{admin.connection.realm_name}/events", type=event_type, client=client_id, max=10000
    ).json()
    return len(events)


def delete_users(admin: KeycloakAdmin, username: str, email: str) -> None:
    """Deletes whoever holds `username` or `email` in the realm, so that a test sees who makes them again."""
    found = admin.get_users({"username": username, "exact": True}) + admin.get_users({"email": email, "exact": True})
    for user_id in {user["id"] for user in found}:
        admin.delete_user(user_id)
