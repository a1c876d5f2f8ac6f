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

HANDLER = "registrar.handler.lambda_handler"
_IPC_GRACE_SECONDS = 2.0


class MetricTotals:
    """Sums of the function's EMF metrics across every environment."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: Counter[str] = Counter()
        self._invocations: list[dict[str, float]] = []

    def add(self, values: Mapping[str, float]) -> None:
        with self._lock:
            self._totals.update(values)
            self._invocations.append(dict(values))

    def per_invocation(self, name: str) -> list[float]:
        """One metric's value for each invocation, in the order they were flushed."""
        with self._lock:
            return [values[name] for values in self._invocations if name in values]

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self._totals)


def emf_values(line: str) -> dict[str, float] | None:
    """The metric values of one EMF log line, or None when the line is not EMF."""
    try:
        document = json.loads(line)
    except ValueError:
        return None
    if not isinstance(document, dict) or "_aws" not in document:
        return None
    values: dict[str, float] = {}
    for directive in document["_aws"].get("CloudWatchMetrics", []):
        for metric in directive.get("Metrics", []):
            value = document.get(metric["Name"])
            if metric.get("Unit") == "Count":
                values[metric["Name"]] = float(sum(value) if isinstance(value, list) else value or 0)
    return values


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

    def invoke(self, event: dict[str, Any]) -> Any:
        connection = self._ensure_started()
        end = time.monotonic() + self._timeout_seconds + _IPC_GRACE_SECONDS
        try:
            connection.send(("invoke", event))
            while connection.poll(max(0.0, end - time.monotonic())):
                kind, payload = connection.recv()
                if kind == "metrics":
                    self._metrics.add(payload)
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
                values = emf_values(line)
                if values is None:
                    self._log.write(line + "\n")
                else:
                    self._connection.send(("metrics", values))
        return len(text)

    def flush(self) -> None:
        self._log.flush()


def _serve(
    connection: Connection, handler_path: str, environment: dict[str, str], timeout: float, log_path: str
) -> None:
    import os  # noqa: PLC0415 - runs in the child process

    os.environ.update(environment)
    log = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    # Before the handler is imported: Powertools binds its log stream to stdout at import time.
    sys.stdout = _StdoutRouter(connection, log)
    sys.stderr = log
    module_name, function_name = handler_path.rsplit(".", 1)
    handler: Callable[[Any, Any], Any] = getattr(importlib.import_module(module_name), function_name)
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
