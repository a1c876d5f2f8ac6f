"""Temporary folders for the servers' data, which a later run removes when their owner was killed.

A command killed outright (SIGKILL) cannot remove the folder its database lives in, and a
PostgreSQL cluster is tens of megabytes. Each folder records its owner: the pid, and that
process's start time, which tells a reused pid apart. Creating a folder of a kind first removes
the folders of that kind whose owner is gone, so leftovers never pile up.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from registrar_local.processes import processes_naming, start_time

OWNER_FILE = ".owner"


def owned_folder(prefix: str, root: Path | None = None) -> Path:
    """A new temporary folder that records this process as its owner."""
    remove_abandoned(prefix, root)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    # Written whole or not at all: a sweep running meanwhile must never read a half-written record.
    draft = folder / f"{OWNER_FILE}.draft"
    draft.write_text(_identity(os.getpid()) or "")
    draft.replace(folder / OWNER_FILE)
    return folder


def remove_abandoned(prefix: str, root: Path | None = None) -> list[Path]:
    """Remove the folders named `prefix*` whose recorded owner no longer runs; return them.

    A folder without an owner record is left alone: it is someone else's, or still being made. So
    is one that a living process names on its command line, as `postgres -D` names its cluster.
    """
    removed: list[Path] = []
    for folder in Path(root or tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            recorded = (folder / OWNER_FILE).read_text()
        except OSError:
            continue
        pid = recorded.split()[0] if recorded.strip() else ""
        if pid.isdigit() and _identity(int(pid)) == recorded:
            continue
        if processes_naming(str(folder)):
            continue  # a server its owner could not stop (no safety net without root) still uses it
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _identity(pid: int) -> str | None:
    started = start_time(pid)
    return None if started is None else f"{pid} {started}"
