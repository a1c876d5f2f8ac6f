"""KEYCLOAK_CA_BUNDLE: a shipped file or a Secrets Manager secret becomes the path requests verifies with."""

from __future__ import annotations

import stat
from pathlib import Path

import boto3
import pytest

from registrar.adapters.ca_bundle import tls_verify
from registrar.config import ConfigurationError, Settings
from tests.kit.aws import REGION
from tests.kit.tls import write_private_ca

BASE = {
    "KEYCLOAK_URL": "https://keycloak.example.com",
    "KEYCLOAK_REALM": "customers",
    "KEYCLOAK_CLIENT_ID": "registrar",
    "KEYCLOAK_CLIENT_SECRET": "s",
}
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:keycloak-ca-AbCdEf"


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_private_ca(tmp_path_factory.mktemp("ca")).ca_bundle


def test_the_bundle_is_a_path_or_a_secret_arn():
    assert Settings.from_environment({**BASE, "KEYCLOAK_CA_BUNDLE": "certs/ca.pem"}).ca_bundle == "certs/ca.pem"
    assert Settings.from_environment({**BASE, "KEYCLOAK_CA_BUNDLE": SECRET_ARN}).ca_bundle == SECRET_ARN
    assert Settings.from_environment(BASE).ca_bundle is None


@pytest.mark.parametrize(
    "extra",
    [
        {"KEYCLOAK_CA_BUNDLE": "arn:aws:ssm:eu-west-1:123456789012:parameter/ca"},
        {"KEYCLOAK_CA_BUNDLE": "ca.pem", "KEYCLOAK_VERIFY_TLS": "false", "REGISTRAR_ENVIRONMENT": "development"},
    ],
)
def test_a_bundle_that_cannot_be_meant_is_refused(extra):
    with pytest.raises(ConfigurationError, match="KEYCLOAK_CA_BUNDLE"):
        Settings.from_environment({**BASE, **extra})


def test_without_a_bundle_the_public_cas_verify_and_development_may_turn_it_off():
    assert tls_verify(verify_tls=True, ca_bundle=None) is True
    assert tls_verify(verify_tls=False, ca_bundle=None) is False


def test_a_shipped_bundle_is_found_under_the_function_root(ca_pem):
    assert tls_verify(verify_tls=True, ca_bundle=ca_pem.name, task_root=str(ca_pem.parent)) == str(ca_pem)
    assert tls_verify(verify_tls=True, ca_bundle=str(ca_pem)) == str(ca_pem)


def test_a_missing_or_broken_bundle_is_a_cold_start_error(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read"):
        tls_verify(verify_tls=True, ca_bundle="absent.pem", task_root=str(tmp_path))
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="no PEM certificate"):
        tls_verify(verify_tls=True, ca_bundle=str(not_pem))
    damaged = tmp_path / "damaged.pem"
    damaged.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigurationError, match="not a valid PEM bundle"):
        tls_verify(verify_tls=True, ca_bundle=str(damaged))


def test_a_bundle_in_secrets_manager_is_written_once_to_a_private_file(aws, ca_pem, tag):
    pem = ca_pem.read_text()
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(Name=f"{tag}/ca", SecretString=pem)["ARN"]

    path = tls_verify(verify_tls=True, ca_bundle=arn)

    assert isinstance(path, str)
    assert Path(path).read_text() == pem
    assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
    assert tls_verify(verify_tls=True, ca_bundle=arn) == path  # the same file for the environment's next build


def test_a_secret_without_a_certificate_is_a_cold_start_error(aws, tag):
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(Name=f"{tag}/ca", SecretString="x")["ARN"]
    with pytest.raises(ConfigurationError, match="the secret holds no PEM certificate"):
        tls_verify(verify_tls=True, ca_bundle=arn)
