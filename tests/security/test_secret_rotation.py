"""A client secret rotated in Keycloak and in Secrets Manager is picked up with exactly one re-read.

The test rotates the secret of a client it creates for itself (same roles as the registrar's),
so the realm's own client, which other tests use, is never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters.secrets import SecretsProvider
from keycloak import KeycloakAdmin
from keycloak.connection import ConnectionManager

from registrar.domain.deadline import Deadline
from registrar.processor import process_event
from registrar.runtime import Runtime
from tests.kit.aws import REGION, dead_letters
from tests.kit.events import failures, registrations_event
from tests.kit.keycloak import REGISTRAR_ROLES, ServiceClient, client_events
from tests.kit.logs import LogCapture

pytestmark = pytest.mark.keycloak


class SecretReads:
    """Counts what the function asks of Secrets Manager."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reads = 0  # GetSecretValue calls that reached Secrets Manager
        self.forced = 0  # reads that bypassed the cache
        real_get = SecretsProvider._get
        real_get_value = SecretsProvider.get

        def counting_get(provider: SecretsProvider, name: str, **options: Any) -> Any:
            self.reads += 1
            return real_get(provider, name, **options)

        def counting_get_value(provider: SecretsProvider, name: str, *args: Any, **options: Any) -> Any:
            if options.get("force_fetch"):
                self.forced += 1
            return real_get_value(provider, name, *args, **options)

        monkeypatch.setattr(SecretsProvider, "_get", counting_get)
        monkeypatch.setattr(SecretsProvider, "get", counting_get_value)


def token_connection(runtime: Runtime) -> Any:
    """The python-keycloak connection whose token the runtime shares between its workers."""
    pending: list[Any] = [runtime.registrar]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        if isinstance(item, ConnectionManager) and hasattr(item, "ensure_token"):
            return item
        if id(item) in seen or not hasattr(item, "__dict__"):
            continue
        seen.add(id(item))
        pending.extend(vars(item).values())
    raise AssertionError("no Keycloak connection in the runtime")


def expire_token(runtime: Runtime) -> None:
    connection = token_connection(runtime)
    assert connection.token is not None
    connection.expires_at = datetime.now(tz=UTC)  # the adapter's expiry bookkeeping: due now


def test_a_rotated_client_secret_is_read_again_exactly_once(
    service_client: Callable[[tuple[str, ...]], ServiceClient],
    make_runtime: Callable[..., Runtime],
    admin: KeycloakAdmin,
    tag: str,
    sqs: Any,
    dlq_url: str,
    monkeypatch: pytest.MonkeyPatch,
    function_logs: LogCapture,
) -> None:
    client = service_client(REGISTRAR_ROLES)
    secrets_manager = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets_manager.create_secret(Name=f"{tag}/keycloak-client-secret", SecretString=client.secret)["ARN"]
    counter = SecretReads(monkeypatch)

    def logins() -> tuple[int, int]:
        return (
            client_events(admin, client.client_id, "CLIENT_LOGIN"),
            client_events(admin, client.client_id, "CLIENT_LOGIN_ERROR"),
        )

    runtime = make_runtime(
        KEYCLOAK_CLIENT_ID=client.client_id, KEYCLOAK_CLIENT_SECRET="", KEYCLOAK_CLIENT_SECRET_ARN=arn
    )
    before = registrations_event(f"{tag}-before", 3, prefix="before")
    assert failures(process_event(before, Deadline.after(30, 2000), runtime)) == []
    assert (counter.reads, counter.forced) == (1, 0)
    assert logins() == (1, 0)

    # Rotated in Keycloak, not yet in Secrets Manager: the batch waits, after one re-read only.
    rotated = admin.generate_client_secrets(client.id)["value"]
    assert rotated != client.secret
    expire_token(runtime)
    between = registrations_event(f"{tag}-between", 3, prefix="between")
    response = process_event(between, Deadline.after(30, 2000), runtime)
    assert sorted(failures(response)) == ["between-0", "between-1", "between-2"]
    assert (counter.reads, counter.forced) == (2, 1)
    assert logins() == (1, 2)  # the cached secret, then the re-read one (still the old value)

    # Secrets Manager catches up: the next batch succeeds after exactly one more re-read.
    secrets_manager.put_secret_value(SecretId=arn, SecretString=rotated)
    after = registrations_event(f"{tag}-after", 3, prefix="after")
    response = process_event(after, Deadline.after(30, 2000), runtime)
    assert failures(response) == []
    assert (counter.reads, counter.forced) == (3, 2)
    assert logins() == (2, 3)
    assert len(admin.get_users({"search": f"{tag}-after"})) == 3

    # And the new secret stays in use: a later expiry costs a token request, no read.
    expire_token(runtime)
    later = registrations_event(f"{tag}-later", 3, prefix="later")
    assert failures(process_event(later, Deadline.after(30, 2000), runtime)) == []
    assert (counter.reads, counter.forced) == (3, 2)
    assert logins() == (3, 3)

    assert dead_letters(sqs, dlq_url) == []
    assert client.secret not in function_logs.text()
    assert rotated not in function_logs.text()
