"""The run: each part measures into the typed results; then the table, results.json and the plot."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import batches, coldstart, databases, local_stack, machine, outage_model, plot, recovery, report
from bench.cli import KEYCLOAK_PARTS, SOURCE, Options
from bench.figures import all_figures
from bench.package import sam_build
from bench.proxy import DelayProxy
from bench.records import (
    SHIPPED,
    VARIANTS,
    Distribution,
    ImportShare,
    Invocation,
    Machine,
    Overhead,
    Package,
    RequestCount,
    RunSettings,
    SuiteResults,
    Trial,
)
from bench.server import KeycloakTarget, keycloak_under_test, request_counts, split_cpus
from bench.trials import CODES, Kind, PoolSpec, Where, WorkerPool
from bench.workload import BATCH_SIZE, new_run_id

IN_FLIGHT: dict[Kind, int] = {"limit": 10, "limit_batched": 10, "ours": 10, "naive": 1}
KINDS: tuple[Kind, ...] = ("limit", "ours", "naive", "limit_batched")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Suite:
    options: Options
    run_id: str = field(default_factory=new_run_id)
    server_cpus: tuple[int, ...] = ()
    client_cpus: tuple[int, ...] = ()
    results: SuiteResults = field(init=False)

    def __post_init__(self) -> None:
        self.results = SuiteResults(
            settings=RunSettings(
                levels=list(self.options.levels),
                latency_ms=self.options.latency_ms,
                parts=sorted(self.options.parts),
                quick=self.options.quick,
                run_id=self.run_id,
                options={
                    key: sorted(value) if isinstance(value, frozenset) else value
                    for key, value in dataclasses.asdict(self.options).items()
                },
            )
        )

    @property
    def log_path(self) -> str:
        return str(self.options.out / "workers.log")

    def attempt(self, part: str, name: str, step: Callable[[], None]) -> None:
        """Run one part of the suite (if chosen); a failure is recorded and the rest still runs."""
        if part not in self.options.parts:
            return
        started = time.monotonic()
        log(f"{name} ...")
        try:
            step()
        except Exception as error:  # noqa: BLE001 - reported in the table and the JSON
            self.results.errors.append(f"{name}: {type(error).__name__}: {error}")
            log(f"{name} FAILED: {error}\n{traceback.format_exc()}")
        else:
            log(f"{name} done in {time.monotonic() - started:.0f}s")

    def pool(self, kind: Kind, url: str, processes: int, latency_ms: float = 0.0, **extra: Any) -> WorkerPool:
        return WorkerPool(
            PoolSpec(
                kind=kind,
                keycloak_url=url,
                run_id=self.run_id,
                processes=processes,
                in_flight=IN_FLIGHT[kind],
                log_path=self.log_path,
                latency_ms=latency_ms,
                cpus=self.client_cpus,
                **extra,
            )
        )

    def sweep(self, url: str, latency_ms: float, reps: int, batches: int, warm: float) -> None:
        """Every kind at every level, repetitions outermost and the order of kinds rotating."""
        prefix = f"t{int(latency_ms)}"
        levels = self.options.levels
        with contextlib.ExitStack() as stack:
            pools = {
                (kind, level): stack.enter_context(self.pool(kind, url, level, latency_ms))
                for level in levels
                for kind in KINDS
            }
            deadline, round_number = time.monotonic() + warm, 0
            while round_number == 0 or time.monotonic() < deadline:
                for pool in pools.values():
                    pool.run(f"{prefix}w{round_number}", 3)
                round_number += 1
            log(f"  warmed up with {round_number} rounds")
            for rep in range(reps):
                for level in levels:
                    shift = rep % len(KINDS)
                    for kind in [*KINDS[shift:], *KINDS[:shift]]:
                        result = pools[(kind, level)].run(f"{prefix}{CODES[kind]}{level}r{rep}", batches)
                        self.results.trials.append(Trial.of(rep, result))
                        log(
                            f"  rep {rep} {kind:<13} x{level} +{latency_ms:.0f}ms: "
                            f"{result.users_per_second:7.1f} users/s, batch {result.median_batch_ms or 0:6.1f} ms, "
                            f"failures {result.failures}"
                        )

    def passwords(self, url: str) -> None:
        with self.pool("limit", url, 1, with_password=True) as pool:
            result = pool.run("pw", max(1, self.options.password_users // BATCH_SIZE))
        self.results.trials.append(Trial.of(0, result))

    def request_count(self, target: KeycloakTarget) -> None:
        users_per_invocation = max(BATCH_SIZE, self.options.count_users // 2)
        with DelayProxy(target.port, 0.0, max_lifetime_seconds=900) as proxy:
            before = request_counts(target.metrics_url) if target.metrics_url else None
            with self.pool("ours", proxy.url, 2) as pool:
                result = pool.run("rq", users_per_invocation // BATCH_SIZE, warm_up=False)
            time.sleep(1.0)
            after = request_counts(target.metrics_url) if target.metrics_url else None
            seen_by_proxy = proxy.requests()
        delta = dict(after - before) if before is not None and after is not None else None
        self.results.requests = RequestCount(
            users=result.users,
            failures=result.failures,
            proxy=dict(seen_by_proxy),
            proxy_total=sum(seen_by_proxy.values()),
            proxy_unframed_connections=proxy.unframed_connections,
            keycloak=delta,
            keycloak_total=None if delta is None else sum(delta.values()),
            keycloak_exclusive=target.started_here,
        )


@contextlib.contextmanager
def _maybe_trees(suite: Suite, needed: bool) -> Iterator[coldstart.FunctionTrees | None]:
    """The package copies for the cold-start probes, or None (and an error) when pip cannot make them."""
    with contextlib.ExitStack() as stack:
        trees: coldstart.FunctionTrees | None = None
        try:
            if needed:
                trees = stack.enter_context(coldstart.function_trees(suite.options.source))
        except Exception as error:  # noqa: BLE001 - the other figures still run
            suite.results.errors.append(f"function trees: {type(error).__name__}: {error}")
        yield trees


def _shares(items: Sequence[dict[str, Any]]) -> list[ImportShare]:
    return [ImportShare(**item) for item in items]


def measure_offline(suite: Suite, trees: coldstart.FunctionTrees | None) -> None:
    """What needs no Keycloak: the package, long outages modelled, import times, the function's own cost."""
    options, results = suite.options, suite.results

    def build() -> None:
        built = sam_build(options.source)
        results.package = Package(
            unpacked_bytes=built.unpacked_bytes,
            zipped_bytes=built.zipped_bytes,
            build_seconds=built.build_seconds,
            files=built.files,
            bytecode_files=built.bytecode_files,
            distributions=[Distribution(**item) for item in built.distributions],
        )

    suite.attempt("build", "sam build", build)

    def model() -> None:
        results.outage_model = outage_model.measure()

    suite.attempt("outage-model", "long outages, modelled", model)
    if trees is None:
        return

    def imports() -> None:
        results.imports = coldstart.import_times(trees, options.import_runs, suite.client_cpus).runs
        results.import_breakdown = {
            variant: _shares(coldstart.import_breakdown(trees, variant, "registrar.handler", suite.client_cpus))
            for variant in VARIANTS
        }
        results.import_breakdown_naive = _shares(
            coldstart.import_breakdown(trees, SHIPPED, "bench.naive", suite.client_cpus)
        )

    def overhead() -> None:
        measured = coldstart.client_overhead(trees, suite.client_cpus)
        results.overhead = {level: Overhead(**values) for level, values in measured.items()}

    suite.attempt("imports", "import times", imports)
    suite.attempt("overhead", "client overhead", overhead)


def measure_against(suite: Suite, target: KeycloakTarget, trees: coldstart.FunctionTrees | None) -> None:
    """Everything that creates users: throughput, latency, passwords, request count, first invocations."""
    options, results = suite.options, suite.results
    suite.attempt(
        "throughput",
        "throughput, Keycloak as is",
        lambda: suite.sweep(target.url, 0.0, options.reps, options.batches, options.warmup_seconds),
    )

    def with_latency() -> None:
        with DelayProxy(target.port, options.latency_ms / 1000, max_lifetime_seconds=1800.0) as proxy:
            suite.sweep(proxy.url, options.latency_ms, options.latency_reps, options.latency_batches, 0.0)

    suite.attempt("latency", f"throughput, +{options.latency_ms:.0f} ms", with_latency)
    suite.attempt("passwords", "passwords", lambda: suite.passwords(target.url))
    suite.attempt("requests", "requests per user", lambda: suite.request_count(target))
    if trees is not None:

        def invocations() -> None:
            measured = coldstart.first_invocations(
                trees, SHIPPED, target.url, suite.run_id, options.invoke_runs, suite.client_cpus
            )
            results.invocations = {which: [Invocation(**run) for run in runs] for which, runs in measured.items()}

        suite.attempt("invocations", "first invocations", invocations)

    def stack() -> None:
        results.local_stack = local_stack.measure(
            target.url,
            target.server_pids,
            local_stack.QUICK_COUNTS if options.quick else local_stack.COUNTS,
            local_stack.ceiling_from(results.trials),
            lambda: local_stack.own_ceiling(lambda processes: suite.pool("limit", target.url, processes)),
            log,
        )

    suite.attempt("stack", "the whole local stack", stack)

    def batch_sizes() -> None:
        def pool(kind: Kind, url: str, latency_ms: float, size: int) -> WorkerPool:
            return suite.pool(kind, url, 1, latency_ms, batch_size=size)

        results.batches = batches.measure(target.url, target.port, options, pool, log)

    suite.attempt(
        "batches", f"batch sizes {', '.join(map(str, batches.SIZES))}, +0 and +{options.latency_ms:.0f} ms", batch_sizes
    )


def publish(suite: Suite) -> None:
    options, results = suite.options, suite.results
    figures = all_figures(results)
    print(report.table(figures, results.machine))
    print("\n" + report.provenance_line(results.provenance))
    if results.errors:
        print("\nerrors:\n  " + "\n  ".join(results.errors))
    report.write_json(options.out / "results.json", results, figures)
    drawn = plot.panels(results)
    if drawn:
        try:
            plot.plot(options.out / "throughput.png", drawn, plot.subtitle(results))
        except ImportError:
            print("\nno plot: matplotlib is not installed (pip install -r requirements-dev.txt)")
    print(f"\nwrote {options.out / 'results.json'} and {options.out / 'throughput.png'} in {results.seconds:.0f}s")


def _machine(keycloak_version: str, keycloak_database: str) -> Machine:
    return Machine(**machine.describe(keycloak_version, keycloak_database))


def measure_databases(suite: Suite) -> None:
    """PostgreSQL beside H2: Keycloak servers of its own, so not against a given Keycloak."""
    if suite.options.keycloak_url is not None:  # parse_options drops the part; Options built by hand may not
        log("  PostgreSQL beside H2 starts its own Keycloak servers: skipped with --keycloak-url")
        return
    if suite.client_cpus:
        os.sched_setaffinity(0, suite.client_cpus)
    where = Where(suite.run_id, suite.server_cpus, suite.client_cpus, suite.log_path)
    suite.results.databases = databases.measure(suite.options, where, log)


def measure_recovery(suite: Suite) -> None:
    """A Keycloak outage under load: a Keycloak of its own, which it stops and starts again."""
    if suite.options.keycloak_url is not None:  # parse_options drops the part; Options built by hand may not
        log("  recovery stops and starts its own Keycloak: skipped with --keycloak-url")
        return
    where = Where(suite.run_id, suite.server_cpus, suite.client_cpus, suite.log_path)
    suite.results.recovery = recovery.measure(suite.options, where, log)


def run(options: Options) -> int:
    started = time.monotonic()
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "workers.log").write_text("", encoding="utf-8")
    suite = Suite(options)
    suite.server_cpus, suite.client_cpus = split_cpus(pin=options.pin and options.keycloak_url is None)
    results = suite.results
    results.settings = dataclasses.replace(
        results.settings, server_cpus=list(suite.server_cpus), client_cpus=list(suite.client_cpus)
    )
    results.provenance = report.provenance(options.source)
    log(f"run {suite.run_id}: Keycloak CPUs {suite.server_cpus}, client CPUs {suite.client_cpus}")
    if options.source != SOURCE:
        # Worker processes inherit this path: they import the function from `source` too.
        sys.path.insert(0, str(options.source))
        log(f"measuring the function in {options.source}")
    results.machine = _machine("not started", "not started")
    needs_trees = bool(options.parts & {"imports", "overhead", "invocations"})
    with _maybe_trees(suite, needs_trees) as trees:
        measure_offline(suite, trees)
        if options.parts & KEYCLOAK_PARTS:
            log("starting Keycloak" if options.keycloak_url is None else f"using Keycloak at {options.keycloak_url}")
            with keycloak_under_test(options.keycloak_url, options.metrics_url, suite.server_cpus) as target:
                results.machine = _machine(target.version, target.database)
                if suite.client_cpus:
                    os.sched_setaffinity(0, suite.client_cpus)
                measure_against(suite, target, trees)
    suite.attempt("databases", "PostgreSQL beside H2", lambda: measure_databases(suite))
    suite.attempt("recovery", "recovery after a Keycloak outage", lambda: measure_recovery(suite))
    load = [round(value, 2) for value in os.getloadavg()]
    results.machine = dataclasses.replace(results.machine, load_average_at_end=load)
    results.seconds = round(time.monotonic() - started, 1)
    publish(suite)
    return 1 if results.errors else 0
