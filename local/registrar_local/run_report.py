"""What a local run shows: the queue as sampled during the run, memory per process, the summary."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from registrar_local.function_api import MetricName
from registrar_local.processes import descendants, peak_rss_bytes, proportional_set_bytes
from registrar_local.stack import ConsumerRun
from registrar_local.stack_settings import StackSettings

CREATED = MetricName.CREATED
ALREADY_REGISTERED = MetricName.ALREADY_REGISTERED
CONFLICT = MetricName.CONFLICT
INVALID = MetricName.INVALID
RETRYABLE = MetricName.RETRYABLE
DEFERRED = MetricName.DEFERRED


@dataclass(frozen=True)
class QueueSample:
    at: float  # wall-clock time
    visible: int
    in_flight: int
    dlq_visible: int

    @property
    def depth(self) -> int:
        return self.visible + self.in_flight


@dataclass
class QueueSampler:
    """ApproximateNumberOfMessages(NotVisible) of the source queue and the DLQ, sampled on demand."""

    sqs: Any
    source_url: str
    dlq_url: str
    samples: list[QueueSample] = field(default_factory=list)

    def sample(self) -> QueueSample:
        source = self._attributes(self.source_url)
        dlq = self._attributes(self.dlq_url)
        taken = QueueSample(
            at=time.time(),
            visible=int(source["ApproximateNumberOfMessages"]),
            in_flight=int(source["ApproximateNumberOfMessagesNotVisible"]),
            dlq_visible=int(dlq["ApproximateNumberOfMessages"]),
        )
        self.samples.append(taken)
        return taken

    @property
    def peak_depth(self) -> int:
        return max((sample.depth for sample in self.samples), default=0)

    def _attributes(self, url: str) -> dict[str, str]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        return dict(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"])


# PostgreSQL is a process per connection around shared buffers: one figure for all of them, the
# largest sum of their proportional shares seen, where summing each one's RSS would count the
# buffers once per backend.
SERVERS_MEASURED_TOGETHER = frozenset({"postgres"})


@dataclass(frozen=True)
class RunProcesses:
    """The processes of a run by role: `each` gets one figure per process, `together` one per role."""

    each: dict[str, list[int]]
    together: dict[str, list[int]]


@dataclass
class MemoryMeter:
    """Peak memory of the run by role, re-read during the run, the maximum kept.

    A process's own peak is its VmHWM; a role measured together peaks at the largest sum of Pss
    that a sample saw, so it is a lower bound between samples.
    """

    peaks: dict[str, int] = field(default_factory=dict)

    def sample(self, processes: RunProcesses) -> None:
        for role, pids in processes.each.items():
            for index, pid in enumerate(pids):
                peak = peak_rss_bytes(pid)
                if peak is None:
                    continue
                name = role if len(pids) == 1 else f"{role} {index + 1}"
                self._keep(name, peak)
        for role, pids in processes.together.items():
            shares = [share for pid in pids if (share := proportional_set_bytes(pid)) is not None]
            if shares:  # one name whatever the number of backends, which changes between samples
                self._keep(f"{role} (server and backends)", sum(shares))

    def _keep(self, name: str, value: int) -> None:
        self.peaks[name] = max(self.peaks.get(name, 0), value)

    def total(self) -> int:
        return sum(self.peaks.values())


def process_roles(server_pids: Mapping[str, int], run: ConsumerRun, this_process: int) -> RunProcesses:
    """Which processes make up the run: each server with its children (kc.sh runs java), the rest."""
    each: dict[str, list[int]] = {"demo (pollers, senders)": [this_process]}
    together: dict[str, list[int]] = {}
    for name, pid in server_pids.items():
        role = together if name.split(" ")[0] in SERVERS_MEASURED_TOGETHER else each
        role[name] = [pid, *descendants(pid)]
    each["function environment"] = run.environment_pids()
    return RunProcesses(each, together)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class RunFigures:
    sent: int = 0
    elapsed_seconds: float = 0.0
    in_dlq: int | None = None
    left: int | None = None
    peak_depth: int = 0
    drained: bool = False
    drained_at: float | None = None  # wall-clock time of the first sample of the empty queue


def summary_table(run: ConsumerRun, figures: RunFigures, title: str = "sqs-keycloak-registrar: local run") -> Table:
    totals = run.metrics.snapshot()
    created = int(totals.get(CREATED, 0))
    latencies = run.metrics.created_latencies()

    def count(name: str) -> str:
        return str(int(totals.get(name, 0)))

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    def maybe(value: int | None) -> str:
        return "-" if value is None else str(value)

    elapsed = figures.elapsed_seconds
    rows = [
        ("sent", str(figures.sent)),
        ("created", str(created)),
        ("already registered", count(ALREADY_REGISTERED)),
        ("duplicate in batch (extra copies)", str(run.metrics.duplicates_in_batch())),
        ("conflict", count(CONFLICT)),
        ("invalid", count(INVALID)),
        ("unknown group", count(MetricName.UNKNOWN_GROUP)),
        ("retries exhausted", count(MetricName.RETRIES_EXHAUSTED)),
        ("retried (retryable + deferred)", str(int(totals.get(RETRYABLE, 0) + totals.get(DEFERRED, 0)))),
        ("in the DLQ", maybe(figures.in_dlq)),
        ("left in the queue", maybe(figures.left)),
        ("peak queue depth", str(figures.peak_depth)),
        ("enqueue to user created, p50", seconds(percentile(latencies, 0.5))),
        ("enqueue to user created, p99", seconds(percentile(latencies, 0.99))),
        ("users per second", f"{created / elapsed:.1f}" if elapsed > 0 else "-"),
    ]
    table = Table(title=title)
    table.add_column("outcome")
    table.add_column("messages", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    return table


def memory_table(meter: MemoryMeter) -> Table:
    table = Table(title="peak memory per process")
    table.add_column("process")
    table.add_column("peak (RSS; PostgreSQL: Pss summed)", justify="right")
    for name, peak in sorted(meter.peaks.items()):
        table.add_row(name, f"{peak / 2**20:.0f} MiB")
    table.add_row("all", f"{meter.total() / 2**20:.0f} MiB")
    return table


def settings_line(settings: StackSettings) -> str:
    return (
        f"{settings.max_concurrency} pollers, batches of {settings.batch_size} "
        f"(window {settings.batching_window_seconds} s), visibility {settings.visibility_timeout} s, "
        f"DLQ after {settings.max_receive_count} receives"
    )
