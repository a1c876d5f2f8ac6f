"""What a run's memory table counts: every process by its own peak, PostgreSQL's as one sum."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from registrar_local.processes import descendants, proportional_set_bytes
from registrar_local.run_report import MemoryMeter, process_roles
from registrar_local.stack import ConsumerRun


@pytest.fixture
def server_with_backends() -> Iterator[int]:
    """A process with two children, as a postmaster has its backends."""
    server = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60 & wait"], start_new_session=True)
    try:
        while len(descendants(server.pid)) < 2:
            time.sleep(0.01)
        yield server.pid
    finally:
        os.killpg(server.pid, 9)
        server.wait()


def test_postgres_and_its_backends_are_one_figure_the_other_servers_one_per_process(server_with_backends: int) -> None:
    other = subprocess.Popen(["sleep", "60"])
    try:
        servers = {"postgres (the benchmark's)": server_with_backends, "elasticmq": other.pid}
        processes = process_roles(servers, ConsumerRun(), os.getpid())
        meter = MemoryMeter()
        meter.sample(processes)
    finally:
        other.kill()
        other.wait()

    assert set(processes.together) == {"postgres (the benchmark's)"}
    assert sorted(processes.together["postgres (the benchmark's)"]) == sorted(
        [server_with_backends, *descendants(server_with_backends)]
    )
    assert processes.each["elasticmq"] == [other.pid]
    assert set(meter.peaks) == {
        "demo (pollers, senders)",
        "elasticmq",
        "postgres (the benchmark's) (server and backends)",
    }
    assert all(peak > 0 for peak in meter.peaks.values())
    assert meter.total() == sum(meter.peaks.values())


def test_a_role_measured_together_keeps_its_largest_sum(server_with_backends: int) -> None:
    pids = [server_with_backends, *descendants(server_with_backends)]
    meter = MemoryMeter()
    meter.peaks["postgres (server and backends)"] = 10**12  # an earlier, larger sample, with more backends

    meter.sample(process_roles({"postgres": server_with_backends}, ConsumerRun(), os.getpid()))

    assert meter.peaks == {
        "demo (pollers, senders)": meter.peaks["demo (pollers, senders)"],
        "postgres (server and backends)": 10**12,
    }
    assert 0 < sum(share or 0 for share in map(proportional_set_bytes, pids)) < 10**12
