"""Keycloak's ceiling and ours on PostgreSQL beside H2, with and without a password per user.

For each database a fresh Keycloak is started on the server CPUs (PostgreSQL shares them: the
server side is Keycloak and its database together), warmed up, then measured with two clients:
``limit`` (python-keycloak ``create_user`` from 10 threads per process: Keycloak's ceiling) and
``ours`` (``process_event`` on batches of 10, ``MAX_WORKERS=10``). Repetitions are outermost and
the order of the clients alternates, so drift hits both alike; the claims are ratios in the same
run (ours / limit on each database, PostgreSQL / H2 for each client), computed in bench/figures.py.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bench.cli import Options
from bench.records import DatabaseTrial
from bench.server import keycloak_under_test
from bench.trials import Kind, PoolSpec, TrialResult, Where, WorkerPool
from bench.workload import BATCH_SIZE

if TYPE_CHECKING:
    from registrar_local.keycloak_server import Database

MEASURED: tuple[Database, ...] = ("postgres", "dev-file")
NAMES: dict[str, str] = {"postgres": "PostgreSQL", "dev-file": "H2 (dev-file)"}
KINDS: tuple[Kind, ...] = ("limit", "ours")
IN_FLIGHT = 10
# Hashing dominates with passwords: one process of 10 threads already saturates Keycloak.
PASSWORD_REPS = 2


def measure(options: Options, where: Where, log: Callable[[str], None]) -> list[DatabaseTrial]:
    """Every trial on every database in MEASURED, each on a Keycloak started (and stopped) for it."""
    trials: list[DatabaseTrial] = []
    for database in MEASURED:
        log(f"  starting Keycloak on {NAMES[database]}")
        with keycloak_under_test(None, None, where.server_cpus, database) as target:

            def pool(kind: Kind, processes: int, with_password: bool = False) -> WorkerPool:
                return WorkerPool(
                    PoolSpec(
                        kind=kind,
                        keycloak_url=target.url,
                        run_id=where.run_id,
                        processes=processes,
                        in_flight=IN_FLIGHT,
                        log_path=where.log_path,
                        with_password=with_password,
                        cpus=where.client_cpus,
                    )
                )

            trials += _measure_one(database, pool, options, log)
    return trials


def _measure_one(
    database: Database,
    pool: Callable[..., WorkerPool],
    options: Options,
    log: Callable[[str], None],
) -> list[DatabaseTrial]:
    tag = "pg" if database == "postgres" else "h2"
    trials: list[DatabaseTrial] = []

    def record(result: TrialResult, rep: int) -> None:
        trials.append(DatabaseTrial.on(database, rep, result))
        log(
            f"  {NAMES[database]:<13} rep {rep} {result.kind:<5} x{result.processes}"
            f"{' password' if result.with_password else ''}: {result.users_per_second:7.1f} users/s"
        )

    with contextlib.ExitStack() as started:
        pools = {(kind, level): started.enter_context(pool(kind, level)) for level in options.levels for kind in KINDS}
        deadline, rounds = time.monotonic() + options.warmup_seconds, 0
        while rounds == 0 or time.monotonic() < deadline:
            for each in pools.values():
                each.run(f"{tag}w{rounds}", 3)
            rounds += 1
        for rep in range(options.reps):
            for level in options.levels:
                for kind in KINDS if rep % 2 == 0 else tuple(reversed(KINDS)):
                    record(pools[(kind, level)].run(f"{tag}{kind[0]}{level}r{rep}", options.batches), rep)
    batches = max(1, options.password_users // BATCH_SIZE)
    for rep in range(PASSWORD_REPS):
        for kind in KINDS if rep % 2 == 0 else tuple(reversed(KINDS)):
            with pool(kind, 1, with_password=True) as each:
                record(each.run(f"{tag}{kind[0]}pw{rep}", batches), rep)
    return trials
