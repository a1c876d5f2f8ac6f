"""Fixtures for the security tests.

AWS is moto, in-process, for every test here (SQS for the DLQ, Secrets Manager for the client
secret). Tests marked `keycloak` run against the real server of the session.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from keycloak import KeycloakAdmin
from moto import mock_aws

from registrar.config import Settings
from registrar.deadline import Deadline
from registrar.keycloak import AlreadyExists, Created, CreateResult, KeycloakUnavailable, KeycloakUser, Rejected
from registrar.registration import Registrar
from registrar.resilience import CircuitBreaker, ResilientDirectory, RetryPolicy
from registrar.runtime import Runtime, build_runtime

REGION = "eu-west-1"

# Characters SQS accepts in a message body or a string attribute (the XML 1.0 set).
_SQS_FORBIDDEN = frozenset(chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF])


def sqs_can_carry(text: str) -> bool:
    """True when the real SQS would accept `text` as a message body or attribute value."""
    return not any(ch in _SQS_FORBIDDEN or 0xD800 <= ord(ch) <= 0xDFFF for ch in text)


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    parameters.clear_caches()
    with mock_aws():
        yield
    parameters.clear_caches()


@pytest.fixture
def sqs() -> Any:
    return boto3.client("sqs", region_name=REGION)


@pytest.fixture
def dlq_url(sqs: Any) -> str:
    return new_queue(sqs)


def new_queue(sqs: Any) -> str:
    return str(sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:12]}")["QueueUrl"])


@dataclass(frozen=True)
class Letter:
    """One DLQ copy as SQS holds it."""

    body: str
    attributes: dict[str, str]

    @property
    def original_message_id(self) -> str:
        return self.attributes["originalMessageId"]

    @property
    def reason(self) -> str:
        return self.attributes.get("reason", "")

    def text(self) -> str:
        """Everything the copy carries, for searching."""
        return "\n".join([self.body, *(f"{name}={value}" for name, value in sorted(self.attributes.items()))])


def dead_letters(sqs: Any, queue_url: str) -> list[Letter]:
    """Every copy in the DLQ (received and deleted)."""
    letters: list[Letter] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
            VisibilityTimeout=300,
        ).get("Messages", [])
        if not batch:
            return letters
        for message in batch:
            attributes = {
                name: str(value.get("StringValue", "")) for name, value in message.get("MessageAttributes", {}).items()
            }
            letters.append(Letter(body=message["Body"], attributes=attributes))
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


@dataclass
class IndexedDirectory:
    """Keycloak's create/lookup semantics, indexed so that very large batches stay fast.

    409 on a taken username or email; 400 when the username holds a '!'; 503 when it starts
    with 'retry-' (a transient failure that never clears).
    """

    by_username: dict[str, KeycloakUser] = field(default_factory=dict)
    by_email: dict[str, KeycloakUser] = field(default_factory=dict)
    create_calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure_token(self, deadline: Deadline) -> None:
        deadline.request_timeout(5)

    def create_user(self, user: dict[str, Any], deadline: Deadline) -> CreateResult:
        deadline.request_timeout(5)
        username, email = str(user["username"]), str(user["email"])
        with self._lock:
            self.create_calls += 1
            if username.startswith("retry-"):
                raise KeycloakUnavailable("Keycloak answered 503: unavailable", status=503)
            if "!" in username:
                return Rejected(400, "username: error-username-invalid-character")
            if username in self.by_username:
                return AlreadyExists("User exists with same username")
            if email in self.by_email:
                return AlreadyExists("User exists with same email")
            created = KeycloakUser(f"id-{uuid.uuid4().hex}", username, email, dict(user.get("attributes", {})))
            self.by_username[username] = created
            self.by_email[email] = created
            return Created(created.id)

    def find_users(self, *, username: str, email: str, deadline: Deadline) -> list[KeycloakUser]:
        deadline.request_timeout(5)
        with self._lock:
            found = [user for user in (self.by_username.get(username), self.by_email.get(email)) if user]
            return list({user.id: user for user in found}.values())

    def holds(self, username: str, email: str) -> bool:
        with self._lock:
            user = self.by_username.get(username)
            return user is not None and user.email == email


def memory_runtime(directory: IndexedDirectory, dlq_url: str, **settings: Any) -> Runtime:
    """The function's runtime with Keycloak replaced by `directory`; SQS is moto's."""
    values: dict[str, Any] = {
        "keycloak_url": "http://keycloak.invalid",
        "realm": "registrar",
        "client_id": "registrar",
        "client_secret": "memory-secret",
        "dlq_url": dlq_url,
        "allowed_groups": "/customers",
        "allowed_attributes": "signupSource",
        "allowed_required_actions": "VERIFY_EMAIL",
        # Hostile batches hold many failing records; the breaker must not defer the good ones.
        "circuit_failure_threshold": 1_000_000,
        **settings,
    }
    runtime = build_runtime(Settings.model_validate(values))
    resilient = ResilientDirectory(
        directory,
        CircuitBreaker(failure_threshold=runtime.settings.circuit_failure_threshold),
        RetryPolicy(max_attempts=runtime.settings.retry_max_attempts),
        sleep=lambda _seconds: None,
    )
    return dataclasses.replace(
        runtime,
        directory=resilient,
        registrar=Registrar(resilient, runtime.settings.registration_id_attribute),
    )


# --- everything the function lets out --------------------------------------------------------


@contextmanager
def every_exception() -> Iterator[list[BaseException]]:
    """Every exception raised in any thread while the block runs, handled or not."""
    monitoring = sys.monitoring
    tool = next(candidate for candidate in range(5, 0, -1) if monitoring.get_tool(candidate) is None)
    raised: list[BaseException] = []

    def on_raise(_code: object, _offset: int, exception: BaseException) -> None:
        raised.append(exception)

    monitoring.use_tool_id(tool, "security-tests")
    try:
        monitoring.register_callback(tool, monitoring.events.RAISE, on_raise)
        monitoring.set_events(tool, monitoring.events.RAISE)
        yield raised
    finally:
        monitoring.set_events(tool, 0)
        monitoring.register_callback(tool, monitoring.events.RAISE, None)
        monitoring.free_tool_id(tool)


def exception_texts(exceptions: Iterable[BaseException]) -> str:
    """str and repr of each exception and of every exception chained to it."""
    texts: list[str] = []
    for exception in exceptions:
        seen: set[int] = set()
        current: BaseException | None = exception
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            texts.extend([str(current), repr(current), *(repr(arg) for arg in current.args)])
            current = current.__cause__ or current.__context__
    return "\n".join(texts)


@pytest.fixture
def library_logs() -> Iterator[io.StringIO]:
    """Every record any library logs (root logger, DEBUG and up) during the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


# --- the real Keycloak ---------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceClient:
    """A confidential client of the project realm with a service account."""

    id: str
    client_id: str
    secret: str
    service_account_id: str


REGISTRAR_ROLES = ("manage-users", "view-users", "query-users", "query-groups")


@pytest.fixture
def service_client(admin: KeycloakAdmin, tag: str) -> Iterator[Callable[[tuple[str, ...]], ServiceClient]]:
    """Creates clients like the registrar's, holding the given realm-management roles; deleted after the test."""
    created: list[str] = []

    def create(roles: tuple[str, ...]) -> ServiceClient:
        client_id = f"{tag}-client-{len(created)}"
        internal_id = admin.create_client(
            {
                "clientId": client_id,
                "enabled": True,
                "publicClient": False,
                "clientAuthenticatorType": "client-secret",
                "serviceAccountsEnabled": True,
                "standardFlowEnabled": False,
                "directAccessGrantsEnabled": False,
            }
        )
        created.append(internal_id)
        account = admin.get_client_service_account_user(internal_id)
        if roles:
            realm_management = admin.get_client_id("realm-management")
            admin.assign_client_role(
                account["id"], realm_management, [admin.get_client_role(realm_management, name) for name in roles]
            )
        secret = admin.get_client_secrets(internal_id)["value"]
        return ServiceClient(internal_id, client_id, secret, account["id"])

    yield create
    for internal_id in created:
        admin.delete_client(internal_id)


def client_events(admin: KeycloakAdmin, client_id: str, event_type: str) -> int:
    """How many events of `event_type` Keycloak recorded for `client_id` (the realm stores them)."""
    events = admin.connection.raw_get(
        f"admin/realms/{admin.connection.realm_name}/events", type=event_type, client=client_id, max=10000
    ).json()
    return len(events)
