"""The whole flow on one machine: Keycloak, SQS (ElasticMQ), queues as in template.yaml, and the consumers."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registrar_local.elasticmq_server import ElasticMqServer
from registrar_local.environments import FunctionEnvironment, MetricTotals
from registrar_local.function_api import METRICS_NAMESPACE, SERVICE_NAME
from registrar_local.keycloak_server import Database, KeycloakServer, cache_dir, default_database, function_environment
from registrar_local.poller import BatchReport, Poller
from registrar_local.sqs_client import (
    FAKE_ACCESS_KEY_ID,
    FAKE_SECRET_ACCESS_KEY,
    REGION,
    SQS_BATCH_LIMIT,
    sqs_client,
)
from registrar_local.stack_settings import StackSettings, read_stack_settings


@dataclass(frozen=True)
class Queues:
    source_url: str
    dlq_url: str


def create_queues(sqs: Any, settings: StackSettings, prefix: str = "registrations", fifo: bool = False) -> Queues:
    """The source queue and its DLQ, with the template's settings (FIFO pairs when `fifo`).

    ElasticMQ accepts MessageRetentionPeriod but does not enforce it; a local run is far shorter
    than the retention anyway. Real SQS and moto keep it.
    """
    suffix = ".fifo" if fifo else ""
    fifo_attributes = {"FifoQueue": "true"} if fifo else {}
    dlq_url = sqs.create_queue(
        QueueName=f"{prefix}-dlq{suffix}",
        Attributes={"MessageRetentionPeriod": str(settings.dlq_retention_seconds), **fifo_attributes},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source_url = sqs.create_queue(
        QueueName=f"{prefix}{suffix}",
        Attributes={
            "VisibilityTimeout": str(settings.visibility_timeout),
            "MessageRetentionPeriod": str(settings.retention_seconds),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(settings.max_receive_count)}
            ),
            **fifo_attributes,
        },
    )["QueueUrl"]
    return Queues(source_url=source_url, dlq_url=dlq_url)


def _entries(queue_url: str, chunk: Sequence[str]) -> list[dict[str, str]]:
    entries = [{"Id": str(index), "MessageBody": body} for index, body in enumerate(chunk)]
    if queue_url.endswith(".fifo"):  # FIFO queues need a group and a deduplication id on every send
        for entry in entries:
            entry |= {"MessageGroupId": "registrations", "MessageDeduplicationId": uuid.uuid4().hex}
    return entries


def send_bodies(
    sqs: Any,
    queue_url: str,
    bodies: Iterable[str],
    stop: threading.Event | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> int:
    """SendMessageBatch in chunks of 10; stops between chunks once `stop` is set."""
    sent = 0
    iterator = iter(bodies)
    while stop is None or not stop.is_set():
        chunk = list(itertools.islice(iterator, SQS_BATCH_LIMIT))
        if not chunk:
            break
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=_entries(queue_url, chunk))
        if response.get("Failed"):
            raise RuntimeError(f"SQS refused {len(response['Failed'])} messages: {response['Failed'][0]}")
        sent += len(chunk)
        if on_sent is not None:
            on_sent(len(chunk))
    return sent


@dataclass
class Enqueuer:
    """SendMessageBatch from a few threads, each with its own client, while the consumers already run."""

    sqs_factory: Callable[[], Any]
    queue_url: str
    bodies: Sequence[str]
    stop: threading.Event
    threads: int = 4
    sent: int = 0
    error: BaseException | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)
    _next: int = 0
    first_send: float | None = None

    def start(self) -> Enqueuer:
        self.first_send = time.monotonic()
        self._workers = [
            threading.Thread(target=self._send, name=f"sender-{index}", daemon=True) for index in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()
        return self

    @property
    def done(self) -> bool:
        return all(not worker.is_alive() for worker in self._workers)

    def join(self) -> None:
        for worker in self._workers:
            worker.join()
        if self.error is not None:
            raise RuntimeError(f"enqueueing failed: {self.error}") from self.error

    def _claim(self) -> Sequence[str]:
        with self._lock:
            chunk = self.bodies[self._next : self._next + SQS_BATCH_LIMIT]
            self._next += len(chunk)
            return chunk

    def _count(self, sent: int) -> None:
        with self._lock:
            self.sent += sent

    def _send(self) -> None:
        sqs = self.sqs_factory()
        try:
            while not self.stop.is_set() and (chunk := self._claim()):
                send_bodies(sqs, self.queue_url, chunk, on_sent=self._count)
        except Exception as error:  # noqa: BLE001 - reported by join(); the other senders stop too
            self.error = error
            self.stop.set()


def queue_depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def function_env(keycloak_url: str, dlq_url: str, sqs_endpoint: str | None) -> dict[str, str]:
    """Environment of the function's local environments: the local realm, the DLQ, quiet tracing."""
    environment = {
        **function_environment(keycloak_url, dlq_url),
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "AWS_DEFAULT_REGION": REGION,
    }
    if sqs_endpoint is not None:
        environment |= {
            "AWS_ENDPOINT_URL_SQS": sqs_endpoint,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
        }
    return environment


@dataclass
class ConsumerRun:
    """Counts of one run of the consumers, updated as batches settle."""

    metrics: MetricTotals = field(default_factory=MetricTotals)
    received: int = 0
    deleted: int = 0
    returned: int = 0
    failed_invocations: int = 0
    invocations: list[BatchReport] = field(default_factory=list)
    environments: list[FunctionEnvironment] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_batch(self, report: BatchReport) -> None:
        with self._lock:
            self.received += report.received
            self.deleted += report.deleted
            self.returned += report.returned
            self.failed_invocations += report.error is not None
            self.invocations.append(report)

    def environment_pids(self) -> list[int]:
        return [pid for env in self.environments if (pid := env.pid) is not None]


def run_consumers(
    sqs_factory: Callable[[], Any],
    queue_url: str,
    environment: Mapping[str, str],
    settings: StackSettings,
    stop: threading.Event,
    log_path: Path,
    run: ConsumerRun | None = None,
) -> ConsumerRun:
    """MaximumConcurrency pollers, each with its own function environment, until `stop` is set."""
    run = run or ConsumerRun()
    environments = [
        FunctionEnvironment(environment, settings.function_timeout, log_path, run.metrics)
        for _ in range(settings.max_concurrency)
    ]
    run.environments = environments
    threads = [
        threading.Thread(
            target=Poller(
                sqs_factory(),
                queue_url,
                env.invoke,
                batch_size=settings.batch_size,
                batching_window_seconds=settings.batching_window_seconds,
            ).run,
            args=(stop, run.on_batch),
            name=f"poller-{index}",
        )
        for index, env in enumerate(environments)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for env in environments:
            env.close()
    return run


@contextmanager
def consumers_running(
    stack: LocalStack, environment: Mapping[str, str], log_path: Path
) -> Iterator[tuple[ConsumerRun, threading.Event]]:
    """The stack's consumers in a thread for the block: its run and the event that stops them.

    They are stopped, and their function environments closed, when the block ends, however it ends.
    """
    stop = threading.Event()
    run = ConsumerRun()
    thread = threading.Thread(
        target=run_consumers,
        args=(stack.sqs, stack.queues.source_url, environment, stack.settings, stop, log_path, run),
    )
    thread.start()
    try:
        yield run, stop
    finally:
        stop.set()
        thread.join()


def wait_until_drained(
    sqs: Any,
    queue_url: str,
    stop: threading.Event,
    timeout: float,
    on_tick: Callable[[int], None] | None = None,
) -> bool:
    """Block until the queue has nothing visible or in flight (twice in a row), or `timeout`."""
    end = time.monotonic() + timeout
    empty_checks = 0
    while not stop.is_set() and time.monotonic() < end:
        depth = queue_depth(sqs, queue_url)
        if on_tick is not None:
            on_tick(depth)
        empty_checks = empty_checks + 1 if depth == 0 else 0
        if empty_checks >= 2:
            return True
        stop.wait(0.5)
    return False


@dataclass
class LocalStack:
    """Keycloak and ElasticMQ started here (or an existing Keycloak), with the template's queues."""

    keycloak_url: str
    sqs_endpoint: str
    queues: Queues
    settings: StackSettings
    log_dir: Path
    server_pids: dict[str, int] = field(default_factory=dict)
    keycloak_database: str = "its own"
    """The database of a Keycloak started here ("its own" for one given by URL)."""

    def sqs(self) -> Any:
        return sqs_client(self.sqs_endpoint)

    def function_environment(self) -> dict[str, str]:
        """What template.yaml gives the deployed function, for these queues."""
        return function_env(self.keycloak_url, self.queues.dlq_url, self.sqs_endpoint) | {
            "MAX_RECEIVE_COUNT": str(self.settings.max_receive_count),
            "QUEUE_RETENTION_SECONDS": str(self.settings.retention_seconds),
        }


@contextmanager
def local_stack(
    keycloak_url: str | None = None,
    settings: StackSettings | None = None,
    on_phase: Callable[[str], None] | None = None,
    log_dir: Path | None = None,
    database: Database | None = None,
    fifo: bool = False,
) -> Iterator[LocalStack]:
    """Everything started here is stopped when the block ends (Ctrl-C included).

    `database` is the started Keycloak's (default: KEYCLOAK_DATABASE, else postgres); `fifo` makes FIFO queues.
    """
    settings = settings or read_stack_settings()
    log_dir = log_dir or cache_dir() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    say = on_phase or (lambda _phase: None)
    server_pids: dict[str, int] = {}
    keycloak_database = "its own"
    with ExitStack() as started:
        if keycloak_url is None:
            say("starting Keycloak")
            keycloak_database = database or default_database()
            keycloak = KeycloakServer(log_path=log_dir / "keycloak.log", database=keycloak_database)
            started.callback(keycloak.stop)
            keycloak.start()
            keycloak_url = keycloak.url
            server_pids.update(keycloak.server_pids())
        say("starting SQS (ElasticMQ)")
        sqs_server = ElasticMqServer(log_path=log_dir / "elasticmq.log")
        started.callback(sqs_server.stop)
        sqs_server.start()
        if sqs_server.process is not None:
            server_pids["elasticmq"] = sqs_server.process.pid
        queues = create_queues(sqs_server.sqs(), settings, fifo=fifo)
        yield LocalStack(keycloak_url, sqs_server.url, queues, settings, log_dir, server_pids, keycloak_database)
