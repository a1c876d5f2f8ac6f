"""The fixtures every suite may use (loaded as a plugin by tests/conftest.py)."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from keycloak import KeycloakAdmin
from moto import mock_aws

from registrar.config import Settings
from registrar.observability import logger
from registrar.runtime import Runtime, build_runtime
from registrar_local.elasticmq_server import ElasticMqServer
from registrar_local.fault_proxy import FaultProxy
from registrar_local.keycloak_server import (
    Database,
    KeycloakServer,
    default_database,
    function_environment,
    master_admin,
)
from tests.kit.aws import REGION, new_queue
from tests.kit.directory import MemoryDirectory
from tests.kit.logs import LogCapture
from tests.kit.runtime import memory_runtime

# --- AWS in-process --------------------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's AWS for the test, with credentials that can reach nothing else."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    parameters.clear_caches()
    with mock_aws():
        yield
    parameters.clear_caches()


@pytest.fixture
def sqs(aws: None) -> Any:
    return boto3.client("sqs", region_name=REGION)


@pytest.fixture
def dlq_url(sqs: Any) -> str:
    return new_queue(sqs)


# --- ElasticMQ, the local stack's SQS ------------------------------------------------------


@pytest.fixture(scope="module")
def elasticmq() -> Iterator[ElasticMqServer]:
    """A running ElasticMQ, shared by a module's tests: a JVM takes seconds to start."""
    started = ElasticMqServer().start()
    try:
        yield started
    finally:
        started.stop()


# --- the function with Keycloak in memory -------------------------------------------------


@pytest.fixture
def directory() -> MemoryDirectory:
    return MemoryDirectory()


@pytest.fixture
def runtime(directory: MemoryDirectory, sqs: Any, dlq_url: str) -> Runtime:
    return memory_runtime(directory, sqs, dlq_url)


@pytest.fixture
def function_logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    handler = logging.StreamHandler(capture.stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        yield capture
    finally:
        logger.removeHandler(handler)  # type: ignore[attr-defined]  # forwarded to the standard logger


# --- the real Keycloak, one for the whole session --------------------------------------------


@pytest.fixture(scope="session")
def keycloak_database(pytestconfig: pytest.Config) -> Database:
    """The database every Keycloak started by the tests runs on (--keycloak-database, KEYCLOAK_DATABASE)."""
    chosen: Database | None = pytestconfig.getoption("--keycloak-database")
    return chosen or default_database()


@pytest.fixture(scope="session")
def keycloak_url(keycloak_database: Database) -> Iterator[str]:
    """A running Keycloak with the project's realm: KEYCLOAK_TEST_URL if set, else one started here."""
    external = os.environ.get("KEYCLOAK_TEST_URL")
    if external:
        yield external.rstrip("/")
        return
    server = KeycloakServer(database=keycloak_database).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def admin(keycloak_url: str) -> KeycloakAdmin:
    """The master realm's admin, working on the project realm (never used by the function)."""
    return master_admin(keycloak_url)


@pytest.fixture
def tag() -> str:
    """A prefix that keeps each test's users and clients apart on the shared server."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_runtime(keycloak_url: str, dlq_url: str, sqs: Any) -> Callable[..., Runtime]:
    """A fresh runtime (a cold execution environment) against the real Keycloak; SQS is moto's.

    An override set to "" removes the variable (the function ignores empty values).
    """

    def make(**overrides: str) -> Runtime:
        environment = {**function_environment(keycloak_url, dlq_url), **overrides}
        return build_runtime(Settings.from_environment(environment), sqs_client=lambda: sqs)

    return make


@pytest.fixture
def proxy(keycloak_url: str) -> Iterator[FaultProxy]:
    """The fault proxy in front of the session's Keycloak: latency and errors on demand."""
    started = FaultProxy(keycloak_url).start()
    try:
        yield started
    finally:
        started.stop()
