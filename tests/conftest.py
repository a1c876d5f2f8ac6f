"""Shared fixtures: one real Keycloak for the whole test session."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

from registrar.observability import logger
from registrar_local.keycloak_server import KeycloakServer


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
