from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from registrar.config import Settings
from registrar.dlq import DeadLetterQueue
from registrar.messages import RegistrationPolicy
from registrar.registration import Registrar
from registrar.resilience import CircuitBreaker, ResilientDirectory, RetryPolicy
from registrar.runtime import Runtime
from registrar.visibility import VisibilityBackoff, VisibilityChanger
from registrar_local.poller import synthetic_event
from tests.unit.fakes import InMemoryDirectory


@pytest.fixture(autouse=True)
def _aws_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"))


@pytest.fixture
def dlq_url(sqs: Any) -> str:
    return str(sqs.create_queue(QueueName="registrations-dlq")["QueueUrl"])


@pytest.fixture
def directory() -> InMemoryDirectory:
    return InMemoryDirectory()


@pytest.fixture
def runtime(directory: InMemoryDirectory, sqs: Any, dlq_url: str) -> Runtime:
    settings = Settings(
        keycloak_url="http://keycloak.invalid",  # type: ignore[arg-type]
        realm="registrar",
        client_id="registrar",
        client_secret="unit-test-secret",
        dlq_url=dlq_url,
        allowed_groups=frozenset({"/customers"}),
    )
    resilient = ResilientDirectory(directory, CircuitBreaker(), RetryPolicy(), sleep=lambda _seconds: None)
    return Runtime(
        settings=settings,
        policy=RegistrationPolicy(allowed_groups=settings.allowed_groups),
        directory=resilient,
        registrar=Registrar(resilient, "registrationId"),
        dead_letters=DeadLetterQueue(dlq_url, client_factory=lambda: sqs),
        visibility=VisibilityChanger(client_factory=lambda: sqs),
        backoff=VisibilityBackoff(base_seconds=30, max_seconds=900),
    )


def sqs_event(*bodies: str, receive_count: int = 1) -> dict[str, Any]:
    """An event in the shape the SQS event source mapping delivers, messageIds m-0, m-1, ..."""
    return synthetic_event(bodies, receive_count=receive_count)


def body(**fields: Any) -> str:
    return json.dumps(fields)


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)
