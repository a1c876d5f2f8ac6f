"""The throughput plot: users per second against concurrent invocations, ours beside the baselines."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Trials
from bench.records import SuiteResults
from bench.trials import Kind

LABELS: dict[Kind, str] = {
    "limit": "limit: python-keycloak, 10 threads per invocation",
    "limit_batched": "limit in batches of 10 (barrier only)",
    "ours": "ours: process_event, MAX_WORKERS=10",
    "naive": "naive: Powertools BatchProcessor, 1 record at a time",
}


@dataclass(frozen=True)
class Series:
    label: str
    x: list[int]
    median: list[float]
    low: list[float]
    high: list[float]
    style: str = "-"


def panels(results: SuiteResults) -> dict[str, list[Series]]:
    """One panel per latency swept, one series per kind of client."""
    trials = Trials(results.trials)
    levels = results.settings.levels
    found: dict[str, list[Series]] = {}
    for latency in (0.0, results.settings.latency_ms):
        title = "Keycloak as is" if not latency else f"{latency:.0f} ms injected in front of Keycloak"
        series = []
        for kind, label in LABELS.items():
            measured = [level for level in levels if trials.rates(kind, latency, level)]
            if not measured:
                continue
            rates = [trials.rates(kind, latency, level) for level in measured]
            series.append(
                Series(
                    label=label,
                    x=measured,
                    median=[statistics.median(values) for values in rates],
                    low=[min(values) for values in rates],
                    high=[max(values) for values in rates],
                    style="--" if kind == "limit_batched" else "-",
                )
            )
        if series:
            found[title] = series
    return found


def subtitle(results: SuiteResults) -> str:
    machine, settings = results.machine, results.settings
    return (
        f"{machine.cpu}, {machine.cores} cores; Keycloak {machine.keycloak} on CPUs {settings.server_cpus}, "
        f"clients on {settings.client_cpus}; run {settings.run_id}, commit {results.provenance.commit}"
    )


def plot(path: Path, drawn: dict[str, list[Series]], title: str) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(drawn), figsize=(6 * len(drawn), 4.6), squeeze=False)
    for axis, (name, series_list) in zip(axes[0], drawn.items(), strict=True):
        for series in series_list:
            lower = [m - lo for m, lo in zip(series.median, series.low, strict=True)]
            upper = [hi - m for m, hi in zip(series.median, series.high, strict=True)]
            axis.errorbar(
                series.x, series.median, yerr=[lower, upper], fmt=f"o{series.style}", capsize=3, label=series.label
            )
        axis.set_title(name)
        axis.set_xlabel("concurrent invocations (MaxConcurrency); ours and the limit: 10 requests in flight each")
        axis.set_ylabel("users created per second (median, min-max)")
        axis.set_xticks(sorted({x for series in series_list for x in series.x}))
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
        axis.xaxis.label.set_size("small")
    figure.suptitle(title, fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
