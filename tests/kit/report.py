"""The report `registrar_local demo` prints, read back by the tests that run it."""

from __future__ import annotations

from collections.abc import Iterable


def report_row(lines: Iterable[str], name: str) -> str:
    """The value in the report's row called `name` (the table's second column)."""
    line = next(line for line in lines if line.startswith("│ " + name))
    return line.split("│")[2].strip()
