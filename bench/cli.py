"""The command line: `python -m bench [options]` runs the suite, `python -m bench readme` rewrites README's tables."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
# README's tables come from the committed results of a full run; any other run writes here instead.
SCRATCH_RESULTS = RESULTS / "scratch"
SOURCE = BENCH.parent / "src"
README = BENCH.parent / "README.md"
PARTS = (
    "build",
    "imports",
    "overhead",
    "throughput",
    "latency",
    "passwords",
    "requests",
    "invocations",
    "stack",
    "databases",
    "recovery",
    "batches",
    "outage-model",
)
# The parts that run against the Keycloak under test (started here, or the one at --keycloak-url).
KEYCLOAK_PARTS = frozenset({"throughput", "latency", "passwords", "requests", "invocations", "stack", "batches"})
# The parts that start Keycloak servers of their own (on chosen databases): not with --keycloak-url.
OWN_SERVER_PARTS = frozenset({"databases", "recovery"})


@dataclass(frozen=True)
class Options:
    """How a run is made: sizes, repetitions, which parts, against which Keycloak."""

    keycloak_url: str | None = None
    metrics_url: str | None = None
    levels: tuple[int, ...] = (1, 2, 4)
    reps: int = 4
    batches: int = 20
    latency_ms: float = 50.0
    latency_reps: int = 3
    latency_batches: int = 10
    warmup_seconds: float = 40.0
    count_users: int = 1000
    password_users: int = 40
    import_runs: int = 5
    invoke_runs: int = 3
    # Section 10 at a time scale of minutes: the function's visibility backoff scaled down from
    # 30 s / 900 s, a steady load, and Keycloak down for the outage (plus its restart).
    recovery_outage_seconds: float = 90.0
    recovery_backoff_base_seconds: float = 1.0
    recovery_backoff_max_seconds: float = 20.0
    recovery_load_per_second: float = 20.0
    recovery_lead_seconds: float = 20.0
    pin: bool = True
    parts: frozenset[str] = frozenset(PARTS)
    source: Path = SOURCE
    quick: bool = False
    out: Path = RESULTS


def quick(options: Options) -> Options:
    """The --quick preset, a smoke run: every part, few repetitions, small trials."""
    return dataclasses.replace(
        options,
        reps=2,
        batches=6,
        latency_reps=1,
        latency_batches=4,
        warmup_seconds=8.0,
        count_users=200,
        password_users=10,
        import_runs=2,
        invoke_runs=1,
        recovery_outage_seconds=60.0,
        recovery_lead_seconds=10.0,
        quick=True,
    )


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def parser() -> argparse.ArgumentParser:
    defaults = Options()
    short = quick(defaults)
    found = argparse.ArgumentParser(
        prog="python -m bench",
        description="The benchmark suite against a local Keycloak; see bench/README.md. "
        "`python -m bench readme` rewrites README's figure tables from a results.json.",
    )
    add = found.add_argument
    add(
        "--keycloak-url",
        help="use this Keycloak (with the project's realm) instead of starting one; "
        f"skips {', '.join(sorted(OWN_SERVER_PARTS))}, which starts its own",
    )
    add("--metrics-url", help="its metrics endpoint (management port), for counting requests")
    add(
        "--invocations",
        default=",".join(map(str, defaults.levels)),
        help="concurrent invocations to sweep (default %(default)s)",
    )
    add("--reps", type=int, default=defaults.reps, help="repetitions of each throughput trial (default %(default)s)")
    add(
        "--batches",
        type=int,
        default=defaults.batches,
        help="batches of 10 per invocation per trial (default %(default)s)",
    )
    add("--latency-ms", type=float, default=defaults.latency_ms, help="latency injected in front of Keycloak")
    add(
        "--latency-reps", type=int, default=defaults.latency_reps, help="repetitions with latency (default %(default)s)"
    )
    add("--latency-batches", type=int, default=defaults.latency_batches, help="batches per invocation with latency")
    add("--warmup-seconds", type=float, default=defaults.warmup_seconds, help="load before measuring (JIT warm-up)")
    add("--count-users", type=int, default=defaults.count_users, help="users for the requests-per-user count")
    add("--password-users", type=int, default=defaults.password_users, help="users created with a password")
    add("--import-runs", type=int, default=defaults.import_runs, help="fresh interpreters per import figure")
    add("--invoke-runs", type=int, default=defaults.invoke_runs, help="fresh processes for the first invocation")
    add(
        "--recovery-outage-seconds",
        type=float,
        default=defaults.recovery_outage_seconds,
        help="recovery: seconds Keycloak stays stopped "
        f"(default %(default)s; {short.recovery_outage_seconds:g} with --quick)",
    )
    add(
        "--recovery-backoff-base-seconds",
        type=float,
        default=defaults.recovery_backoff_base_seconds,
        help="recovery: the function's VISIBILITY_BACKOFF_BASE_SECONDS (default %(default)s)",
    )
    add(
        "--recovery-backoff-max-seconds",
        type=float,
        default=defaults.recovery_backoff_max_seconds,
        help="recovery: the function's VISIBILITY_BACKOFF_MAX_SECONDS (default %(default)s)",
    )
    add(
        "--recovery-load",
        type=float,
        default=defaults.recovery_load_per_second,
        help="recovery: registrations enqueued per second until Keycloak is healthy again (default %(default)s)",
    )
    add(
        "--recovery-lead-seconds",
        type=float,
        default=defaults.recovery_lead_seconds,
        help="recovery: seconds of load before Keycloak is stopped "
        f"(default %(default)s; {short.recovery_lead_seconds:g} with --quick)",
    )
    add("--no-pin", action="store_true", help="let Keycloak and the clients share every CPU")
    add("--only", help=f"run only these parts (comma-separated: {', '.join(PARTS)})")
    add("--skip", default="", help="skip these parts (comma-separated)")
    add(
        "--source",
        type=Path,
        default=SOURCE,
        help="measure the function from this directory laid out like src/ (a proposed change) instead of src/",
    )
    add("--quick", action="store_true", help="a smoke run: few repetitions, small trials (the quick preset)")
    add(
        "--out",
        type=Path,
        help="results directory (default bench/results for the suite at its defaults, whose results "
        "README's tables show; bench/results/scratch for any other run)",
    )
    return found


def parse_options(argv: Sequence[str]) -> Options:
    arguments = parser()
    args = arguments.parse_args(argv)
    chosen = set(_names(args.only)) if args.only else set(PARTS)
    unknown = (chosen | set(_names(args.skip))) - set(PARTS)
    if unknown:
        arguments.error(f"unknown parts: {', '.join(sorted(unknown))}")
    if args.keycloak_url is not None:
        asked = OWN_SERVER_PARTS & set(_names(args.only or ""))
        if asked:
            arguments.error(f"{', '.join(sorted(asked))} starts its own Keycloak servers: not with --keycloak-url")
        # The whole suite against a given Keycloak: the parts that need servers of their own drop out.
        chosen -= OWN_SERVER_PARTS
    options = Options(
        keycloak_url=args.keycloak_url,
        metrics_url=args.metrics_url,
        levels=tuple(int(value) for value in _names(args.invocations)),
        reps=args.reps,
        batches=args.batches,
        latency_ms=args.latency_ms,
        latency_reps=args.latency_reps,
        latency_batches=args.latency_batches,
        warmup_seconds=args.warmup_seconds,
        count_users=args.count_users,
        password_users=args.password_users,
        import_runs=args.import_runs,
        invoke_runs=args.invoke_runs,
        recovery_outage_seconds=args.recovery_outage_seconds,
        recovery_backoff_base_seconds=args.recovery_backoff_base_seconds,
        recovery_backoff_max_seconds=args.recovery_backoff_max_seconds,
        recovery_load_per_second=args.recovery_load,
        recovery_lead_seconds=args.recovery_lead_seconds,
        pin=not args.no_pin,
        parts=frozenset(chosen - set(_names(args.skip))),
        source=args.source.resolve(),
        quick=args.quick,
    )
    chosen_options = quick(options) if args.quick else options
    # Only the suite as it is defined (every part, every default, src/, its own Keycloak) may
    # replace the results README's tables show.
    reference = chosen_options == Options()
    return dataclasses.replace(chosen_options, out=args.out or (RESULTS if reference else SCRATCH_RESULTS))


def readme_parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(
        prog="python -m bench readme",
        description="Rewrite README's figure tables (between the bench marker comments) from a results.json.",
    )
    found.add_argument("--results", type=Path, default=RESULTS / "results.json", help="default bench/results")
    found.add_argument("--readme", type=Path, default=README, help="default README.md")
    found.add_argument("--check", action="store_true", help="only report whether the README is up to date")
    return found


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["readme"]:
        from bench import readme

        args = readme_parser().parse_args(argv[1:])
        return readme.command(args.results, args.readme, check=args.check)
    options = parse_options(argv)
    from bench import suite

    return suite.run(options)
