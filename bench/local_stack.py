"""Section 8, the whole local stack: ElasticMQ, the pollers and the function environments in front of Keycloak.

Each run enqueues N generated registrations (plus events/) the way `make demo` does, with the
consumers polling from the start, and counts users/s from the first send to the empty queue.
The figure is a ratio to Keycloak's direct ceiling (section 1) measured in the same run, so
that a slower or busier machine moves both. Peak RSS is read per process (VmHWM), so that a
user knows what a run of that size costs; PostgreSQL's processes as one figure, the largest sum of
their proportional shares (Pss) sampled, since they share their buffers.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bench.records import LocalStack, StackRun, Trial

COUNTS = (10_000, 50_000)
QUICK_COUNTS = (1_000, 5_000)
_OWN_CEILING_REPS = 3
_OWN_CEILING_BATCHES = 20
_OWN_CEILING_PROCESSES = 4  # 40 requests in flight, the largest level of section 1


def measure(
    url: str,
    server_pids: Mapping[str, int],
    counts: Sequence[int],
    ceiling_rates: Sequence[float],
    measure_ceiling: Callable[[], list[float]],
    log: Callable[[str], None],
) -> LocalStack:
    """One run of the local stack per count; the ceiling from section 1, else measured here first."""
    from rich.console import Console

    from registrar_local.demo import DemoOptions, run_demo
    from registrar_local.run_report import CREATED

    measured_here = not ceiling_rates
    rates = list(ceiling_rates) or measure_ceiling()
    runs = []
    for count in counts:
        log(f"  the local stack with {count} registrations ...")
        result = run_demo(
            DemoOptions(
                count=count,
                keycloak_url=url,
                dashboard=False,
                stop_leftovers=False,
                servers_beside={f"{name} (the benchmark's)": pid for name, pid in server_pids.items()},
            ),
            Console(stderr=True, soft_wrap=True),
        )
        figures = result.figures
        totals = result.run.metrics.snapshot()
        created = int(totals.get(CREATED, 0))
        seconds = (figures.drained_at or time.time()) - (result.first_send or time.time())
        memory = dict(result.memory.peaks)
        latencies = sorted(result.run.metrics.created_latencies())
        runs.append(
            StackRun(
                count=count,
                sent=figures.sent,
                created=created,
                in_dlq=figures.in_dlq,
                left=figures.left,
                drained=figures.drained,
                seconds_first_send_to_empty=round(seconds, 2),
                users_per_second=created / seconds if seconds > 0 else None,
                peak_queue_depth=figures.peak_depth,
                latency_p50_s=_nearest_rank(latencies, 0.5),
                latency_p99_s=_nearest_rank(latencies, 0.99),
                duplicates_in_batch=result.run.metrics.duplicates_in_batch(),
                peak_rss_bytes=memory,
                exit_code=result.exit_code,
            )
        )
        log(f"  {count}: {runs[-1].users_per_second or 0:.1f} users/s over {seconds:.0f} s, exit {result.exit_code}")
        if result.interrupted_by is not None:
            raise KeyboardInterrupt
    return LocalStack(ceiling_rates=rates, ceiling_measured_here=measured_here, runs=runs)


def _nearest_rank(ordered: Sequence[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def ceiling_from(trials: Sequence[Trial]) -> list[float]:
    """Section 1's medians of python-keycloak create_user per level (no latency, no password)."""
    by_level: dict[int, list[float]] = {}
    for trial in trials:
        if trial.kind == "limit" and not trial.latency_ms and not trial.with_password:
            by_level.setdefault(trial.processes, []).append(trial.users_per_second)
    return [statistics.median(rates) for rates in by_level.values()]


def own_ceiling(pool: Callable[[int], Any]) -> list[float]:
    """Section 1's measurement, in small, for a run that skipped it: 4 x 10 threads of create_user."""
    with pool(_OWN_CEILING_PROCESSES) as workers:
        workers.run("stw", 3)
        return [workers.run(f"stc{rep}", _OWN_CEILING_BATCHES).users_per_second for rep in range(_OWN_CEILING_REPS)]
