"""Stopping the servers the local stack starts, and what /proc says about the processes of a run."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

_PROC = Path("/proc")


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 10, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after `timeout`; `group` reaches the children too (kc.sh runs java).

    With `group`, the wait lasts until every member of the process group is gone, not only the
    one we started: kc.sh can exit while its java child is still shutting down, and a run that
    returned then would leave java behind.
    """
    if process is None:
        return
    if not group:
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return
    pgid = process.pid  # started with start_new_session=True: the group id is its pid
    if not _group_alive(pgid) and process.poll() is not None:
        return
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pgid):  # zombies do not count: the leader may be one
            process.wait()  # reap it, or it stays in the process table
            return
        time.sleep(0.1)
    _signal_group(pgid, signal.SIGKILL)
    process.wait()
    while _group_alive(pgid):
        time.sleep(0.05)


class ServerNotReady(RuntimeError):
    """A server the stack started exited, or did not answer its readiness check in time."""


def wait_until_ready(
    process: subprocess.Popen[bytes] | None,
    is_ready: Callable[[], bool],
    name: str,
    log_path: Path | str | None,
    timeout: float,
    interval: float = 0.2,
) -> None:
    """Poll `is_ready` until it holds; fail at once when the process exits, so a crash is not a timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerNotReady(f"{name} exited with {process.returncode}; see {log_path}")
        if is_ready():
            return
        time.sleep(interval)
    raise ServerNotReady(f"{name} not ready after {timeout:.0f}s; see {log_path}")


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Whether a process other than a zombie is still in the group."""
    for pid in _pids():
        stat = _stat(pid)
        if stat is not None and stat[2] == pgid and stat[0] != "Z":
            return True
    return False


def _pids() -> list[int]:
    return [int(entry.name) for entry in _PROC.iterdir() if entry.name.isdigit()]


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from its third field (the state) on, or None when the process is gone."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) of a process, or None when it is gone."""
    fields = _stat_fields(pid)
    return None if fields is None else (fields[0], int(fields[1]), int(fields[2]))


def descendants(pid: int) -> list[int]:
    """Every living descendant of `pid` (children, their children...), zombies left out."""
    children: dict[int, list[int]] = {}
    for candidate in _pids():
        stat = _stat(candidate)
        if stat is not None and stat[0] != "Z":
            children.setdefault(stat[1], []).append(candidate)
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def start_time(pid: int) -> int | None:
    """When a living process started (clock ticks since boot): with the pid, it names one process."""
    fields = _stat_fields(pid)
    return None if fields is None or fields[0] == "Z" else int(fields[19])


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def command_line(pid: int) -> str:
    try:
        return (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def processes_naming(text: str) -> list[int]:
    """The living processes whose command line contains `text` (a folder a server works in, say)."""
    return [pid for pid in _pids() if text in command_line(pid) and alive(pid)]


def proportional_set_bytes(pid: int) -> int | None:
    """The process's share of resident memory now (Pss): shared pages divided among their users."""
    try:
        for line in (_PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def peak_rss_bytes(pid: int) -> int | None:
    """The process's peak resident set so far (VmHWM), or None when it is gone."""
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


_ESCAPE_CODES = re.compile(r"\x1b\[[0-9;]*m")


def run_quietly(command: list[str], cwd: str | Path | None = None) -> None:
    """Run a tool (Maven) with its output kept off the terminal, shown only if it fails.

    Maven writes colour codes even with -q -B; on the terminal they would show up as stray
    escape codes before the demo's own first lines.
    """
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = _ESCAPE_CODES.sub("", done.stdout + done.stderr).strip()
        raise RuntimeError(f"{' '.join(command[:3])}... failed with {done.returncode}:\n{output[-3000:]}")
