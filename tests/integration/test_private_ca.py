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
from registrar_local.keycloak_server import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    Database,
    KeycloakServer,
    function_environment,
    master_admin,
)
from registrar_ops.cli import main as ops_main
from registrar_ops.keycloak_admin import PASSWORD_VARIABLE, TOKEN_VARIABLE
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


def test_the_operator_commands_reach_it_through_the_ca_bundle(
    private_ca_keycloak, tag, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """setup-keycloak with --ca-bundle, and check --admin-user with the function's KEYCLOAK_CA_BUNDLE."""
    private_ca_keycloak.admin.create_realm({"realm": tag, "enabled": True})
    try:
        monkeypatch.setenv(PASSWORD_VARIABLE, ADMIN_PASSWORD)
        monkeypatch.delenv(TOKEN_VARIABLE, raising=False)
        secret_file = tmp_path / "client-secret"
        setup = ["setup-keycloak", "--server-url", private_ca_keycloak.https_url, "--realm", tag]
        setup += ["--admin-user", ADMIN_USERNAME, "--secret-file", str(secret_file)]

        assert ops_main(setup) == 2
        refused = capsys.readouterr().out
        assert "certificate verify failed" in refused
        assert "--ca-bundle" in refused
        assert not secret_file.exists()

        assert ops_main([*setup, "--ca-bundle", str(private_ca_keycloak.ca_bundle)]) == 0
        assert "create confidential client registrar" in capsys.readouterr().out

        function_settings = {
            "KEYCLOAK_URL": private_ca_keycloak.https_url,
            "KEYCLOAK_REALM": tag,
            "KEYCLOAK_CLIENT_ID": "registrar",
            "KEYCLOAK_CLIENT_SECRET": secret_file.read_text(),
            "KEYCLOAK_CA_BUNDLE": str(private_ca_keycloak.ca_bundle),
            "ALLOWED_REQUIRED_ACTIONS": "VERIFY_EMAIL",
        }
        for name, value in function_settings.items():
            monkeypatch.setenv(name, value)
        assert ops_main(["check", "--admin-user", ADMIN_USERNAME]) == 0
        checked = capsys.readouterr().out
        # With --admin-user the administrator reads the required actions: this line shows its connection
        # trusted the CA.
        assert "required action VERIFY_EMAIL exists and is enabled" in checked
        assert "ERROR" not in checked
    finally:
        private_ca_keycloak.admin.delete_realm(tag)
