"""Keycloak's ceiling and ours on PostgreSQL beside H2, with and without a password per user.

For each database a fresh Keycloak is started on the server CPUs (PostgreSQL shares them: the
server side is Keycloak and its database together), warmed up, then measured with two clients:
``limit`` (python-keycloak ``create_user`` from 10 threads per process: Keycloak's ceiling) and
``ours`` (``process_event`` on batches of 10, ``MAX_WORKERS=10``). Repetitions are outermost and
the order of the clients alternates, so drift hits both alike; the claims are ratios in the same
run (ours / limit on each database, PostgreSQL / H2 for each client).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bench import claims
from bench.figures import Figure
from bench.server import keycloak_under_test
from bench.trials import Kind, PoolSpec, WorkerPool
from bench.workload import BATCH_SIZE

if TYPE_CHECKING:
    from bench.cli import Options
    from registrar_local.keycloak_server import Database

MEASURED: tuple[Database, ...] = ("postgres", "dev-file")
NAMES: dict[str, str] = {"postgres": "PostgreSQL", "dev-file": "H2 (dev-file)"}
KINDS: tuple[Kind, ...] = ("limit", "ours")
IN_FLIGHT = 10
SECTION = "8. PostgreSQL beside H2: Keycloak's ceiling and ours, without and with passwords"


def attach(
    data: dict[str, Any],
    args: Options,
    run_id: str,
    server_cpus: tuple[int, ...],
    client_cpus: tuple[int, ...],
    log_path: str,
    log: Callable[[str], None],
) -> None:
    """The part `databases` of `python -m bench`: its trials go to results.json under "databases"."""
    if args.keycloak_url is not None:
        log("  PostgreSQL beside H2 starts its own Keycloak servers: skipped with --keycloak-url")
        return
    data["databases"] = measure(args, run_id, server_cpus, client_cpus, log_path, log)


def measure(
    args: Options,
    run_id: str,
    server_cpus: tuple[int, ...],
    client_cpus: tuple[int, ...],
    log_path: str,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Every trial on every database in MEASURED; each trial dict says its database."""
    trials: list[dict[str, Any]] = []
    for database in MEASURED:
        log(f"  starting Keycloak on {NAMES[database]}")
        with keycloak_under_test(None, None, server_cpus, database) as target:

            def pool(kind: Kind, processes: int, with_password: bool = False) -> WorkerPool:
                return WorkerPool(
                    PoolSpec(
                        kind=kind,
                        keycloak_url=target.url,
                        run_id=run_id,
                        processes=processes,
                        in_flight=IN_FLIGHT,
                        log_path=log_path,
                        with_password=with_password,
                        cpus=client_cpus,
                    )
                )

            trials += _measure_one(database, pool, args, log)
    return trials


def _measure_one(
    database: Database,
    pool: Callable[..., WorkerPool],
    args: Options,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    tag = "pg" if database == "postgres" else "h2"
    trials: list[dict[str, Any]] = []

    def record(result: Any, rep: int) -> None:
        trials.append({"database": database, "rep": rep, **result.as_dict()})
        log(
            f"  {NAMES[database]:<13} rep {rep} {result.kind:<5} x{result.processes}"
            f"{' password' if result.with_password else ''}: {result.users_per_second:7.1f} users/s"
        )

    with contextlib.ExitStack() as started:
        pools = {(kind, level): started.enter_context(pool(kind, level)) for level in args.levels for kind in KINDS}
        deadline, rounds = time.monotonic() + args.warmup_seconds, 0
        while rounds == 0 or time.monotonic() < deadline:
            for each in pools.values():
                each.run(f"{tag}w{rounds}", 3)
            rounds += 1
        for rep in range(args.reps):
            for level in args.levels:
                for kind in KINDS if rep % 2 == 0 else tuple(reversed(KINDS)):
                    record(pools[(kind, level)].run(f"{tag}{kind[0]}{level}r{rep}", args.batches), rep)
    # Hashing dominates with passwords: one process of 10 threads already saturates Keycloak.
    batches = max(1, args.password_users // BATCH_SIZE)
    for rep in range(2):
        for kind in KINDS if rep % 2 == 0 else tuple(reversed(KINDS)):
            with pool(kind, 1, with_password=True) as each:
                record(each.run(f"{tag}{kind[0]}pw{rep}", batches), rep)
    return trials


def _rates(trials: Sequence[dict[str, Any]], database: str, kind: str, level: int, password: bool) -> list[float]:
    return [
        trial["users_per_second"]
        for trial in trials
        if trial["database"] == database
        and trial["kind"] == kind
        and trial["processes"] == level
        and trial["with_password"] == password
        and not trial["failures"]
    ]


def _paired(trials: Sequence[dict[str, Any]], top: tuple[str, str], bottom: tuple[str, str], level: int) -> list[float]:
    """Per repetition ratio of (database, kind) `top` to `bottom`, without passwords."""

    def by_rep(database: str, kind: str) -> dict[int, float]:
        return {
            trial["rep"]: trial["users_per_second"]
            for trial in trials
            if trial["database"] == database
            and trial["kind"] == kind
            and trial["processes"] == level
            and not trial["with_password"]
        }

    tops, bottoms = by_rep(*top), by_rep(*bottom)
    return [tops[rep] / bottoms[rep] for rep in tops if bottoms.get(rep)]


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _spread(values: Sequence[float]) -> str:
    return f"min {min(values):.1f}, max {max(values):.1f}, n={len(values)}" if values else "not measured"


def figures(trials: Sequence[dict[str, Any]], levels: Sequence[int]) -> list[Figure]:
    """Users per second for each database, client and level; the ratios that make the claims."""
    found: list[Figure] = []
    if not trials:
        return found
    for database in MEASURED:
        name = NAMES[database]
        for level in levels:
            for kind in KINDS:
                rates = _rates(trials, database, kind, level, password=False)
                found.append(
                    Figure(
                        SECTION,
                        f"{name}: {kind}, {IN_FLIGHT * level} in flight",
                        _median(rates),
                        "users/s",
                        note=_spread(rates),
                    )
                )
        for kind in KINDS:
            rates = _rates(trials, database, kind, 1, password=True)
            found.append(
                Figure(
                    SECTION,
                    f"{name}: {kind} with a password per user, {IN_FLIGHT} in flight",
                    _median(rates),
                    "users/s",
                    note=_spread(rates),
                )
            )
        for level in levels:
            ratios = _paired(trials, (database, "ours"), (database, "limit"), level)
            value = _median(ratios)
            found.append(
                Figure(
                    SECTION,
                    f"{name}: ours / limit at {IN_FLIGHT * level} in flight",
                    value,
                    "x",
                    claims.OURS_VS_LIMIT,
                    # Shown against the same target; the suite's own sweep decides the claim.
                    decisive=False,
                    note=_spread(ratios),
                )
            )
    for level in levels:
        for kind in KINDS:
            ratios = _paired(trials, ("postgres", kind), ("dev-file", kind), level)
            found.append(
                Figure(
                    SECTION,
                    f"PostgreSQL / H2, {kind} at {IN_FLIGHT * level} in flight",
                    _median(ratios),
                    "x",
                    note=_spread(ratios),
                )
            )
    return found
