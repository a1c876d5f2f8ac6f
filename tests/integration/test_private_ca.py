"""Keycloak behind a private CA: a second, HTTPS-only-for-the-function Keycloak with a CA made here.

Without KEYCLOAK_CA_BUNDLE the function cannot trust the server: every record comes back, and
the warning names the TLS failure. With the bundle, as a file or as a Secrets Manager secret,
the users are created.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from keycloak import KeycloakAdmin

from registrar.config import Settings
from registrar.domain.deadline import Deadline
from registrar.processor import process_event
from registrar.runtime import Runtime, build_runtime
from registrar_local.keycloak_server import Database, KeycloakServer, function_environment, master_admin
from tests.kit.aws import REGION
from tests.kit.events import body, failures, sqs_event
from tests.kit.logs import LogCapture
from tests.kit.tls import write_private_ca

pytestmark = pytest.mark.keycloak


@dataclass(frozen=True)
class PrivateCaKeycloak:
    https_url: str
    ca_bundle: Path
    admin: KeycloakAdmin
    """The master admin over plain HTTP on loopback: the test's own view, not the function's."""


@pytest.fixture(scope="module")
def private_ca_keycloak(
    tmp_path_factory: pytest.TempPathFactory, keycloak_database: Database
) -> Iterator[PrivateCaKeycloak]:
    ca = write_private_ca(tmp_path_factory.mktemp("private-ca"))
    # On the session's database, as every server here: this one lives for this module only.
    server = KeycloakServer(https_certificate=(ca.certificate, ca.key), database=keycloak_database)
    try:
        server.start()
        yield PrivateCaKeycloak(https_url=server.https_url, ca_bundle=ca.ca_bundle, admin=master_admin(server.url))
    finally:
        server.stop()


def runtime_for(keycloak: PrivateCaKeycloak, sqs: Any, dlq_url: str, **overrides: str) -> Runtime:
    environment = {**function_environment(keycloak.https_url, dlq_url), **overrides}
    return build_runtime(Settings.from_environment(environment), sqs_client=lambda: sqs)


def registrations(tag: str) -> dict[str, Any]:
    return sqs_event(*(body(email=f"{tag}-{i}@example.com") for i in range(3)))


def emails(admin: KeycloakAdmin, tag: str) -> list[str]:
    return sorted(user["email"] for user in admin.get_users({"search": tag}))


def test_without_the_ca_bundle_every_record_comes_back_and_the_warning_names_tls(
    private_ca_keycloak, tag, sqs, dlq_url, function_logs: LogCapture
):
    runtime = runtime_for(private_ca_keycloak, sqs, dlq_url)
    event = registrations(tag)

    response = process_event(event, Deadline.after(30, 2000), runtime)

    assert sorted(failures(response)) == sorted(record["messageId"] for record in event["Records"])
    outcomes = [line for line in function_logs.lines() if line.get("message") == "registration handled"]
    assert {line["outcome"] for line in outcomes} == {"retryable"}
    assert all("TLS failed" in line["reason"] for line in outcomes)
    (warning,) = [line for line in function_logs.warnings() if "TLS" in line["message"]]
    assert "KEYCLOAK_CA_BUNDLE" in warning["message"]
    assert "certificate verify failed" in warning["reason"]
    assert emails(private_ca_keycloak.admin, tag) == []


def test_with_the_ca_bundle_as_a_file_users_are_created(private_ca_keycloak, tag, sqs, dlq_url, function_logs):
    runtime = runtime_for(private_ca_keycloak, sqs, dlq_url, KEYCLOAK_CA_BUNDLE=str(private_ca_keycloak.ca_bundle))

    response = process_event(registrations(tag), Deadline.after(30, 2000), runtime)

    assert failures(response) == []
    assert emails(private_ca_keycloak.admin, tag) == [f"{tag}-{i}@example.com" for i in range(3)]
    assert not [line for line in function_logs.warnings() if "TLS" in line["message"]]


def test_with_the_ca_bundle_in_secrets_manager_users_are_created(private_ca_keycloak, tag, sqs, dlq_url):
    secrets = boto3.client("secretsmanager", region_name=REGION)
    pem = private_ca_keycloak.ca_bundle.read_text()
    arn = secrets.create_secret(Name=f"{tag}/keycloak-ca", SecretString=pem)["ARN"]
    runtime = runtime_for(private_ca_keycloak, sqs, dlq_url, KEYCLOAK_CA_BUNDLE=arn)

    response = process_event(registrations(tag), Deadline.after(30, 2000), runtime)

    assert failures(response) == []
    assert emails(private_ca_keycloak.admin, tag) == [f"{tag}-{i}@example.com" for i in range(3)]
