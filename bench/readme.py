"""README's figure tables, generated from a results.json: `python -m bench readme` rewrites them in place.

The tables sit between marker comments (`<!-- bench:NAME -->` and `<!-- /bench:NAME -->`); the
text around them is the README's own. A run that left a part out leaves that part's rows out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from bench.claims import FAIL, INFO, PASS, Status
from bench.figures import STACK_SECTION, Figure, all_figures
from bench.records import SuiteResults, load


def _status(figures: list[Figure]) -> Status:
    statuses = {figure.status for figure in figures}
    return FAIL if FAIL in statuses else PASS if PASS in statuses else INFO


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def provenance(results: SuiteResults) -> str:
    machine, settings = results.machine, results.settings
    start, end = _first(machine.load_average_at_start), _first(machine.load_average_at_end)
    load = f"load average {start} at the start, {end} at the end"
    return (
        f"From `bench/results/results.json` of one run: commit {results.provenance.commit}"
        f"{'' if results.provenance.src_changes in ('none', 'unknown') else ' with uncommitted changes in src/'}; "
        f"{machine.cpu}, {machine.cores} cores, {machine.memory_gib} GiB, Python {machine.python}, "
        f"Keycloak {machine.keycloak}; {load}; {results.seconds / 60:.0f} minutes"
        f"{', the --quick preset' if settings.quick else ''}."
    )


def _first(values: list[float]) -> str:
    return f"{values[0]:g}" if values else "?"


def claims_table(figures: list[Figure]) -> str:
    """One row per claim (and group): its values in order, its target, PASS only if every value holds."""
    rows: dict[str, list[Figure]] = {}
    for figure in figures:
        if figure.claim is not None and figure.decisive:
            rows.setdefault(figure.group or figure.claim.title, []).append(figure)
    lines = ["| claim | result | target | |", "| --- | --- | --- | --- |"]
    for label, members in rows.items():
        values = ", ".join(figure.shown() for figure in members)
        target = members[0].target
        lines.append(f"| {_cell(label)} | {_cell(values)} | {_cell(target)} | {_status(members)} |")
    return "\n".join(lines)


def stack_table(figures: list[Figure]) -> str:
    lines = ["| figure | result | target | | |", "| --- | --- | --- | --- | --- |"]
    lines += [
        f"| {_cell(figure.name)} | {_cell(figure.shown())} | {_cell(figure.target)} | {figure.status} | "
        f"{_cell(figure.note)} |"
        for figure in figures
        if figure.section == STACK_SECTION
    ]
    return "\n".join(lines)


def _claims(results: SuiteResults, figures: list[Figure]) -> str:
    return f"{provenance(results)}\n\n{claims_table(figures)}"


def _stack(results: SuiteResults, figures: list[Figure]) -> str:
    if not any(figure.section == STACK_SECTION for figure in figures):
        return f"{provenance(results)}\n\nThis run left the whole local stack out (part `stack`)."
    return f"{provenance(results)}\n\n{stack_table(figures)}"


TABLES: dict[str, Callable[[SuiteResults, list[Figure]], str]] = {"claims": _claims, "stack": _stack}


class MarkersMissing(ValueError):
    pass


def rewrite(readme: str, results: SuiteResults) -> str:
    """The README with every marked table rendered from `results`."""
    figures = all_figures(results)
    for name, render in TABLES.items():
        pattern = re.compile(rf"(<!-- bench:{name} -->\n).*?(\n<!-- /bench:{name} -->)", re.DOTALL)
        found = pattern.search(readme)
        if found is None:
            raise MarkersMissing(f"README has no <!-- bench:{name} --> ... <!-- /bench:{name} --> markers")
        body = render(results, figures)
        readme = readme[: found.start()] + found[1] + body + found[2] + readme[found.end() :]
    return readme


def command(results_path: Path, readme_path: Path, *, check: bool = False) -> int:
    if not results_path.exists():
        print(f"{results_path} does not exist: run `python -m bench` first")
        return 2
    before = readme_path.read_text(encoding="utf-8")
    try:
        after = rewrite(before, load(results_path))
    except MarkersMissing as error:
        print(error)
        return 2
    if check:
        print(f"{readme_path} is {'up to date' if after == before else 'out of date'} with {results_path}")
        return 0 if after == before else 1
    readme_path.write_text(after, encoding="utf-8")
    print(f"rewrote the tables of {readme_path} from {results_path}" if after != before else f"{readme_path} unchanged")
    return 0
