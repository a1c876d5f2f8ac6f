"""Where setup-keycloak puts the client secret: written only when it differs, readable only by its owner."""

from __future__ import annotations

import stat

import boto3

from registrar_ops.secret_sink import SecretFile, SecretsManagerSecret
from tests.kit.aws import REGION


def test_a_secrets_manager_secret_is_created_then_updated_and_its_arn_returned(aws):
    client = boto3.client("secretsmanager", region_name=REGION)
    sink = SecretsManagerSecret(client, "registrar/keycloak-client")
    assert not sink.holds("first")
    arn = sink.store("first")
    assert arn.startswith("arn:aws:secretsmanager:")
    assert sink.holds("first")
    assert sink.store("second") == arn
    assert client.get_secret_value(SecretId=arn)["SecretString"] == "second"


def test_a_secret_file_is_owner_only_even_when_it_existed_readable(tmp_path):
    path = tmp_path / "client-secret"
    path.write_text("old")
    path.chmod(0o644)
    sink = SecretFile(path)
    assert not sink.holds("old")  # readable by others: rewritten
    sink.store("new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sink.holds("new")
    assert [p.name for p in tmp_path.iterdir()] == ["client-secret"]
