from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from keycloak import KeycloakAdmin
from moto import mock_aws

from registrar.config import Settings
from registrar.runtime import Runtime, build_runtime
from registrar_local.keycloak_server import function_environment, master_admin


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


@pytest.fixture
def sqs() -> Any:
    return boto3.client("sqs", region_name="eu-west-1")


@pytest.fixture
def dlq_url(sqs: Any) -> str:
    return str(sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"])


@pytest.fixture
def make_runtime(keycloak_url: str, dlq_url: str):
    """A fresh runtime (a cold execution environment) against the real Keycloak."""

    def make(**overrides: str) -> Runtime:
        environment = {**function_environment(keycloak_url, dlq_url), **overrides}
        return build_runtime(Settings.from_environment(environment))

    return make


@pytest.fixture(scope="session")
def admin(keycloak_url: str) -> KeycloakAdmin:
    return master_admin(keycloak_url)


@pytest.fixture
def tag() -> str:
    """A prefix that keeps each test's users apart on the shared server."""
    return f"t{uuid.uuid4().hex[:8]}"
