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
