"""Shared fixtures: one real Keycloak for the whole test session."""

from __future__ import annotations

import io
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from keycloak import KeycloakAdmin

from registrar.config import Settings
from registrar.observability import logger
from registrar.runtime import Runtime, build_runtime
from registrar_local.keycloak_server import KeycloakServer, function_environment, master_admin


@pytest.fixture(scope="session")
def keycloak_url() -> Iterator[str]:
    """A running Keycloak with the project's realm: KEYCLOAK_TEST_URL if set, else one started here."""
    external = os.environ.get("KEYCLOAK_TEST_URL")
    if external:
        yield external.rstrip("/")
        return
    server = KeycloakServer().start()
    try:
        yield server.url
    finally:
        server.stop()


class LogCapture:
    """Every line the function's logger writes during a test, parsed from its JSON."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def text(self) -> str:
        return self.stream.getvalue()

    def outcomes(self) -> list[str]:
        return [line["outcome"] for line in self.lines() if line.get("message") == "registration handled"]


@pytest.fixture
def function_logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    handler = logging.StreamHandler(capture.stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        yield capture
    finally:
        logger.removeHandler(handler)


# --- the real Keycloak, shared by the suites that use it ---------------------------------


@pytest.fixture(scope="session")
def admin(keycloak_url: str) -> KeycloakAdmin:
    """The master realm's admin, working on the project realm (never used by the function)."""
    return master_admin(keycloak_url)


@pytest.fixture
def tag() -> str:
    """A prefix that keeps each test's users and clients apart on the shared server."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_runtime(keycloak_url: str, dlq_url: str) -> Callable[..., Runtime]:
    """A fresh runtime (a cold execution environment) against the real Keycloak.

    `dlq_url` comes from the suite's own conftest. An override set to "" removes the variable
    (the function ignores empty values).
    """

    def make(**overrides: str) -> Runtime:
        environment = {**function_environment(keycloak_url, dlq_url), **overrides}
        return build_runtime(Settings.from_environment(environment))

    return make
