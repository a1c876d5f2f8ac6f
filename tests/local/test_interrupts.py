"""Ctrl-C or SIGTERM in each phase of `demo`: it stops, prints the summary so far, and leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from registrar_local.processes import alive, command_line, descendants, start_time
from registrar_local.samples import event_bodies
from tests.kit.report import report_row

pytestmark = pytest.mark.keycloak

# Failure guards only (a hung run fails the test instead of hanging it), not timing claims.
_GUARD_SECONDS = 300


class DemoUnderTest:
    """A demo process, its output line by line, and every descendant it ever had."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "registrar_local", "demo", "--no-dashboard", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        self.lines: list[str] = []
        self.seen: dict[tuple[int, int], str] = {}  # (pid, start time) -> command line
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._watching = True
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def _watch(self) -> None:
        while self._watching and self.process.poll() is None:
            for pid in descendants(self.process.pid):
                started = start_time(pid)
                if started is not None and (pid, started) not in self.seen:
                    self.seen[(pid, started)] = command_line(pid)
            time.sleep(0.1)

    def wait_for_line(self, text: str) -> None:
        deadline = time.monotonic() + _GUARD_SECONDS
        while not any(text in line for line in self.lines):
            assert self.process.poll() is None, "\n".join(self.lines)
            assert time.monotonic() < deadline, f"no line with {text!r}:\n" + "\n".join(self.lines)
            time.sleep(0.1)

    def wait_for_descendant(self, fragment: str) -> None:
        deadline = time.monotonic() + _GUARD_SECONDS
        while not any(fragment in command for command in self.seen.values()):
            assert self.process.poll() is None, "\n".join(self.lines)
            assert time.monotonic() < deadline, f"no process with {fragment!r}"
            time.sleep(0.1)

    def stop_with(self, sig: signal.Signals) -> int:
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=_GUARD_SECONDS)
        finally:
            self._watching = False
            if self.process.poll() is None:
                self.process.kill()
        self._reader.join(timeout=10)
        return code

    def survivors(self) -> list[str]:
        """Descendants still running (a zombie has ended; only its exit status is left to collect)."""
        return [
            f"{pid} {command}"
            for (pid, started), command in self.seen.items()
            if alive(pid) and start_time(pid) == started
        ]

    def output(self) -> str:
        return "\n".join(self.lines)

    def row(self, name: str) -> str:
        return report_row(self.lines, name)


def assert_stopped_cleanly(demo: DemoUnderTest, code: int, sig: signal.Signals) -> None:
    out = demo.output()
    assert code == 128 + sig, out
    assert f"{sig.name}: stopping" in out
    assert "sqs-keycloak-registrar: local run" in out, out  # the summary so far
    assert demo.survivors() == [], out


def interrupt(demo: DemoUnderTest, line: str, descendant: str, sig: signal.Signals) -> None:
    """Sends `sig` once the demo has printed `line` and started `descendant`, and checks that it stopped cleanly."""
    demo.wait_for_line(line)
    demo.wait_for_descendant(descendant)
    code = demo.stop_with(sig)
    assert_stopped_cleanly(demo, code, sig)


def test_a_signal_while_keycloak_starts_stops_kc_sh_and_its_java():
    demo = DemoUnderTest("--count", "10")
    interrupt(demo, "starting Keycloak", "quarkus-run.jar", signal.SIGINT)  # Keycloak's java child, under kc.sh
    assert demo.row("sent") == "0"


def test_a_signal_while_sqs_starts_stops_elasticmq(keycloak_url):
    demo = DemoUnderTest("--count", "10", "--keycloak-url", keycloak_url)
    interrupt(demo, "starting SQS (ElasticMQ)", "org.elasticmq.server.Main", signal.SIGTERM)
    assert demo.row("sent") == "0"


def test_a_signal_while_enqueueing_stops_the_senders_and_the_pollers(keycloak_url):
    demo = DemoUnderTest("--count", "30000", "--keycloak-url", keycloak_url)
    interrupt(demo, "enqueueing", "multiprocessing", signal.SIGINT)  # the function environments are up
    assert int(demo.row("sent")) < 30000 + len(event_bodies()), "the senders went on after the signal"


def test_a_signal_while_consuming_settles_the_batches_in_flight_and_reports(keycloak_url, tmp_path):
    demo = DemoUnderTest("--count", "3000", "--keycloak-url", keycloak_url, "--log-dir", str(tmp_path))
    demo.wait_for_line("consuming")
    function_log = tmp_path / "function.log"
    deadline = time.monotonic() + _GUARD_SECONDS
    while not function_log.exists() or function_log.read_text().count('"outcome":"created"') < 20:
        assert demo.process.poll() is None, demo.output()
        assert time.monotonic() < deadline, demo.output()
        time.sleep(0.2)
    code = demo.stop_with(signal.SIGTERM)
    assert_stopped_cleanly(demo, code, signal.SIGTERM)
    sent = int(demo.row("sent"))
    left = int(demo.row("left in the queue"))
    created = int(demo.row("created"))
    assert sent == 3000 + len(event_bodies())  # everything was enqueued before the signal
    assert left > 0, "stopped too late to show anything"
    assert created > 0
