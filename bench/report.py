"""The figures table (stdout), results.json and the throughput plot."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PASS, FAIL, INFO = "PASS", "FAIL", "info"


@dataclass(frozen=True)
class Figure:
    section: str
    name: str
    value: float | None
    unit: str
    target: str = ""
    status: str = INFO
    note: str = ""

    def shown(self) -> str:
        if self.value is None:
            return "n/a"
        digits = 0 if abs(self.value) >= 100 else 1 if abs(self.value) >= 10 else 2 if abs(self.value) >= 1 else 3
        return f"{self.value:.{digits}f} {self.unit}".strip()


def check(value: float | None, *, at_least: float | None = None, at_most: float | None = None) -> str:
    if value is None:
        return FAIL
    if at_least is not None and value < at_least:
        return FAIL
    if at_most is not None and value > at_most:
        return FAIL
    return PASS


def table(figures: list[Figure], machine: dict[str, Any]) -> str:
    lines = [
        "machine: "
        + ", ".join(
            f"{key}={machine[key]}"
            for key in ("cpu", "cores", "memory_gib", "os", "python", "java", "keycloak")
            if key in machine
        ),
        f"load average at start {machine.get('load_average_at_start')}, at end {machine.get('load_average_at_end')}",
        "",
    ]
    widths = (
        max(len(figure.name) for figure in figures),
        max(len(figure.shown()) for figure in figures),
        max(len(figure.target) for figure in figures),
    )
    section = ""
    for figure in figures:
        if figure.section != section:
            section = figure.section
            lines.append(f"== {section}")
        row = (
            f"  {figure.name:<{widths[0]}}  {figure.shown():>{widths[1]}}  {figure.target:<{widths[2]}}  "
            f"{figure.status:<4}"
        )
        lines.append(row + (f"  {figure.note}" if figure.note else ""))
    return "\n".join(lines)


def write_json(path: Path, document: dict[str, Any], figures: list[Figure]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**document, "figures": [asdict(figure) for figure in figures]}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Series:
    label: str
    x: list[int]
    median: list[float]
    low: list[float]
    high: list[float]
    style: str = "-"


def plot(path: Path, panels: dict[str, list[Series]], subtitle: str) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.6), squeeze=False)
    for axis, (title, series_list) in zip(axes[0], panels.items(), strict=True):
        for series in series_list:
            lower = [m - lo for m, lo in zip(series.median, series.low, strict=True)]
            upper = [hi - m for m, hi in zip(series.median, series.high, strict=True)]
            axis.errorbar(
                series.x, series.median, yerr=[lower, upper], fmt=f"o{series.style}", capsize=3, label=series.label
            )
        axis.set_title(title)
        axis.set_xlabel("concurrent invocations (MaxConcurrency); ours and the limit: 10 requests in flight each")
        axis.set_ylabel("users created per second (median, min-max)")
        axis.set_xticks(sorted({x for series in series_list for x in series.x}))
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
        axis.xaxis.label.set_size("small")
    figure.suptitle(subtitle, fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
