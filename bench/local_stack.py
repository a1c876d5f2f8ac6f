"""Section 8, the whole local stack: ElasticMQ, the pollers and the function environments in front of Keycloak.

Each run enqueues N generated registrations (plus events/) the way `make demo` does, with the
consumers polling from the start, and counts users/s from the first send to the empty queue.
The figure is a ratio to Keycloak's direct ceiling (section 1) measured in the same run, so
that a slower or busier machine moves both. Peak RSS is read per process (VmHWM), so that a
user knows what a run of that size costs.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.report import INFO, Figure, check

SECTION = "8. The whole local stack: ElasticMQ + pollers + function environments (users/s, first send to empty queue)"
COUNTS = (10_000, 50_000)
QUICK_COUNTS = (1_000, 5_000)
TARGET_RATIO = 0.8
_OWN_CEILING_REPS = 3
_OWN_CEILING_BATCHES = 20
_OWN_CEILING_PROCESSES = 4  # 40 requests in flight, the largest level of section 1


def measure(
    url: str,
    counts: Sequence[int],
    ceiling_rates: Sequence[float],
    measure_ceiling: Callable[[], list[float]],
    log: Callable[[str], None],
) -> dict[str, Any]:
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
            DemoOptions(count=count, keycloak_url=url, dashboard=False, stop_leftovers=False),
            Console(stderr=True, soft_wrap=True),
        )
        figures = result.figures
        totals = result.run.metrics.snapshot()
        created = int(totals.get(CREATED, 0))
        seconds = (figures.drained_at or time.time()) - (result.first_send or time.time())
        memory = dict(result.memory.peaks)
        keycloak_rss = _keycloak_peak_rss()
        if keycloak_rss is not None:
            memory["keycloak (the benchmark's)"] = keycloak_rss
        latencies = sorted(result.run.metrics.created_latencies())
        runs.append(
            {
                "count": count,
                "sent": figures.sent,
                "created": created,
                "in_dlq": figures.in_dlq,
                "left": figures.left,
                "drained": figures.drained,
                "seconds_first_send_to_empty": round(seconds, 2),
                "users_per_second": created / seconds if seconds > 0 else None,
                "peak_queue_depth": figures.peak_depth,
                "latency_p50_s": _nearest_rank(latencies, 0.5),
                "latency_p99_s": _nearest_rank(latencies, 0.99),
                "duplicates_in_batch": result.run.metrics.duplicates_in_batch(),
                "peak_rss_bytes": memory,
                "exit_code": result.exit_code,
            }
        )
        log(f"  {count}: {runs[-1]['users_per_second'] or 0:.1f} users/s over {seconds:.0f} s, exit {result.exit_code}")
        if result.interrupted_by is not None:
            raise KeyboardInterrupt
    return {"ceiling_rates": rates, "ceiling_measured_here": measured_here, "runs": runs}


def _nearest_rank(ordered: Sequence[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _keycloak_peak_rss() -> int | None:
    """Peak RSS of the Keycloak this benchmark started (its java, under kc.sh), if it is ours."""
    from registrar_local.processes import command_line, descendants, peak_rss_bytes

    peaks = [
        peak
        for pid in descendants(os.getpid())
        if "quarkus-run.jar" in command_line(pid) and (peak := peak_rss_bytes(pid)) is not None
    ]
    return max(peaks) if peaks else None


def figures(data: dict[str, Any]) -> list[Figure]:
    measured = data.get("local_stack")
    if not measured:
        return []
    rates = measured["ceiling_rates"]
    ceiling = max(rates) if rates else None
    where = "measured by this section" if measured["ceiling_measured_here"] else "section 1, best level"
    found = [Figure(SECTION, "Keycloak's direct ceiling", ceiling, "users/s", note=where)]
    largest = max(run["count"] for run in measured["runs"])
    for run in measured["runs"]:
        ratio = run["users_per_second"] / ceiling if run["users_per_second"] and ceiling else None
        decisive = run["count"] == largest
        found += [
            Figure(
                SECTION,
                f"{run['count']} registrations: users/s",
                run["users_per_second"],
                "users/s",
                note=f"{run['seconds_first_send_to_empty']:.0f} s, peak depth {run['peak_queue_depth']}, "
                f"latency p50 {run['latency_p50_s'] or 0:.1f} s p99 {run['latency_p99_s'] or 0:.1f} s"
                + ("" if run["drained"] else ", did NOT drain"),
            ),
            Figure(
                SECTION,
                f"{run['count']} registrations: / Keycloak's ceiling",
                ratio,
                "x",
                f">= {TARGET_RATIO}" if decisive else "",
                (check(ratio, at_least=TARGET_RATIO) if run["drained"] else "FAIL") if decisive else INFO,
            ),
            Figure(
                SECTION,
                f"{run['count']} registrations: peak RSS, all local processes",
                sum(run["peak_rss_bytes"].values()) / 2**20,
                "MiB",
                note=", ".join(f"{name} {rss / 2**20:.0f}" for name, rss in sorted(run["peak_rss_bytes"].items())),
            ),
        ]
    return found


def ceiling_from(trials: Sequence[dict[str, Any]]) -> list[float]:
    """Section 1's medians of python-keycloak create_user per level (no latency, no password)."""
    by_level: dict[int, list[float]] = {}
    for trial in trials:
        if trial["kind"] == "limit" and not trial["latency_ms"] and not trial["with_password"]:
            by_level.setdefault(trial["processes"], []).append(trial["users_per_second"])
    return [statistics.median(rates) for rates in by_level.values()]


def own_ceiling(pool: Callable[[int], Any]) -> list[float]:
    """Section 1's measurement, in small, for a run that skipped it: 4 x 10 threads of create_user."""
    with pool(_OWN_CEILING_PROCESSES) as workers:
        workers.run("stw", 3)
        return [workers.run(f"stc{rep}", _OWN_CEILING_BATCHES).users_per_second for rep in range(_OWN_CEILING_REPS)]


def run_section(suite: Any, url: str, log: Callable[[str], None]) -> None:
    """The hook for `python -m bench`: measure, and keep the data for figures() and results.json."""
    counts = QUICK_COUNTS if suite.args.quick else COUNTS
    suite.data["local_stack"] = measure(
        url,
        counts,
        ceiling_from(suite.trials),
        lambda: own_ceiling(lambda processes: suite.pool("limit", url, processes)),
        log,
    )
