"""Ctrl-C and SIGTERM at any moment of a run: stop, clean up, report what was done.

Loops that can check an event (enqueueing, polling, waiting for the queue) watch `stop`.
Starting a server cannot: it blocks in a subprocess or an HTTP wait. While one starts, the
first signal also raises `RunInterrupted` in the main thread, so the `with` blocks that own the
servers unwind and stop them. Later signals only say that the run is already stopping, so the
clean-up itself is never interrupted.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from registrar_local.processes import alive, descendants


class RunInterrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Interrupts:
    def __init__(self, stop: threading.Event, say: Callable[[str], None]) -> None:
        self.stop = stop
        self.signum: int | None = None
        self._say = say
        self._raising = False
        self._previous: dict[int, Any] = {}

    def install(self) -> Interrupts:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        """The handlers from before install(), for a caller that goes on (the benchmarks)."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    @property
    def exit_code(self) -> int | None:
        """128 + the signal, as a shell reports a process ended by it; None when no signal came."""
        return None if self.signum is None else 128 + self.signum

    @contextmanager
    def raising(self) -> Iterator[None]:
        """Within the block, a signal raises RunInterrupted (for calls that cannot watch `stop`)."""
        if self.signum is not None:
            raise RunInterrupted(self.signum)
        self._raising = True
        try:
            yield
        finally:
            self._raising = False

    def _handle(self, signum: int, _frame: object) -> None:
        if self.signum is not None:
            self._say(f"{signal.Signals(signum).name}: already stopping")
            return
        self.signum = signum
        self.stop.set()
        self._say(f"{signal.Signals(signum).name}: stopping; the batches in flight are settled first")
        if self._raising:
            self._raising = False
            raise RunInterrupted(signum)


def stop_leftover_descendants(timeout: float = 2) -> list[int]:
    """SIGTERM, then SIGKILL, whatever this process still has below it; returns their pids.

    The servers are stopped by their owners; this is the last guard for anything a signal
    caught between a fork and the line that records the child, and for multiprocessing's
    resource tracker, which ignores SIGTERM and would otherwise outlive the run briefly.
    """
    leftovers = descendants(os.getpid())
    for pid in leftovers:
        _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in leftovers):
        _reap()
        time.sleep(0.1)
    for pid in leftovers:
        if alive(pid):
            _kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in leftovers):
        time.sleep(0.05)
    _reap()  # our own children: collected here, so no zombie is left to an init that may not reap
    return leftovers


def _kill(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, sig)


def _reap() -> None:
    """Collect exited children, so that they do not linger as zombies."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
