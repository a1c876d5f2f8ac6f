"""The function's Keycloak identity: exactly the roles it needs, and a clear failure without them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from keycloak import KeycloakAdmin

from registrar.domain.deadline import Deadline
from registrar.processor import process_event
from registrar.runtime import Runtime
from registrar_local.keycloak_server import CLIENT_ID
from tests.kit.aws import dead_letters
from tests.kit.events import failures, registrations_event
from tests.kit.keycloak import REGISTRAR_ROLES, ServiceClient
from tests.kit.logs import LogCapture

pytestmark = pytest.mark.keycloak


def test_the_registrar_service_account_holds_exactly_the_user_management_roles(admin: KeycloakAdmin) -> None:
    account = admin.get_client_service_account_user(admin.get_client_id(CLIENT_ID))
    management = admin.get_client_id("realm-management")

    direct = {role["name"] for role in admin.get_client_roles_of_user(account["id"], management)}
    effective = {role["name"] for role in admin.get_composite_client_roles_of_user(account["id"], management)}

    assert direct == set(REGISTRAR_ROLES)
    assert effective == set(REGISTRAR_ROLES)  # view-users brings query-users and query-groups, nothing more
    assert "realm-admin" not in effective
    realm_roles = {role["name"] for role in admin.get_composite_realm_roles_of_user(account["id"])}
    assert realm_roles <= {"default-roles-registrar", "offline_access", "uma_authorization"}
    assert admin.get_user_groups(account["id"]) == []
    for client in admin.get_clients():
        if client["clientId"] not in {CLIENT_ID, "realm-management"}:
            assert admin.get_client_roles_of_user(account["id"], client["id"]) == [], client["clientId"]


def test_without_user_management_roles_every_record_is_retried_and_nothing_is_lost(
    service_client: Callable[[tuple[str, ...]], ServiceClient],
    make_runtime: Callable[..., Runtime],
    admin: KeycloakAdmin,
    tag: str,
    sqs: Any,
    dlq_url: str,
    function_logs: LogCapture,
) -> None:
    client = service_client(())
    runtime = make_runtime(KEYCLOAK_CLIENT_ID=client.client_id, KEYCLOAK_CLIENT_SECRET=client.secret)

    response = process_event(registrations_event(tag, 3, groups=["/customers"]), Deadline.after(30, 2000), runtime)

    assert sorted(failures(response)) == ["m-0", "m-1", "m-2"]
    assert dead_letters(sqs, dlq_url) == []
    assert admin.get_users({"search": tag}) == []
    handled = function_logs.named("registration handled")
    assert {(line["outcome"], line["http_status"]) for line in handled} == {("retryable", 403)}


def test_without_user_management_roles_a_warning_names_the_cause(
    service_client: Callable[[tuple[str, ...]], ServiceClient],
    make_runtime: Callable[..., Runtime],
    tag: str,
    function_logs: LogCapture,
) -> None:
    client = service_client(())
    runtime = make_runtime(KEYCLOAK_CLIENT_ID=client.client_id, KEYCLOAK_CLIENT_SECRET=client.secret)

    process_event(registrations_event(tag, 3, groups=["/customers"]), Deadline.after(30, 2000), runtime)

    refused = [line for line in function_logs.warnings() if "refused the function's service account" in line["message"]]
    assert [line["http_status"] for line in refused] == [[403]]
    assert "manage-users" in refused[0]["message"]


def test_a_client_with_the_same_roles_as_the_registrar_creates_users(
    service_client: Callable[[tuple[str, ...]], ServiceClient],
    make_runtime: Callable[..., Runtime],
    admin: KeycloakAdmin,
    tag: str,
) -> None:
    # The control for the test above: the same kind of client, with the roles, works.
    client = service_client(REGISTRAR_ROLES)
    runtime = make_runtime(KEYCLOAK_CLIENT_ID=client.client_id, KEYCLOAK_CLIENT_SECRET=client.secret)

    response = process_event(registrations_event(tag, 3, groups=["/customers"]), Deadline.after(30, 2000), runtime)

    assert failures(response) == []
    assert len(admin.get_users({"search": tag})) == 3
