"""Fixtures for the security tests.

AWS is moto, in-process, for every test here (SQS for the DLQ, Secrets Manager for the client
secret). Tests marked `keycloak` run against the real server of the session.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator

import pytest
from keycloak import KeycloakAdmin

from tests.kit.keycloak import ServiceClient


@pytest.fixture(autouse=True)
def _aws(aws: None) -> None:
    """Every security test runs with moto's AWS: the secrets and the DLQ are in-process."""


# --- everything the function lets out --------------------------------------------------------


@pytest.fixture
def library_logs() -> Iterator[io.StringIO]:
    """Every record any library logs (root logger, DEBUG and up) during the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def service_client(admin: KeycloakAdmin, tag: str) -> Iterator[Callable[[tuple[str, ...]], ServiceClient]]:
    """Creates clients like the registrar's, holding the given realm-management roles; deleted after the test."""
    created: list[str] = []

    def create(roles: tuple[str, ...]) -> ServiceClient:
        client_id = f"{tag}-client-{len(created)}"
        internal_id = admin.create_client(
            {
                "clientId": client_id,
                "enabled": True,
                "publicClient": False,
                "clientAuthenticatorType": "client-secret",
                "serviceAccountsEnabled": True,
                "standardFlowEnabled": False,
                "directAccessGrantsEnabled": False,
            }
        )
        created.append(internal_id)
        account = admin.get_client_service_account_user(internal_id)
        if roles:
            realm_management = admin.get_client_id("realm-management")
            admin.assign_client_role(
                account["id"], realm_management, [admin.get_client_role(realm_management, name) for name in roles]
            )
        secret = admin.get_client_secrets(internal_id)["value"]
        return ServiceClient(internal_id, client_id, secret, account["id"])

    yield create
    for internal_id in created:
        admin.delete_client(internal_id)
