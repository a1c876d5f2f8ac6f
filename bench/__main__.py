"""`python -m bench`: the whole benchmark suite against a local Keycloak; see bench/README.md."""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import coldstart, databases, machine, report
from bench.package import sam_build
from bench.proxy import DelayProxy
from bench.report import FAIL, INFO, Figure, Series, check
from bench.server import KeycloakTarget, keycloak_under_test, request_counts, split_cpus
from bench.trials import Kind, PoolSpec, WorkerPool
from bench.workload import BATCH_SIZE, new_run_id

RESULTS = Path(__file__).resolve().parent / "results"
SOURCE = Path(__file__).resolve().parent.parent / "src"
PARTS = ("build", "imports", "overhead", "throughput", "latency", "passwords", "requests", "invocations", "databases")
KEYCLOAK_PARTS = frozenset({"throughput", "latency", "passwords", "requests", "invocations"})
IN_FLIGHT: dict[Kind, int] = {"limit": 10, "limit_batched": 10, "ours": 10, "naive": 1}
CODES: dict[Kind, str] = {"limit": "l", "limit_batched": "b", "ours": "o", "naive": "n"}
LABELS: dict[Kind, str] = {
    "limit": "limit: python-keycloak, 10 threads per invocation",
    "limit_batched": "limit in batches of 10 (barrier only)",
    "ours": "ours: process_event, MAX_WORKERS=10",
    "naive": "naive: Powertools BatchProcessor, 1 record at a time",
}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--keycloak-url", help="use this Keycloak (with the project's realm) instead of starting one")
    parser.add_argument("--metrics-url", help="its metrics endpoint (management port), for counting requests")
    parser.add_argument("--invocations", default="1,2,4", help="concurrent invocations to sweep (default 1,2,4)")
    parser.add_argument("--reps", type=int, default=4, help="repetitions of each throughput trial (default 4)")
    parser.add_argument("--batches", type=int, default=20, help="batches of 10 per invocation per trial (default 20)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="latency injected in front of Keycloak")
    parser.add_argument("--latency-reps", type=int, default=3, help="repetitions with latency (default 3)")
    parser.add_argument("--latency-batches", type=int, default=10, help="batches per invocation with latency")
    parser.add_argument("--warmup-seconds", type=float, default=40.0, help="load before measuring (JIT warm-up)")
    parser.add_argument("--count-users", type=int, default=1000, help="users for the requests-per-user count")
    parser.add_argument("--password-users", type=int, default=40, help="users created with a password")
    parser.add_argument("--import-runs", type=int, default=5, help="fresh interpreters per import figure")
    parser.add_argument("--invoke-runs", type=int, default=3, help="fresh processes for the first invocation")
    parser.add_argument("--no-pin", action="store_true", help="let Keycloak and the clients share every CPU")
    parser.add_argument("--only", help=f"run only these parts (comma-separated: {', '.join(PARTS)})")
    parser.add_argument("--skip", default="", help="skip these parts (comma-separated)")
    parser.add_argument(
        "--source",
        type=Path,
        default=SOURCE,
        help="measure the function from this directory laid out like src/ (a proposed change) instead of src/",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: few repetitions, small trials")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory (default bench/results)")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps, args.batches, args.latency_reps, args.latency_batches = 2, 6, 1, 4
        args.warmup_seconds, args.count_users, args.password_users = 8.0, 200, 10
        args.import_runs, args.invoke_runs = 2, 1
    args.levels = [int(value) for value in args.invocations.split(",") if value.strip()]
    chosen = set(_names(args.only)) if args.only else set(PARTS)
    unknown = (chosen | set(_names(args.skip))) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    args.parts = chosen - set(_names(args.skip))
    args.source = args.source.resolve()
    return args


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Suite:
    args: argparse.Namespace
    run_id: str = field(default_factory=new_run_id)
    server_cpus: tuple[int, ...] = ()
    client_cpus: tuple[int, ...] = ()
    trials: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def log_path(self) -> str:
        return str(self.args.out / "workers.log")

    def attempt(self, part: str, name: str, step: Callable[[], None]) -> None:
        """Run one part of the suite (if chosen); a failure is recorded and the rest still runs."""
        if part not in self.args.parts:
            return
        started = time.monotonic()
        log(f"{name} ...")
        try:
            step()
        except Exception as error:  # noqa: BLE001 - reported in the table and the JSON
            self.errors.append(f"{name}: {type(error).__name__}: {error}")
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

    def sweep(self, url: str, latency_ms: float, kinds: Sequence[Kind], reps: int, batches: int, warm: float) -> None:
        """Every kind at every level, repetitions outermost and the order of kinds rotating."""
        prefix = f"t{int(latency_ms)}"
        with contextlib.ExitStack() as stack:
            pools = {
                (kind, level): stack.enter_context(self.pool(kind, url, level, latency_ms))
                for level in self.args.levels
                for kind in kinds
            }
            deadline, round_number = time.monotonic() + warm, 0
            while round_number == 0 or time.monotonic() < deadline:
                for pool in pools.values():
                    pool.run(f"{prefix}w{round_number}", 3)
                round_number += 1
            log(f"  warmed up with {round_number} rounds")
            for rep in range(reps):
                for level in self.args.levels:
                    shift = rep % len(kinds)
                    for kind in [*kinds[shift:], *kinds[:shift]]:
                        result = pools[(kind, level)].run(f"{prefix}{CODES[kind]}{level}r{rep}", batches)
                        self.trials.append({"rep": rep, **result.as_dict()})
                        log(
                            f"  rep {rep} {kind:<13} x{level} +{latency_ms:.0f}ms: "
                            f"{result.users_per_second:7.1f} users/s, batch {result.median_batch_ms or 0:6.1f} ms, "
                            f"failures {result.failures}"
                        )

    def passwords(self, url: str) -> None:
        with self.pool("limit", url, 1, with_password=True) as pool:
            result = pool.run("pw", max(1, self.args.password_users // BATCH_SIZE))
        self.trials.append({"rep": 0, **result.as_dict()})

    def request_count(self, target: KeycloakTarget) -> None:
        users_per_invocation = max(BATCH_SIZE, self.args.count_users // 2)
        with DelayProxy(target.port, 0.0, max_lifetime_seconds=900) as proxy:
            before = request_counts(target.metrics_url) if target.metrics_url else None
            with self.pool("ours", proxy.url, 2) as pool:
                result = pool.run("rq", users_per_invocation // BATCH_SIZE, warm_up=False)
            time.sleep(1.0)
            after = request_counts(target.metrics_url) if target.metrics_url else None
            seen_by_proxy = proxy.requests()
        counted: dict[str, Any] = {
            "users": result.users,
            "failures": result.failures,
            "proxy": dict(seen_by_proxy),
            "proxy_total": sum(seen_by_proxy.values()),
            "proxy_unframed_connections": proxy.unframed_connections,
        }
        if before is not None and after is not None:
            delta = after - before
            counted |= {"keycloak": dict(delta), "keycloak_total": sum(delta.values())}
        self.data["requests"] = counted


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _spread(values: Sequence[float]) -> str:
    return f"min {min(values):.0f}, max {max(values):.0f}, n={len(values)}" if values else ""


class Results:
    """Trial results grouped for the figures."""

    def __init__(self, trials: list[dict[str, Any]]) -> None:
        self.by: dict[tuple[str, float, int, bool], list[dict[str, Any]]] = defaultdict(list)
        for trial in trials:
            key = (trial["kind"], trial["latency_ms"], trial["processes"], trial["with_password"])
            self.by[key].append(trial)

    def trials(self, kind: str, latency: float, level: int, password: bool = False) -> list[dict[str, Any]]:
        return self.by.get((kind, latency, level, password), [])

    def rates(self, kind: str, latency: float, level: int, password: bool = False) -> list[float]:
        return [trial["users_per_second"] for trial in self.trials(kind, latency, level, password)]

    def paired(self, top: str, bottom: str, latency: float, level: int, key: str) -> list[float]:
        """Per repetition ratio top/bottom of `key`: drift between repetitions cancels out."""
        bottoms = {trial["rep"]: trial[key] for trial in self.trials(bottom, latency, level)}
        return [
            trial[key] / bottoms[trial["rep"]]
            for trial in self.trials(top, latency, level)
            if bottoms.get(trial["rep"]) and trial[key]
        ]


def _ceiling_figures(results: Results, args: argparse.Namespace) -> list[Figure]:
    figures: list[Figure] = []
    section = "1. Keycloak's ceiling: python-keycloak create_user, no queue, no handler"
    for level in args.levels:
        rates = results.rates("limit", 0.0, level)
        figures.append(
            Figure(
                section,
                f"limit, {10 * level} threads in {level} process(es)",
                _median(rates),
                "users/s",
                note=_spread(rates),
            )
        )
    for level in args.levels:
        rates = results.rates("limit_batched", 0.0, level)
        figures.append(
            Figure(
                section, f"limit in batches of 10, {level} x 10 threads", _median(rates), "users/s", note=_spread(rates)
            )
        )
    rates = results.rates("limit", 0.0, 1, password=True)
    figures.append(
        Figure(
            section,
            "limit with a password per user (Argon2), 10 threads",
            _median(rates),
            "users/s",
            note=_spread(rates),
        )
    )
    section = "2. Ours against the limit, the same number of requests in flight"
    for level in args.levels:
        rates = results.rates("ours", 0.0, level)
        figures.append(
            Figure(
                section, f"ours, {level} invocation(s) x MAX_WORKERS=10", _median(rates), "users/s", note=_spread(rates)
            )
        )
    for level in args.levels:
        ratios = results.paired("ours", "limit", 0.0, level, "users_per_second")
        value = _median(ratios)
        figures.append(
            Figure(
                section,
                f"ours / limit at {10 * level} in flight",
                value,
                "x",
                ">= 0.9",
                check(value, at_least=0.9),
                _ratio_spread(ratios),
            )
        )
    for level in args.levels:
        ratios = results.paired("ours", "limit_batched", 0.0, level, "users_per_second")
        figures.append(
            Figure(
                section,
                f"ours / limit in batches of 10 at {10 * level} in flight",
                _median(ratios),
                "x",
                note=_ratio_spread(ratios),
            )
        )
    for kind in ("limit", "ours", "naive"):
        cpu = [trial["client_cpu_ms_per_user"] for level in args.levels for trial in results.trials(kind, 0.0, level)]
        figures.append(Figure(section, f"client CPU per user, {kind}", _median(cpu), "ms"))
    return figures


def throughput_figures(results: Results, args: argparse.Namespace) -> list[Figure]:
    figures = _ceiling_figures(results, args) if "throughput" in args.parts else []
    if "throughput" not in args.parts and "passwords" in args.parts:
        figures = [figure for figure in _ceiling_figures(results, args) if "password" in figure.name]
    section = "3. Ours against the naive BatchProcessor: the same batches and invocations"
    chosen = {0.0: "throughput", args.latency_ms: "latency"}
    for latency in sorted(value for value, part in chosen.items() if part in args.parts):
        for level in args.levels:
            speedups = results.paired("naive", "ours", latency, level, "median_batch_ms")
            value = _median(speedups)
            naive_ms = _median([t["median_batch_ms"] for t in results.trials("naive", latency, level)])
            ours_ms = _median([t["median_batch_ms"] for t in results.trials("ours", latency, level)])
            # No client can beat Keycloak's ceiling: limit / naive throughput bounds any speedup here.
            bound = _median(results.paired("limit", "naive", latency, level, "users_per_second"))
            note = f"batch {ours_ms:.0f} ms vs {naive_ms:.0f} ms; " if naive_ms and ours_ms else ""
            note += f"ceiling allows {bound:.1f}x; " if bound else ""
            figures.append(
                Figure(
                    section,
                    f"speedup per batch, {level} invocation(s), +{latency:.0f} ms",
                    value,
                    "x",
                    ">= 5",
                    check(value, at_least=5.0),
                    note + _ratio_spread(speedups),
                )
            )
        if latency:
            for bottom, name in (("limit", "limit"), ("limit_batched", "limit in batches of 10")):
                for level in args.levels:
                    ratios = results.paired("ours", bottom, latency, level, "users_per_second")
                    figures.append(
                        Figure(
                            section,
                            f"ours / {name} at {10 * level} in flight, +{latency:.0f} ms",
                            _median(ratios),
                            "x",
                            note=_ratio_spread(ratios),
                        )
                    )
    return figures


def _ratio_spread(values: Sequence[float]) -> str:
    return f"per repetition {min(values):.2f}..{max(values):.2f}, n={len(values)}" if values else ""


def request_figures(data: dict[str, Any], target: KeycloakTarget | None) -> list[Figure]:
    section = "4. Keycloak HTTP requests per new user (token requests included)"
    counted = data.get("requests")
    if not counted:
        return [Figure(section, "requests per user", None, "", "<= 1.02", FAIL, "not measured")]
    users = counted["users"] or 1
    figures = []
    if "keycloak_total" in counted:
        exclusive = target is not None and target.started_here
        value = counted["keycloak_total"] / users
        figures.append(
            Figure(
                section,
                f"counted by Keycloak (metrics), {users} users",
                value,
                "",
                "<= 1.02",
                check(value, at_most=1.02) if exclusive else INFO,
                "" if exclusive else "shared server: other traffic may be counted",
            )
        )
    value = counted["proxy_total"] / users
    figures.append(
        Figure(
            section,
            f"counted by the proxy in front, {users} users",
            value,
            "",
            "<= 1.02",
            check(value, at_most=1.02) if "keycloak_total" not in counted else INFO,
        )
    )
    return figures


def coldstart_figures(data: dict[str, Any]) -> list[Figure]:
    section = "5. Cold start (fresh interpreter, the package's own files)"
    figures: list[Figure] = []
    imports = data.get("imports")
    if imports:
        for variant in ("as packaged", "with bytecode"):
            runs = imports[variant]
            ours = statistics.median(runs["ours"])
            naive = statistics.median(runs["naive-imports"])
            figures += [
                Figure(section, f"import registrar.handler, {variant}", ours, "ms", note=_spread(runs["ours"])),
                Figure(
                    section,
                    f"naive prologue (Powertools+keycloak+pydantic), {variant}",
                    naive,
                    "ms",
                    note=_spread(runs["naive-imports"]),
                ),
                Figure(
                    section,
                    f"handler init / naive, {variant}",
                    ours / naive,
                    "x",
                    "<= 0.6",
                    check(ours / naive, at_most=0.6),
                ),
            ]
    breakdown = data.get("import_breakdown", {}).get("as packaged")
    if breakdown:
        top = ", ".join(f"{item['package']} {item['self_ms']:.0f}" for item in breakdown[:6])
        figures.append(Figure(section, "biggest imports as packaged (self ms)", None, "", note=top))
    if imports:
        projected = statistics.median(imports["with bytecode"]["ours"]) / statistics.median(
            imports["as packaged"]["naive-imports"]
        )
        figures.append(
            Figure(
                section,
                "handler with bytecode / naive as packaged",
                projected,
                "x",
                "<= 0.6",
                INFO,
                "what shipping .pyc files would give (bench/README.md)",
            )
        )
    invocations = data.get("invocations")
    if invocations:
        for which in ("ours", "naive"):
            runs = invocations[which]
            first = [run["first_invocation_ms"] for run in runs]
            second = [run["second_invocation_ms"] for run in runs]
            total = [run["import_ms"] + run["first_invocation_ms"] for run in runs]
            figures += [
                Figure(
                    section,
                    f"first invocation, batch of 10, {which}",
                    _median(first),
                    "ms",
                    note=f"second (warm) {_median(second) or 0:.0f} ms",
                ),
                Figure(section, f"init + first invocation, {which}, as packaged", _median(total), "ms"),
            ]
    return figures


def size_figures(data: dict[str, Any]) -> list[Figure]:
    section = "6. Size and memory"
    figures: list[Figure] = []
    package = data.get("package")
    if package:
        unpacked = package["unpacked_bytes"] / 1_000_000
        biggest = ", ".join(f"{item['distribution']} {item['mb']:.1f}" for item in package["distributions"][:5])
        figures += [
            Figure(
                section, "sam build package, unpacked", unpacked, "MB", "<= 25", check(unpacked, at_most=25.0), biggest
            ),
            Figure(
                section,
                "sam build package, zipped",
                package["zipped_bytes"] / 1_000_000,
                "MB",
                note=f"{package['files']} files, {package['bytecode_files']} .pyc",
            ),
        ]
    invocations = data.get("invocations")
    if invocations:
        for which in ("ours", "naive"):
            rss = _median([run["peak_rss_mb_after_first_batch"] for run in invocations[which]])
            figures.append(
                Figure(
                    section,
                    f"peak RSS after a batch of 10, {which}",
                    rss,
                    "MB",
                    "<= 128" if which == "ours" else "",
                    check(rss, at_most=128.0) if which == "ours" else INFO,
                )
            )
    overhead = data.get("overhead")
    if overhead:
        figures += [
            Figure(
                "7. The function's own cost (Keycloak answering instantly)",
                f"per batch of 10, log level {level}",
                values["batch_ms"],
                "ms",
                note=f"CPU {values['batch_cpu_ms']:.1f} ms",
            )
            for level, values in overhead.items()
        ]
        info = overhead["INFO"]
        figures.append(
            Figure(
                "7. The function's own cost (Keycloak answering instantly)",
                "a new 10-thread pool per batch vs a kept one",
                info["new_pool_per_batch_ms"] - info["kept_pool_per_batch_ms"],
                "ms",
                note=f"{info['new_pool_per_batch_ms']:.2f} vs {info['kept_pool_per_batch_ms']:.2f} ms",
            )
        )
    return figures


def plot_series(results: Results, args: argparse.Namespace) -> dict[str, list[Series]]:
    panels: dict[str, list[Series]] = {}
    sweeps: tuple[tuple[float, tuple[Kind, ...]], ...] = (
        (0.0, ("limit", "ours", "naive", "limit_batched")),
        (args.latency_ms, ("limit", "ours", "naive", "limit_batched")),
    )
    for latency, kinds in sweeps:
        title = "Keycloak as is" if not latency else f"{latency:.0f} ms injected in front of Keycloak"
        series = []
        for kind in kinds:
            levels = [level for level in args.levels if results.rates(kind, latency, level)]
            if not levels:
                continue
            rates = [results.rates(kind, latency, level) for level in levels]
            series.append(
                Series(
                    label=LABELS[kind],
                    x=levels,
                    median=[statistics.median(values) for values in rates],
                    low=[min(values) for values in rates],
                    high=[max(values) for values in rates],
                    style="--" if kind == "limit_batched" else "-",
                )
            )
        if series:
            panels[title] = series
    return panels


@contextlib.contextmanager
def _maybe_trees(suite: Suite, needed: bool) -> Iterator[coldstart.FunctionTrees | None]:
    """The package copies for the cold-start probes, or None (and an error) when pip cannot make them."""
    with contextlib.ExitStack() as stack:
        trees: coldstart.FunctionTrees | None = None
        try:
            if needed:
                trees = stack.enter_context(coldstart.function_trees(suite.args.source))
        except Exception as error:  # noqa: BLE001 - the other figures still run
            suite.errors.append(f"function trees: {type(error).__name__}: {error}")
        yield trees


def measure_offline(suite: Suite, trees: coldstart.FunctionTrees | None) -> None:
    """What needs no Keycloak: the package, import times, the function's own cost."""
    args = suite.args
    suite.attempt("build", "sam build", lambda: suite.data.update(package=asdict(sam_build(args.source))))
    if trees is None:
        return

    def imports() -> None:
        suite.data["imports"] = coldstart.import_times(trees, args.import_runs, suite.client_cpus).runs
        suite.data["import_breakdown"] = {
            variant: coldstart.import_breakdown(trees, variant, "registrar.handler", suite.client_cpus)
            for variant in ("as packaged", "with bytecode")
        }
        suite.data["import_breakdown_naive"] = coldstart.import_breakdown(
            trees, "as packaged", "bench.naive", suite.client_cpus
        )

    suite.attempt("imports", "import times", imports)
    suite.attempt(
        "overhead",
        "client overhead",
        lambda: suite.data.update(overhead=coldstart.client_overhead(trees, suite.client_cpus)),
    )


def measure_against(suite: Suite, target: KeycloakTarget, trees: coldstart.FunctionTrees | None) -> None:
    """Everything that creates users: throughput, latency, passwords, request count, first invocations."""
    args = suite.args
    plain: list[Kind] = ["limit", "ours", "naive", "limit_batched"]
    delayed: list[Kind] = ["limit", "ours", "naive", "limit_batched"]
    suite.attempt(
        "throughput",
        "throughput, Keycloak as is",
        lambda: suite.sweep(target.url, 0.0, plain, args.reps, args.batches, args.warmup_seconds),
    )

    def with_latency() -> None:
        with DelayProxy(target.port, args.latency_ms / 1000, max_lifetime_seconds=1800.0) as proxy:
            suite.sweep(proxy.url, args.latency_ms, delayed, args.latency_reps, args.latency_batches, 0.0)

    suite.attempt("latency", f"throughput, +{args.latency_ms:.0f} ms", with_latency)
    suite.attempt("passwords", "passwords", lambda: suite.passwords(target.url))
    suite.attempt("requests", "requests per user", lambda: suite.request_count(target))
    if trees is not None:
        suite.attempt(
            "invocations",
            "first invocations",
            lambda: suite.data.update(
                invocations=coldstart.first_invocations(
                    trees, "as packaged", target.url, suite.run_id, args.invoke_runs, suite.client_cpus
                )
            ),
        )


def _provenance(source: Path) -> dict[str, str]:
    """Which commit was measured, and whether the function's files differed from it."""
    repo = SOURCE.parent

    def git(*arguments: str) -> str:
        try:
            completed = subprocess.run(
                ["git", *arguments], cwd=repo, capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return completed.stdout.strip()

    changed = git("status", "--porcelain", "--", "src")
    return {
        "commit": git("rev-parse", "--short", "HEAD") or "unknown",
        "source": str(source),
        "src_changes": "none" if not changed else changed.replace("\n", "; "),
    }


def publish(suite: Suite, target: KeycloakTarget | None, machine_info: dict[str, Any], seconds: float) -> None:
    args = suite.args
    settings_line = _provenance(args.source)
    results = Results(suite.trials)
    figures = [
        *throughput_figures(results, args),
        *(request_figures(suite.data, target) if "requests" in args.parts else []),
        *coldstart_figures(suite.data),
        *size_figures(suite.data),
        *databases.figures(suite.data.get("databases", []), args.levels),
    ]
    print(report.table(figures, machine_info))
    print(
        f"\nmeasured: commit {settings_line['commit']}, function from {settings_line['source']}, "
        f"uncommitted changes in src/: {settings_line['src_changes']}"
    )
    if suite.errors:
        print("\nerrors:\n  " + "\n  ".join(suite.errors))
    settings = {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()}
    settings |= {
        "run_id": suite.run_id,
        "server_cpus": suite.server_cpus,
        "client_cpus": suite.client_cpus,
        **settings_line,
    }
    document = {
        "machine": machine_info,
        "settings": settings,
        "seconds": round(seconds, 1),
        "errors": suite.errors,
        "trials": suite.trials,
        **suite.data,
    }
    report.write_json(args.out / "results.json", document, figures)
    panels = plot_series(results, args)
    if panels:
        subtitle = (
            f"{machine_info.get('cpu')}, {machine_info.get('cores')} cores; Keycloak {machine_info.get('keycloak')} "
            f"on CPUs {list(suite.server_cpus)}, clients on {list(suite.client_cpus)}; run {suite.run_id}"
        )
        try:
            report.plot(args.out / "throughput.png", panels, subtitle)
        except ImportError:
            print("\nno plot: matplotlib is not installed (pip install -r requirements-dev.txt)")
    print(f"\nwrote {args.out / 'results.json'} and {args.out / 'throughput.png'} in {seconds:.0f}s")


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    Path(args.out / "workers.log").write_text("", encoding="utf-8")
    suite = Suite(args)
    suite.server_cpus, suite.client_cpus = split_cpus(pin=not args.no_pin and args.keycloak_url is None)
    log(f"run {suite.run_id}: Keycloak CPUs {suite.server_cpus}, client CPUs {suite.client_cpus}")
    if args.source != SOURCE:
        # Worker processes inherit this path: they import the function from `source` too.
        sys.path.insert(0, str(args.source))
        log(f"measuring the function in {args.source}")
    target: KeycloakTarget | None = None
    machine_info: dict[str, Any] = machine.describe("not started")
    needs_trees = bool(args.parts & {"imports", "overhead", "invocations"})
    with _maybe_trees(suite, needs_trees) as trees:
        measure_offline(suite, trees)
        if args.parts & KEYCLOAK_PARTS:
            log("starting Keycloak" if args.keycloak_url is None else f"using Keycloak at {args.keycloak_url}")
            with keycloak_under_test(args.keycloak_url, args.metrics_url, suite.server_cpus) as target:
                machine_info = machine.describe(target.version)
                machine_info["keycloak_database"] = target.database
                if suite.client_cpus:
                    os.sched_setaffinity(0, suite.client_cpus)
                measure_against(suite, target, trees)
    suite.attempt(
        "databases",
        "PostgreSQL beside H2",
        lambda: databases.attach(
            suite.data, args, suite.run_id, suite.server_cpus, suite.client_cpus, suite.log_path, log
        ),
    )
    machine_info["load_average_at_end"] = [round(value, 2) for value in os.getloadavg()]
    publish(suite, target, machine_info, time.monotonic() - started)
    return 1 if suite.errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
