"""The report of a run: the figures table with the machine and provenance (stdout), and results.json."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict
from pathlib import Path

from bench.figures import Figure
from bench.records import Machine, Provenance, SuiteResults

REPO = Path(__file__).resolve().parent.parent


def provenance(source: Path) -> Provenance:
    """Which commit was measured, and whether the function's files differed from it."""

    def git(*arguments: str) -> str:
        try:
            completed = subprocess.run(
                ["git", *arguments], cwd=REPO, capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return completed.stdout.strip()

    changed = git("status", "--porcelain", "--", "src")
    return Provenance(
        commit=git("rev-parse", "--short", "HEAD") or "unknown",
        source=str(source),
        src_changes="none" if not changed else changed.replace("\n", "; "),
    )


def machine_line(machine: Machine) -> str:
    shown = asdict(machine)
    keys = ("cpu", "cores", "memory_gib", "os", "python", "java", "keycloak", "keycloak_database")
    return "machine: " + ", ".join(f"{key}={shown[key]}" for key in keys)


def provenance_line(provenance: Provenance) -> str:
    return (
        f"measured: commit {provenance.commit}, function from {provenance.source}, "
        f"uncommitted changes in src/: {provenance.src_changes}"
    )


def table(figures: list[Figure], machine: Machine) -> str:
    lines = [
        machine_line(machine),
        f"load average at start {machine.load_average_at_start}, at end {machine.load_average_at_end}",
        "",
    ]
    if not figures:
        return "\n".join([*lines, "no figures"])
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


def write_json(path: Path, results: SuiteResults, figures: list[Figure]) -> None:
    """Every trial and probe, typed as measured; the figures beside them for a reader without the code."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**results.to_json(), "figures": [figure.as_json() for figure in figures]}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
