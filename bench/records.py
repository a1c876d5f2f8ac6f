"""What a run of the suite measured, typed: written to results.json and read back for the figures and README."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, cast

from bench.trials import TrialResult

# The cold-start variants of the package: as `sam build` ships it (unchecked-hash bytecode, see
# src/Makefile) and, for comparison, the same files without bytecode.
SHIPPED = "as shipped"
NO_BYTECODE = "without bytecode"
VARIANTS = (SHIPPED, NO_BYTECODE)
# Names of the variants in results written before the build shipped bytecode.
_OLD_VARIANTS = {"with bytecode": SHIPPED, "as packaged": NO_BYTECODE}


def _pick[T](cls: type[T], data: dict[str, Any]) -> T:
    """A flat dataclass from a JSON object; keys it does not know are ignored (older or newer files)."""
    names = {item.name for item in fields(cast(Any, cls))}
    return cls(**{key: value for key, value in data.items() if key in names})


def _variant(name: str) -> str:
    return _OLD_VARIANTS.get(name, name)


@dataclass(frozen=True, kw_only=True)
class Trial(TrialResult):
    """One throughput trial and the repetition it belongs to.

    Results written before the part `batches` have no batch_size: they had only batches of 10,
    TrialResult's default.
    """

    rep: int

    @classmethod
    def of(cls, rep: int, result: TrialResult) -> Trial:
        return cls(rep=rep, **asdict(result))


@dataclass(frozen=True, kw_only=True)
class DatabaseTrial(Trial):
    """A trial of the part `databases`: a Keycloak of its own on this database ("postgres", "dev-file")."""

    database: str

    @classmethod
    def on(cls, database: str, rep: int, result: TrialResult) -> DatabaseTrial:
        return cls(database=database, rep=rep, **asdict(result))


@dataclass(frozen=True)
class RequestCount:
    users: int
    failures: int
    proxy: dict[str, int]
    proxy_total: int
    proxy_unframed_connections: int
    keycloak: dict[str, int] | None = None
    keycloak_total: int | None = None
    # Only a Keycloak the suite started has no other traffic in its counters.
    keycloak_exclusive: bool = True


@dataclass(frozen=True)
class ImportShare:
    package: str
    self_ms: float
    share: float


@dataclass(frozen=True)
class Invocation:
    import_ms: float
    first_invocation_ms: float
    second_invocation_ms: float
    failures: int
    peak_rss_mb_after_import: float
    peak_rss_mb_after_first_batch: float
    peak_rss_mb: float


@dataclass(frozen=True)
class Overhead:
    batch_ms: float
    batch_cpu_ms: float
    new_pool_per_batch_ms: float
    kept_pool_per_batch_ms: float


@dataclass(frozen=True)
class Distribution:
    distribution: str
    mb: float
    required_by: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Package:
    unpacked_bytes: int
    zipped_bytes: int
    build_seconds: float
    files: int
    bytecode_files: int
    distributions: list[Distribution] = field(default_factory=list)


@dataclass(frozen=True)
class StackRun:
    count: int
    sent: int
    created: int
    in_dlq: int | None
    left: int | None
    drained: bool
    seconds_first_send_to_empty: float
    users_per_second: float | None
    peak_queue_depth: int
    latency_p50_s: float | None
    latency_p99_s: float | None
    duplicates_in_batch: int
    peak_rss_bytes: dict[str, int]
    exit_code: int


@dataclass(frozen=True)
class LocalStack:
    ceiling_rates: list[float]
    ceiling_measured_here: bool
    runs: list[StackRun]


@dataclass(frozen=True)
class Recovery:
    """Section 10: a Keycloak outage under a steady load, at the time scale the run used."""

    load_per_second: float
    lead_seconds: float
    outage_seconds: float
    backoff_base_seconds: float
    backoff_max_seconds: float
    circuit_cooldown_seconds: float
    max_receive_count: int
    max_concurrency: int
    sent: int
    created: int
    duplicates: int
    in_dlq: int
    left: int
    lost: int
    # From stopping Keycloak to its health check answering again (the outage plus its start).
    down_seconds: float
    # Messages visible or in flight when Keycloak was healthy again (the load stopped then).
    backlog_at_healthy: int
    seconds_healthy_to_empty: float
    drained: bool
    ceiling_rates: list[float]
    receives: int
    invocations: int


@dataclass(frozen=True)
class ModelledOutage:
    """Section 12: one outage replayed through the function's retry policy at template defaults."""

    outage_seconds: float
    per_day: int
    messages: int
    """Sent while Keycloak was down."""
    created: int
    in_dlq: int
    receives: int
    most_receives: int
    """Of one message: below max_receive_count, the queue's own redrive never moves it."""
    invocations: int
    delay_p50_seconds: float | None
    """From Keycloak back to the user created, over the messages of the outage."""
    delay_max_seconds: float | None
    retry_window_seconds: float
    backoff_base_seconds: float
    backoff_max_seconds: float
    circuit_cooldown_seconds: float
    max_receive_count: int | None


@dataclass(frozen=True)
class Machine:
    cpu: str = "unknown"
    cores: int | None = None
    memory_gib: float | None = None
    os: str = ""
    python: str = ""
    java: str = ""
    keycloak: str = "not started"
    # The database of the Keycloak the main parts ran against ("unknown" for one given by URL).
    keycloak_database: str = "not started"
    load_average_at_start: list[float] = field(default_factory=list)
    load_average_at_end: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Provenance:
    """Which commit was measured, from which directory, and whether src/ differed from the commit."""

    commit: str = "unknown"
    source: str = ""
    src_changes: str = "unknown"


@dataclass(frozen=True)
class RunSettings:
    """What the figures need to know about how the run was made."""

    levels: list[int]
    latency_ms: float
    parts: list[str]
    quick: bool = False
    run_id: str = ""
    server_cpus: list[int] = field(default_factory=list)
    client_cpus: list[int] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SuiteResults:
    """Everything one run measured; each part fills its field (None: not measured)."""

    settings: RunSettings
    machine: Machine = field(default_factory=Machine)
    provenance: Provenance = field(default_factory=Provenance)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    trials: list[Trial] = field(default_factory=list)
    package: Package | None = None
    imports: dict[str, dict[str, list[float]]] | None = None
    import_breakdown: dict[str, list[ImportShare]] | None = None
    import_breakdown_naive: list[ImportShare] | None = None
    overhead: dict[str, Overhead] | None = None
    requests: RequestCount | None = None
    invocations: dict[str, list[Invocation]] | None = None
    local_stack: LocalStack | None = None
    databases: list[DatabaseTrial] | None = None
    recovery: Recovery | None = None
    # The part `batches`: the limit and ours at each batch size, without and with injected latency.
    batches: list[Trial] | None = None
    outage_model: list[ModelledOutage] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SuiteResults:
        settings = dict(data["settings"])
        if not isinstance(settings.get("parts"), list):
            settings["parts"] = []  # results written before parts were recorded as a list: no part is gated
        package = data.get("package")
        breakdown = data.get("import_breakdown")
        stack = data.get("local_stack")
        invocations = data.get("invocations")
        return cls(
            settings=_pick(RunSettings, settings),
            machine=_pick(Machine, data.get("machine", {})),
            provenance=_pick(Provenance, data.get("provenance") or settings),
            seconds=data.get("seconds", 0.0),
            errors=list(data.get("errors", [])),
            trials=[_pick(Trial, trial) for trial in data.get("trials", [])],
            package=(
                None
                if package is None
                else Package(
                    **{key: value for key, value in package.items() if key != "distributions"},
                    distributions=[_pick(Distribution, item) for item in package.get("distributions", [])],
                )
            ),
            imports=(
                None
                if data.get("imports") is None
                else {_variant(name): runs for name, runs in data["imports"].items()}
            ),
            import_breakdown=(
                None
                if breakdown is None
                else {_variant(name): [_pick(ImportShare, item) for item in items] for name, items in breakdown.items()}
            ),
            import_breakdown_naive=(
                None
                if data.get("import_breakdown_naive") is None
                else [_pick(ImportShare, item) for item in data["import_breakdown_naive"]]
            ),
            overhead=(
                None
                if data.get("overhead") is None
                else {level: _pick(Overhead, values) for level, values in data["overhead"].items()}
            ),
            requests=None if data.get("requests") is None else _pick(RequestCount, data["requests"]),
            invocations=(
                None
                if invocations is None
                else {which: [_pick(Invocation, run) for run in runs] for which, runs in invocations.items()}
            ),
            local_stack=(
                None
                if stack is None
                else LocalStack(
                    ceiling_rates=list(stack["ceiling_rates"]),
                    ceiling_measured_here=bool(stack["ceiling_measured_here"]),
                    runs=[_pick(StackRun, run) for run in stack["runs"]],
                )
            ),
            databases=(
                None if data.get("databases") is None else [_pick(DatabaseTrial, trial) for trial in data["databases"]]
            ),
            recovery=None if data.get("recovery") is None else _pick(Recovery, data["recovery"]),
            batches=None if data.get("batches") is None else [_pick(Trial, trial) for trial in data["batches"]],
            outage_model=(
                None
                if data.get("outage_model") is None
                else [_pick(ModelledOutage, outage) for outage in data["outage_model"]]
            ),
        )


def load(path: Path) -> SuiteResults:
    return SuiteResults.from_json(json.loads(path.read_text(encoding="utf-8")))
