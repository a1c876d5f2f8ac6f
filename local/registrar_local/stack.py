"""The whole flow on one machine: Keycloak, SQS (moto), queues as in template.yaml, and the consumers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registrar.observability import METRICS_NAMESPACE, SERVICE_NAME
from registrar_local.environments import FunctionEnvironment, MetricTotals
from registrar_local.keycloak_server import Database, KeycloakServer, cache_dir, default_database, function_environment
from registrar_local.moto_server import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, REGION, MotoServer
from registrar_local.poller import BatchReport, Poller
from registrar_local.stack_settings import StackSettings, read_stack_settings


@dataclass(frozen=True)
class Queues:
    source_url: str
    dlq_url: str


def create_queues(sqs: Any, settings: StackSettings, prefix: str = "registrations") -> Queues:
    """The source queue and its DLQ, with the template's settings."""
    dlq_url = sqs.create_queue(
        QueueName=f"{prefix}-dlq",
        Attributes={"MessageRetentionPeriod": str(settings.dlq_retention_seconds)},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source_url = sqs.create_queue(
        QueueName=prefix,
        Attributes={
            "VisibilityTimeout": str(settings.visibility_timeout),
            "MessageRetentionPeriod": str(settings.retention_seconds),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(settings.max_receive_count)}
            ),
        },
    )["QueueUrl"]
    return Queues(source_url=source_url, dlq_url=dlq_url)


def send_bodies(sqs: Any, queue_url: str, bodies: Iterable[str]) -> int:
    sent = 0
    chunk: list[str] = []
    for body in [*bodies, None]:
        if body is not None:
            chunk.append(body)
        if len(chunk) == 10 or (body is None and chunk):
            response = sqs.send_message_batch(
                QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)]
            )
            if response.get("Failed"):
                raise RuntimeError(f"SQS refused {len(response['Failed'])} messages: {response['Failed'][0]}")
            sent += len(chunk)
            chunk = []
    return sent


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
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_batch(self, report: BatchReport) -> None:
        with self._lock:
            self.received += report.received
            self.deleted += report.deleted
            self.returned += report.returned
            self.failed_invocations += report.error is not None


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
        time.sleep(0.5)
    return False


@dataclass
class LocalStack:
    """Keycloak and moto started here (or an existing Keycloak), with the template's queues."""

    keycloak_url: str
    sqs_endpoint: str
    queues: Queues
    settings: StackSettings
    log_dir: Path

    def sqs(self) -> Any:
        from registrar_local.moto_server import sqs_client  # noqa: PLC0415

        return sqs_client(self.sqs_endpoint)

    def function_environment(self) -> dict[str, str]:
        return function_env(self.keycloak_url, self.queues.dlq_url, self.sqs_endpoint)


@contextmanager
def local_stack(
    keycloak_url: str | None = None, settings: StackSettings | None = None, database: Database | None = None
) -> Iterator[LocalStack]:
    """Everything started here is stopped when the block ends (Ctrl-C included).

    `database` is the started Keycloak's (default: KEYCLOAK_DATABASE, else postgres).
    """
    settings = settings or read_stack_settings()
    log_dir = cache_dir() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as started:
        if keycloak_url is None:
            keycloak = KeycloakServer(log_path=log_dir / "keycloak.log", database=database or default_database())
            started.callback(keycloak.stop)
            keycloak.start()
            keycloak_url = keycloak.url
        moto = MotoServer(log_path=log_dir / "moto.log")
        started.callback(moto.stop)
        moto.start()
        queues = create_queues(moto.sqs(), settings)
        yield LocalStack(keycloak_url, moto.url, queues, settings, log_dir)
