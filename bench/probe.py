"""Measurements that need a fresh interpreter: `python -m bench.probe MODE [ARGS]`, prints one JSON line.

Modes:
- ``import ours|naive-imports|naive-module``: how long the module prologue takes;
- ``invoke ours|naive RUN_ID TAG``: import, then a first (cold) and a second (warm) invocation
  with a batch of ten new users each, and the process's peak RSS;
- ``overhead LOG_LEVEL BATCHES``: the function's own cost per batch of ten with a Keycloak
  that answers instantly (no network), and what a thread pool per batch costs.

The function's stdout (its logs) goes to /dev/null; the result is written to the original stdout.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

NAIVE_IMPORTS = """
from aws_lambda_powertools import Logger, Metrics, Tracer
from keycloak import KeycloakAdmin
from pydantic import BaseModel
logger = Logger(service="naive")
metrics = Metrics(namespace="Naive", service="naive")
tracer = Tracer(service="naive")
"""

_MODULES = {"ours": "registrar.handler", "naive-module": "bench.naive", "naive": "bench.naive"}


def _silence_stdout() -> int:
    """Point fd 1 at /dev/null; returns a duplicate of the original for the result."""
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    return saved


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure_import(which: str) -> dict[str, Any]:
    started = time.perf_counter()
    if which == "naive-imports":
        exec(compile(NAIVE_IMPORTS, "<naive imports>", "exec"), {})
    else:
        importlib.import_module(_MODULES[which])
    return {"import_ms": (time.perf_counter() - started) * 1000, "modules": len(sys.modules)}


def measure_invocations(which: str, run_id: str, tag: str) -> dict[str, Any]:
    from tests.kit.events import lambda_context, sqs_event

    from bench.workload import Names

    names = Names(run_id)
    events = [sqs_event(*names.bodies(f"{tag}i{number}", 0, 10), prefix=f"{tag}-{number}") for number in range(2)]
    started = time.perf_counter()
    module = importlib.import_module(_MODULES[which])
    imported = time.perf_counter()
    rss_after_import = _peak_rss_mb()
    handler: Callable[[Any, Any], dict[str, Any]] = module.lambda_handler
    timings: list[float] = []
    failures = 0
    rss: list[float] = []
    for event in events:
        begun = time.perf_counter()
        response = handler(event, lambda_context(30))
        timings.append((time.perf_counter() - begun) * 1000)
        failures += len(response.get("batchItemFailures") or [])
        rss.append(_peak_rss_mb())
    return {
        "import_ms": (imported - started) * 1000,
        "first_invocation_ms": timings[0],
        "second_invocation_ms": timings[1],
        "failures": failures,
        "peak_rss_mb_after_import": rss_after_import,
        "peak_rss_mb_after_first_batch": rss[0],
        "peak_rss_mb": rss[1],
    }


def measure_overhead(batches: int) -> dict[str, Any]:
    """process_event with the Keycloak adapter replaced by the tests' in-memory one, which answers at once."""
    from tests.kit.directory import MemoryDirectory
    from tests.kit.events import sqs_event

    from bench.workload import Names
    from registrar.config import Settings
    from registrar.domain.deadline import Deadline
    from registrar.observability import metrics
    from registrar.processor import process_event
    from registrar.runtime import build_runtime

    settings = Settings.from_environment()
    policy = settings.policy
    # The realm as the local stack sets it up: every allowlisted group, every attribute declared.
    directory = MemoryDirectory(
        groups=set(policy.allowed_groups),
        declared_attributes={policy.registration_id_attribute, *policy.allowed_attributes},
    )
    runtime = build_runtime(settings, directory=directory)
    names = Names("overhead")
    events = [sqs_event(*names.bodies(f"o{number}", 0, 10), prefix=f"o-{number}") for number in range(batches + 20)]

    def invoke(event: dict[str, Any]) -> None:
        process_event(event, Deadline.after(30, 0), runtime)
        metrics.flush_metrics()

    for event in events[:20]:
        invoke(event)
    wall, cpu = time.perf_counter(), time.process_time()
    for event in events[20:]:
        invoke(event)
    per_batch_ms = (time.perf_counter() - wall) * 1000 / batches
    cpu_per_batch_ms = (time.process_time() - cpu) * 1000 / batches
    return {
        "batch_ms": per_batch_ms,
        "batch_cpu_ms": cpu_per_batch_ms,
        **_thread_pool_costs(batches),
    }


def _thread_pool_costs(rounds: int) -> dict[str, float]:
    """Ten no-op tasks: on a new 10-thread pool each round (as fan_out does) or on one kept pool."""

    def task() -> None:
        return None

    started = time.perf_counter()
    for _ in range(rounds):
        executor = ThreadPoolExecutor(max_workers=10)
        wait([executor.submit(task) for _ in range(10)])
        executor.shutdown(wait=False)
    new_pool_ms = (time.perf_counter() - started) * 1000 / rounds
    with ThreadPoolExecutor(max_workers=10) as executor:
        wait([executor.submit(task) for _ in range(10)])
        started = time.perf_counter()
        for _ in range(rounds):
            wait([executor.submit(task) for _ in range(10)])
        kept_pool_ms = (time.perf_counter() - started) * 1000 / rounds
    return {"new_pool_per_batch_ms": new_pool_ms, "kept_pool_per_batch_ms": kept_pool_ms}


def main(argv: list[str]) -> int:
    saved = _silence_stdout()
    mode, *args = argv
    if mode == "import":
        result = measure_import(args[0])
    elif mode == "invoke":
        result = measure_invocations(args[0], args[1], args[2])
    elif mode == "overhead":
        os.environ["POWERTOOLS_LOG_LEVEL"] = args[0]
        result = measure_overhead(int(args[1]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    with os.fdopen(saved, "w") as out:
        out.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
