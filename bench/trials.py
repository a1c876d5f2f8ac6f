"""Throughput trials: the same registrations through different clients, in worker processes.

A pool is `processes` worker processes, each standing for one Lambda execution environment
(or, for the limit, one client process), each keeping `in_flight` Keycloak requests open:

- ``limit``: python-keycloak ``KeycloakAdmin.create_user`` from `in_flight` threads sharing one
  connection (token fetched beforehand): no queue, no handler, Keycloak's own ceiling;
- ``limit_batched``: the same client, ten users at a time, waiting for all ten before the next
  ten: what the batch boundary alone costs;
- ``ours``: ``registrar.handler.process_event`` on SQS batches of ten, one batch after the
  other, with ``MAX_WORKERS = in_flight``;
- ``naive``: the Powertools ``BatchProcessor`` baseline of ``bench.naive``, one record at a time.

Workers live for several trials, as warm execution environments do. For each trial every
worker builds its batches, runs one warm-up batch and reports ready; the clock starts when all
of them are told to go and stops when the last one is done. The function's stdout (its logs
and EMF metrics) goes to /dev/null: it is still produced, so logging costs what it costs.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import statistics
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

from tests.kit.events import lambda_context, sqs_event

from bench.workload import BATCH_SIZE, BENCH_PASSWORD, Names, user_representation

Kind = Literal["limit", "limit_batched", "ours", "naive"]
# One letter per kind in every username and trial tag, so pools and trials never collide.
CODES: dict[Kind, str] = {"limit": "l", "limit_batched": "b", "ours": "o", "naive": "n"}
FUNCTION_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class PoolSpec:
    kind: Kind
    keycloak_url: str
    run_id: str
    processes: int
    in_flight: int
    log_path: str
    latency_ms: float = 0.0
    with_password: bool = False
    cpus: tuple[int, ...] = ()
    timeout_seconds: float = 300.0
    # Records per SQS event (ours, naive) or per wait (limit_batched); the limit streams and only groups its users.
    batch_size: int = BATCH_SIZE

    @property
    def label(self) -> str:
        """Part of every username this pool creates, so pools never collide with one another."""
        size = "" if self.batch_size == BATCH_SIZE else f"s{self.batch_size}"
        return f"{CODES[self.kind]}{self.processes}{'pw' if self.with_password else ''}l{int(self.latency_ms)}{size}"


@dataclass
class ProcessResult:
    started: float
    ended: float
    batch_seconds: list[float]
    failures: int
    cpu_seconds: float


@dataclass(frozen=True)
class TrialResult:
    kind: Kind
    processes: int
    in_flight_per_process: int
    latency_ms: float
    users: int
    failures: int
    seconds: float
    users_per_second: float
    median_batch_ms: float | None
    client_cpu_ms_per_user: float
    with_password: bool = False
    batch_ms: list[float] = field(default_factory=list, repr=False)
    batch_size: int = BATCH_SIZE


def function_environment(keycloak_url: str, in_flight: int, with_password: bool = False) -> dict[str, str]:
    """The function's environment for the local realm, as the local stack sets it."""
    from registrar_local.keycloak_server import function_environment as local_environment

    return {
        **local_environment(keycloak_url),
        "ALLOW_PASSWORDS": "true" if with_password else "false",
        "MAX_WORKERS": str(in_flight),
        "POWERTOOLS_SERVICE_NAME": "sqs-keycloak-registrar",
        "POWERTOOLS_METRICS_NAMESPACE": "SqsKeycloakRegistrar",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }


@dataclass(frozen=True)
class Where:
    """Where the pools run and log: the run's ids, CPUs and workers' log."""

    run_id: str
    server_cpus: tuple[int, ...]
    client_cpus: tuple[int, ...]
    log_path: str


class _Runner(Protocol):
    def prepare(self, tag: str, batches: int) -> None: ...

    def warm_up(self) -> None: ...

    def run(self) -> tuple[list[float], int]: ...


class _Bodies:
    """One worker's registrations for one trial: its batches and a warm-up batch."""

    def __init__(self, spec: PoolSpec, index: int) -> None:
        self._names = Names(spec.run_id)
        self._worker = f"{spec.label}p{index}"
        self._with_password = spec.with_password
        self._size = spec.batch_size

    def batches(self, tag: str, count: int) -> list[list[str]]:
        trial = f"{tag}{self._worker}"
        size = self._size
        return [self._password(self._names.bodies(trial, number * size, size)) for number in range(count)]

    def warm(self, tag: str) -> list[str]:
        return self._password(self._names.bodies(f"{tag}{self._worker}w", 0, self._size))

    def _password(self, bodies: list[str]) -> list[str]:
        """With passwords, each message carries one (the function then sends it as a credential)."""
        if not self._with_password:
            return bodies
        return [json.dumps({**json.loads(body), "password": BENCH_PASSWORD}) for body in bodies]


class _LimitRunner:
    def __init__(self, spec: PoolSpec, index: int) -> None:
        from keycloak import KeycloakAdmin, KeycloakOpenIDConnection
        from keycloak.exceptions import KeycloakError

        self._spec = spec
        self._bodies = _Bodies(spec, index)
        self._error_type = KeycloakError
        connection = KeycloakOpenIDConnection(
            server_url=spec.keycloak_url,
            realm_name=os.environ["KEYCLOAK_REALM"],
            client_id=os.environ["KEYCLOAK_CLIENT_ID"],
            client_secret_key=os.environ["KEYCLOAK_CLIENT_SECRET"],
            grant_type="client_credentials",
            pool_maxsize=spec.in_flight,
        )
        connection.get_token()
        self._admin = KeycloakAdmin(connection=connection)
        self._executor = ThreadPoolExecutor(max_workers=spec.in_flight, thread_name_prefix="limit")
        self._users: list[dict[str, Any]] = []
        self._warm: list[dict[str, Any]] = []

    def prepare(self, tag: str, batches: int) -> None:
        password = self._spec.with_password
        self._users = [
            user_representation(body, password) for batch in self._bodies.batches(tag, batches) for body in batch
        ]
        self._warm = [user_representation(body, password) for body in self._bodies.warm(tag)]

    def _create(self, user: dict[str, Any]) -> bool:
        try:
            self._admin.create_user(user)
        except self._error_type:
            return False
        return True

    def warm_up(self) -> None:
        list(self._executor.map(self._create, self._warm))

    def run(self) -> tuple[list[float], int]:
        created = list(self._executor.map(self._create, self._users))
        return [], created.count(False)


class _BatchedLimitRunner(_LimitRunner):
    def run(self) -> tuple[list[float], int]:
        size = self._spec.batch_size
        batches = [self._users[start : start + size] for start in range(0, len(self._users), size)]
        return _timed_batches(batches, lambda batch: list(self._executor.map(self._create, batch)).count(False))


class _EventRunner:
    """A runner that invokes a handler with SQS events of the worker's batches; subclasses say how."""

    def __init__(self, spec: PoolSpec, index: int) -> None:
        self._bodies = _Bodies(spec, index)
        self._prefix = f"{spec.run_id}-{index}"
        self._events: list[dict[str, Any]] = []
        self._warm: dict[str, Any] = {}

    def prepare(self, tag: str, batches: int) -> None:
        self._events = [
            sqs_event(*batch, prefix=f"{tag}-{self._prefix}-{number}")
            for number, batch in enumerate(self._bodies.batches(tag, batches))
        ]
        self._warm = sqs_event(*self._bodies.warm(tag), prefix=f"{tag}-{self._prefix}-w")

    def _invoke(self, event: dict[str, Any]) -> int:
        """Handle one event; the number of records that failed."""
        raise NotImplementedError

    def warm_up(self) -> None:
        self._invoke(self._warm)

    def run(self) -> tuple[list[float], int]:
        return _timed_batches(self._events, self._invoke)


class _OursRunner(_EventRunner):
    def __init__(self, spec: PoolSpec, index: int) -> None:
        from registrar.config import Settings
        from registrar.domain.deadline import Deadline
        from registrar.observability import metrics
        from registrar.processor import process_event
        from registrar.runtime import build_runtime

        super().__init__(spec, index)
        self._settings = Settings.from_environment()
        self._runtime = build_runtime(self._settings)
        self._process_event = process_event
        self._deadline = Deadline
        self._metrics = metrics

    def _invoke(self, event: dict[str, Any]) -> int:
        deadline = self._deadline.after(FUNCTION_TIMEOUT_SECONDS, budget=self._settings.time_budget)
        response = self._process_event(event, deadline, self._runtime)
        # What @metrics.log_metrics does at the end of every invocation of lambda_handler.
        self._metrics.flush_metrics()
        return len(response["batchItemFailures"])


class _NaiveRunner(_EventRunner):
    def __init__(self, spec: PoolSpec, index: int) -> None:
        from bench import naive

        super().__init__(spec, index)
        self._handler = naive.lambda_handler

    def _invoke(self, event: dict[str, Any]) -> int:
        response = self._handler(event, lambda_context(FUNCTION_TIMEOUT_SECONDS))
        return len(response["batchItemFailures"])


def _timed_batches[T](batches: list[T], invoke: Callable[[T], int]) -> tuple[list[float], int]:
    seconds: list[float] = []
    failures = 0
    for batch in batches:
        started = time.perf_counter()
        failures += invoke(batch)
        seconds.append(time.perf_counter() - started)
    return seconds, failures


_RUNNERS: dict[Kind, Callable[[PoolSpec, int], _Runner]] = {
    "limit": _LimitRunner,
    "limit_batched": _BatchedLimitRunner,
    "ours": _OursRunner,
    "naive": _NaiveRunner,
}


def _redirect_output(log_path: str) -> None:
    """The function's stdout to /dev/null, stderr to the bench log."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 2)
    os.close(log)


def _serve(spec: PoolSpec, index: int, connection: Connection) -> None:
    _redirect_output(spec.log_path)
    if spec.cpus:
        os.sched_setaffinity(0, spec.cpus)
    os.environ.update(function_environment(spec.keycloak_url, spec.in_flight, spec.with_password))
    try:
        runner = _RUNNERS[spec.kind](spec, index)
        connection.send(("started", None))
        while True:
            command, tag, batches, warm_up = connection.recv()
            if command != "prepare":
                return
            runner.prepare(tag, batches)
            if warm_up:
                runner.warm_up()
            connection.send(("ready", None))
            if connection.recv()[0] != "go":
                return
            cpu_before, started = time.process_time(), time.monotonic()
            batch_seconds, failures = runner.run()
            ended, cpu = time.monotonic(), time.process_time() - cpu_before
            connection.send(("done", ProcessResult(started, ended, batch_seconds, failures, cpu)))
    except EOFError:
        return
    except Exception:  # noqa: BLE001 - reported to the parent, which fails the trial
        connection.send(("error", traceback.format_exc()))
    finally:
        connection.close()


class TrialFailed(RuntimeError):
    pass


class WorkerPool:
    """`processes` warm workers of one kind; `with WorkerPool(spec) as pool: pool.run(tag, batches)`."""

    def __init__(self, spec: PoolSpec) -> None:
        self.spec = spec
        self._workers: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []

    def __enter__(self) -> WorkerPool:
        context = multiprocessing.get_context("spawn")
        Path(self.spec.log_path).parent.mkdir(parents=True, exist_ok=True)
        try:
            for index in range(self.spec.processes):
                parent, child = context.Pipe()
                process = context.Process(target=_serve, args=(self.spec, index, child), daemon=True)
                process.start()
                child.close()
                self._workers.append((process, parent))
            self._gather("started")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for _, connection in self._workers:
            with contextlib.suppress(BrokenPipeError, OSError):
                connection.send(("stop", "", 0, False))
        for process, connection in self._workers:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
            connection.close()
        self._workers = []

    def _gather(self, expected: str) -> list[object]:
        end = time.monotonic() + self.spec.timeout_seconds
        return [self._receive(connection, expected, end) for _, connection in self._workers]

    @staticmethod
    def _receive(connection: Connection, expected: str, end: float) -> object:
        if not connection.poll(max(0.5, end - time.monotonic())):
            raise TrialFailed(f"no {expected!r} from a worker in time")
        try:
            kind, payload = connection.recv()
        except EOFError:
            raise TrialFailed(f"a worker exited before sending {expected!r}") from None
        if kind == "error":
            raise TrialFailed(f"a worker failed:\n{str(payload)[-1500:]}")
        if kind != expected:
            raise TrialFailed(f"expected {expected!r} from a worker, got {kind!r}")
        return payload

    def run(self, tag: str, batches_per_process: int, warm_up: bool = True) -> TrialResult:
        """One trial: every worker registers `batches_per_process` batches of new users."""
        for _, connection in self._workers:
            connection.send(("prepare", tag, batches_per_process, warm_up))
        self._gather("ready")
        for _, connection in self._workers:
            connection.send(("go", "", 0, False))
        finished = [result for result in self._gather("done") if isinstance(result, ProcessResult)]
        spec = self.spec
        users = spec.processes * batches_per_process * spec.batch_size
        seconds = max(result.ended for result in finished) - min(result.started for result in finished)
        batch_ms = [round(value * 1000, 2) for result in finished for value in result.batch_seconds]
        return TrialResult(
            kind=spec.kind,
            processes=spec.processes,
            in_flight_per_process=spec.in_flight,
            latency_ms=spec.latency_ms,
            users=users,
            failures=sum(result.failures for result in finished),
            seconds=seconds,
            users_per_second=users / seconds,
            median_batch_ms=statistics.median(batch_ms) if batch_ms else None,
            client_cpu_ms_per_user=sum(result.cpu_seconds for result in finished) * 1000 / users,
            with_password=spec.with_password,
            batch_ms=batch_ms,
            batch_size=spec.batch_size,
        )
