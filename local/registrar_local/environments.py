"""Lambda execution environments on this machine: one child process each, serving invocations.

Like Lambda, an environment imports the handler once and keeps its module state (the
Keycloak connection, the token) across invocations; an invocation that outlives the
function timeout is killed with its environment, and the next one starts cold. The
function's stdout is split as CloudWatch would: EMF metric lines are summed for the caller,
everything else goes to a log file.
"""

from __future__ import annotations

import importlib
import json
import logging
import multiprocessing
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TextIO

from registrar_local.lambda_context import LocalLambdaContext
from registrar_local.poller import InvocationFailed

# A string, not an import: importing the function's package here would bind its logger to the
# real stdout in every environment before _serve can route it (see _serve).
HANDLER = "registrar.handler.lambda_handler"

_IPC_GRACE_SECONDS = 2.0


DUPLICATE_IN_BATCH_METRIC = "RegistrationsDuplicateInBatch"
"""Counted by the function itself where it emits it; otherwise derived from its log lines."""
_HANDLED_MESSAGE = "registration handled"  # the function's log line for each registration it settles
_CREATED = "created"


class MetricTotals:
    """Sums of the function's EMF metrics across every environment, and what its log lines tell.

    Every EMF value is also kept with the wall-clock time it arrived, so that a run can be drawn
    the way CloudWatch would draw it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: Counter[str] = Counter()
        self._invocations: list[dict[str, float]] = []
        self._timeline: list[tuple[float, str, float]] = []
        self._created_latencies: list[float] = []
        self._extra_copies = 0

    def add(self, values: Mapping[str, float], at: float | None = None) -> None:
        at = time.time() if at is None else at
        with self._lock:
            self._totals.update(values)
            self._invocations.append(dict(values))
            self._timeline.extend((at, name, value) for name, value in values.items())

    def add_samples(self, samples: Mapping[str, list[float]], at: float | None = None) -> None:
        """Metrics that are not counts (latencies): every value, for percentiles."""
        at = time.time() if at is None else at
        with self._lock:
            self._timeline.extend((at, name, value) for name, values in samples.items() for value in values)

    def record_handled(self, outcome: str, copies: int, latency_seconds: float | None) -> None:
        with self._lock:
            self._extra_copies += max(0, copies - 1)
            if outcome == _CREATED and latency_seconds is not None:
                self._created_latencies.append(latency_seconds)

    def per_invocation(self, name: str) -> list[float]:
        """One metric's value for each invocation, in the order they were flushed."""
        with self._lock:
            return [values[name] for values in self._invocations if name in values]

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self._totals)

    def timeline(self) -> list[tuple[float, str, float]]:
        """(wall time, metric name, value) of every metric value the function printed."""
        with self._lock:
            return list(self._timeline)

    def created_latencies(self) -> list[float]:
        """Seconds from enqueue (SentTimestamp) to the log line that reported the user created."""
        with self._lock:
            return list(self._created_latencies)

    def duplicates_in_batch(self) -> int:
        with self._lock:
            if DUPLICATE_IN_BATCH_METRIC in self._totals:
                return int(self._totals[DUPLICATE_IN_BATCH_METRIC])
            return self._extra_copies


def emf_values(line: str) -> dict[str, float] | None:
    """The count metrics of one EMF log line (summed), or None when the line is not EMF."""
    parsed = emf_metrics(line)
    return None if parsed is None else parsed[0]


def emf_metrics(line: str) -> tuple[dict[str, float], dict[str, list[float]]] | None:
    """(counts, other values such as latencies) of one EMF log line, or None when it is not EMF."""
    try:
        document = json.loads(line)
    except ValueError:
        return None
    if not isinstance(document, dict) or "_aws" not in document:
        return None
    counts: dict[str, float] = {}
    samples: dict[str, list[float]] = {}
    for directive in document["_aws"].get("CloudWatchMetrics", []):
        for metric in directive.get("Metrics", []):
            value = document.get(metric["Name"])
            values = [float(v) for v in (value if isinstance(value, list) else [value]) if v is not None]
            if metric.get("Unit") == "Count":
                counts[metric["Name"]] = float(sum(values))
            else:
                samples[metric["Name"]] = values
    return counts, samples


def handled_line(line: str) -> tuple[str, str, int] | None:
    """(message id, outcome, copies) of the function's per-registration log line, else None."""
    if _HANDLED_MESSAGE not in line:
        return None
    try:
        document = json.loads(line)
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("message") != _HANDLED_MESSAGE:
        return None
    return str(document.get("message_id", "")), str(document.get("outcome", "")), int(document.get("copies", 1) or 1)


class FunctionEnvironment:
    def __init__(
        self,
        environment: Mapping[str, str],
        timeout_seconds: float,
        log_path: Path,
        metrics: MetricTotals,
        handler: str = HANDLER,
    ) -> None:
        self._environment = dict(environment)
        self._timeout_seconds = timeout_seconds
        self._log_path = log_path
        self._metrics = metrics
        self._handler = handler
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    def invoke(self, event: dict[str, Any]) -> Any:
        connection = self._ensure_started()
        end = time.monotonic() + self._timeout_seconds + _IPC_GRACE_SECONDS
        sent_at = {
            record["messageId"]: int(record["attributes"]["SentTimestamp"]) / 1000
            for record in event.get("Records", [])
            if "SentTimestamp" in record.get("attributes", {})
        }
        try:
            connection.send(("invoke", event))
            while connection.poll(max(0.0, end - time.monotonic())):
                kind, payload = connection.recv()
                if kind == "metrics":
                    self._metrics.add(payload)
                elif kind == "samples":
                    self._metrics.add_samples(payload)
                elif kind == "handled":
                    message_id, outcome, copies, at = payload
                    sent = sent_at.get(message_id)
                    self._metrics.record_handled(outcome, copies, None if sent is None else at - sent)
                elif kind == "result":
                    return payload
                else:
                    raise InvocationFailed(f"function raised {payload}")
        except (EOFError, OSError) as error:
            self.close()
            raise InvocationFailed("the function's environment died mid-invocation") from error
        self.close()
        raise InvocationFailed(f"function timed out after {self._timeout_seconds:.0f}s")

    def close(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._process = None
        self._connection = None

    def _ensure_started(self) -> Connection:
        if self._connection is None or self._process is None or not self._process.is_alive():
            context = multiprocessing.get_context("spawn")
            parent, child = context.Pipe()
            self._process = context.Process(
                target=_serve,
                args=(child, self._handler, self._environment, self._timeout_seconds, str(self._log_path)),
                daemon=True,
            )
            self._process.start()
            self._connection = parent
        return self._connection


class _StdoutRouter:
    """Stands in for the function's stdout: EMF lines to the parent, the rest to the log file."""

    def __init__(self, connection: Connection, log: TextIO) -> None:
        self._connection = connection
        self._log = log
        self._lock = threading.Lock()
        self._pending = ""

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                metrics = emf_metrics(line)
                if metrics is None:
                    self._log.write(line + "\n")
                    if (handled := handled_line(line)) is not None:
                        self._connection.send(("handled", (*handled, time.time())))
                    continue
                counts, samples = metrics
                self._connection.send(("metrics", counts))
                if samples:
                    self._connection.send(("samples", samples))
        return len(text)

    def flush(self) -> None:
        self._log.flush()


def _route_bound_handlers(router: _StdoutRouter) -> None:
    """Loggers bound to the real stdout before the router was in place now write to it too.

    That happens when the parent's main module is a script: spawn imports it again in the child,
    and with it the function's package, before _serve runs.
    """
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for candidate in loggers:
        for handler in getattr(candidate, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.__stdout__:
                handler.setStream(router)


def _serve(
    connection: Connection, handler_path: str, environment: dict[str, str], timeout: float, log_path: str
) -> None:
    import os  # noqa: PLC0415 - runs in the child process
    import signal  # noqa: PLC0415

    # Ctrl-C reaches the whole terminal group; the parent decides when an environment ends,
    # after its batch in flight is settled.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(environment)
    log = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    # Before the handler is imported: Powertools binds its log stream to stdout at import time.
    router = _StdoutRouter(connection, log)
    sys.stdout = router
    sys.stderr = log
    module_name, function_name = handler_path.rsplit(".", 1)
    handler: Callable[[Any, Any], Any] = getattr(importlib.import_module(module_name), function_name)
    _route_bound_handlers(router)
    while True:
        try:
            _, event = connection.recv()
        except EOFError:
            return
        try:
            response = handler(event, LocalLambdaContext(timeout_seconds=timeout))
        except Exception as error:  # noqa: BLE001 - any exception is a failed invocation, as in Lambda
            traceback.print_exc(file=log)
            connection.send(("error", type(error).__name__))
        else:
            connection.send(("result", response))
