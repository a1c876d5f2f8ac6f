"""Real faults on the local stack: nothing is lost, nobody is created twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from registrar.observability import MetricName
from registrar_local.environments import FunctionEnvironment, MetricTotals
from registrar_local.fault_proxy import FaultProxy, Faults
from registrar_local.keycloak_server import KeycloakServer, master_admin
from registrar_local.poller import Poller
from registrar_local.stack import local_stack, queue_depth, send_bodies
from tests.resilience.faults import (
    FUNCTION_OVERRIDES,
    FaultRun,
    drain_with_fault,
    fault_row,
    fault_settings,
    registrations,
    users_of_run,
    wait_for,
)

pytestmark = pytest.mark.keycloak


def created_so_far(keycloak_url: str, run_id: str) -> int:
    return int(master_admin(keycloak_url).users_count({"search": f"*{run_id}*"}))


def test_keycloak_stopped_and_restarted_mid_run_loses_nothing(tmp_path, keycloak_database):
    server = KeycloakServer(database=keycloak_database, database_dir=tmp_path / "keycloak-db").start()
    settings = fault_settings()
    run_id, bodies = registrations(500)

    def outage() -> None:
        wait_for(lambda: created_so_far(server.url, run_id) >= 100, timeout=120)
        server.stop(keep_data=True)
        time.sleep(3)
        server.start()

    try:
        with local_stack(keycloak_url=server.url, settings=settings) as stack:
            run = drain_with_fault(stack, settings, bodies, run_id, tmp_path / "function.log", outage)
        users = users_of_run(server.url, run_id)
    finally:
        server.stop()

    print(run.summary("Keycloak stopped and restarted", users))
    assert run.drained
    assert len(users) == 500
    assert set(users.values()) == {1}
    assert run.dead_letters == []
    circuit = run.consumers.metrics.per_invocation(MetricName.CIRCUIT_OPEN)
    assert 1 in circuit, "the breaker never opened"
    assert circuit[-1] == 0, "the breaker did not close again"


def run_behind(proxy: FaultProxy, keycloak_url: str, tmp_path, count: int, fault) -> tuple[FaultRun, Counter[str]]:
    """`count` registrations through the stack, the function reaching Keycloak through `proxy`."""
    settings = fault_settings()
    run_id, bodies = registrations(count)
    with local_stack(keycloak_url=proxy.url, settings=settings) as stack:
        run = drain_with_fault(stack, settings, bodies, run_id, tmp_path / "function.log", fault)
    return run, users_of_run(keycloak_url, run_id)


def test_keycloak_slower_than_the_function_timeout_is_answered_in_time_and_loses_nothing(proxy, keycloak_url, tmp_path):
    proxy.faults = Faults(latency_seconds=fault_settings().function_timeout + 2)

    def heal() -> None:
        time.sleep(20)
        proxy.heal()

    run, users = run_behind(proxy, keycloak_url, tmp_path, 60, heal)

    print(run.summary("latency above the function timeout", users))
    assert run.drained
    assert run.consumers.failed_invocations == 0, "an invocation outlived the function timeout"
    assert run.consumers.metrics.snapshot()[MetricName.RETRYABLE] > 0
    assert len(users) == 60
    assert set(users.values()) == {1}
    assert run.dead_letters == []


def test_injected_503_and_429_are_retried_counted_and_never_dead_lettered(proxy, keycloak_url, tmp_path):
    proxy.faults = Faults(status=503, every_nth=3)

    def switch_to_429_then_heal() -> None:
        time.sleep(4)
        proxy.faults = Faults(status=429, every_nth=3, retry_after_seconds=1)
        time.sleep(4)
        proxy.heal()

    run, users = run_behind(proxy, keycloak_url, tmp_path, 150, switch_to_429_then_heal)

    print(run.summary("every 3rd create answered 503, then 429", users))
    assert run.drained
    assert proxy.injected > 0
    assert run.consumers.metrics.snapshot()[MetricName.KEYCLOAK_RETRIES] > 0
    assert len(users) == 150
    assert set(users.values()) == {1}
    assert run.dead_letters == []


def test_an_invocation_killed_mid_batch_creates_no_duplicates(proxy, keycloak_url, tmp_path):
    settings = replace(fault_settings(), visibility_timeout=2)
    run_id, bodies = registrations(10)
    proxy.faults = Faults(latency_seconds=0.3)
    metrics = MetricTotals()
    # One worker: the batch takes seconds, so the kill lands with some users created and some not.
    with local_stack(keycloak_url=proxy.url, settings=settings) as stack:
        sqs = stack.sqs()
        send_bodies(sqs, stack.queues.source_url, bodies)
        environment = FunctionEnvironment(
            {**stack.function_environment(), **FUNCTION_OVERRIDES, "MAX_WORKERS": "1"},
            settings.function_timeout,
            tmp_path / "function.log",
            metrics,
        )
        killed = threading.Event()

        def kill_once_some_users_exist() -> None:
            wait_for(lambda: created_so_far(keycloak_url, run_id) >= 3, timeout=60)
            environment.close()
            killed.set()

        threading.Thread(target=kill_once_some_users_exist, daemon=True).start()
        poller = Poller(sqs, stack.queues.source_url, environment.invoke, batch_size=10)
        reports: list[Any] = []
        started = time.monotonic()
        try:
            while queue_depth(sqs, stack.queues.source_url) and len(reports) < 20:
                report = poller.poll_once()
                if report is not None:
                    reports.append(report)
        finally:
            environment.close()
        assert killed.is_set()
        assert reports[0].error is not None, "the first invocation was not the killed one"
        assert reports[0].deleted == 0, "the killed batch was not returned whole"
        assert queue_depth(sqs, stack.queues.source_url) == 0
        assert queue_depth(sqs, stack.queues.dlq_url) == 0

    users = users_of_run(keycloak_url, run_id)
    print(fault_row("function environment killed mid-batch", 10, users, 0, time.monotonic() - started))
    assert len(users) == 10
    assert set(users.values()) == {1}
