"""Stopping the servers the local stack starts."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 10, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after `timeout`; `group` reaches the children too (kc.sh runs java)."""
    if process is None or process.poll() is not None:
        return

    def send(sig: signal.Signals) -> None:
        if group:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)

    send(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait()
