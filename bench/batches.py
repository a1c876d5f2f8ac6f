"""Batch sizes: ours on SQS events of 10, 50 and 100 records against Keycloak's ceiling, in the same run.

One process each, as one execution environment: ``ours`` (``process_event``, ``MAX_WORKERS=10``)
at every size in SIZES, and ``limit`` (python-keycloak ``create_user`` from 10 threads, a
continuous stream: the ceiling for 10 requests in flight). Every trial registers the same number
of users whatever the size, so a larger batch means fewer invocations, not more work. The sweep
runs on Keycloak as is, then again through the delay proxy (+`--latency-ms`); repetitions are
outermost and the order rotates, so drift hits every size alike. The figures (users/s, ratio to
the limit per repetition, batch p50/p99) are computed in bench/figures.py.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from bench.cli import Options
from bench.proxy import DelayProxy
from bench.records import Trial
from bench.trials import Kind, WorkerPool

SIZES: tuple[int, ...] = (10, 50, 100)
# Users per trial: a multiple of every size, so each size sends whole batches of the same users.
USERS = 1000
QUICK_USERS = 400
# The pools of one sweep: (kind, batch size). The limit streams: its batch size only groups its users.
POOLS: tuple[tuple[Kind, int], ...] = (("limit", 10), *(("ours", size) for size in SIZES))

PoolFactory = Callable[[Kind, str, float, int], WorkerPool]
"""A warm pool of one process: (kind, Keycloak URL, injected latency in ms, batch size)."""


def users_per_trial(options: Options) -> int:
    return QUICK_USERS if options.quick else USERS


def measure(url: str, port: int, options: Options, pool: PoolFactory, log: Callable[[str], None]) -> list[Trial]:
    """Every pool of POOLS at every repetition, on Keycloak as is and then with +latency_ms."""
    trials: list[Trial] = []
    trials += _sweep(url, 0.0, options.warmup_seconds, options, pool, log)
    with DelayProxy(port, options.latency_ms / 1000, max_lifetime_seconds=1800.0) as proxy:
        trials += _sweep(proxy.url, options.latency_ms, 0.0, options, pool, log)
    return trials


def _sweep(
    url: str,
    latency_ms: float,
    warm_seconds: float,
    options: Options,
    pool: PoolFactory,
    log: Callable[[str], None],
) -> list[Trial]:
    users = users_per_trial(options)
    prefix = f"z{int(latency_ms)}"
    trials: list[Trial] = []
    with contextlib.ExitStack() as started:
        pools = {(kind, size): started.enter_context(pool(kind, url, latency_ms, size)) for kind, size in POOLS}
        # Keycloak's JIT warms up on every pool's work before anything is measured.
        deadline, rounds = time.monotonic() + warm_seconds, 0
        while rounds == 0 or time.monotonic() < deadline:
            for each in pools.values():
                each.run(f"{prefix}w{rounds}", 1)
            rounds += 1
        for rep in range(options.reps):
            shift = rep % len(POOLS)
            for kind, size in [*POOLS[shift:], *POOLS[:shift]]:
                result = pools[(kind, size)].run(f"{prefix}{kind[0]}{size}r{rep}", users // size)
                trials.append(Trial.of(rep, result))
                log(
                    f"  rep {rep} {kind:<5} batch {size:>3} +{latency_ms:.0f}ms: "
                    f"{result.users_per_second:7.1f} users/s, batch {result.median_batch_ms or 0:7.1f} ms, "
                    f"failures {result.failures}"
                )
    return trials
