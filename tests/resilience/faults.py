"""Fault-injection runs on the local stack: real Keycloak, ElasticMQ for SQS, function environments as processes."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from registrar_local.keycloak_server import master_admin
from registrar_local.samples import generated_registrations
from registrar_local.stack import (
    ConsumerRun,
    LocalStack,
    consumers_running,
    send_bodies,
    wait_until_drained,
)
from registrar_local.stack_settings import StackSettings, read_stack_settings
from tests.kit.aws import Letter, dead_letters

# Small timeouts and backoffs so that a run with faults drains in about a minute, with the
# template's maxReceiveCount: the sum of the backoffs must outlast the outage.
FAULT_SETTINGS_OVERRIDES = {"function_timeout": 8, "visibility_timeout": 10, "max_concurrency": 2}
FUNCTION_OVERRIDES = {
    "KEYCLOAK_TIMEOUT_SECONDS": "2",
    "DEADLINE_MARGIN_MS": "2500",
    "CIRCUIT_FAILURE_THRESHOLD": "3",
    "CIRCUIT_COOLDOWN_SECONDS": "2",
    "VISIBILITY_BACKOFF_BASE_SECONDS": "6",
    "VISIBILITY_BACKOFF_MAX_SECONDS": "40",
}


def fault_settings() -> StackSettings:
    return replace(read_stack_settings(), **FAULT_SETTINGS_OVERRIDES)


@dataclass
class FaultRun:
    run_id: str
    sent: int
    consumers: ConsumerRun
    drained: bool
    seconds: float
    dead_letters: list[Letter]

    def summary(self, fault: str, users: Counter[str]) -> str:
        return fault_row(fault, self.sent, users, len(self.dead_letters), self.seconds)


def fault_row(fault: str, messages: int, users: Counter[str], dead_letters: int, seconds: float) -> str:
    """One line for the README's table of fault runs (pytest -s prints it)."""
    row = {
        "messages": messages,
        "fault": fault,
        "lost": messages - len(users) - dead_letters,
        "duplicate users": sum(users.values()) - len(users),
        "time to drain (s)": round(seconds, 1),
    }
    return "fault run: " + json.dumps(row)


def registrations(count: int) -> tuple[str, list[str]]:
    run_id = uuid.uuid4().hex[:6]
    return run_id, [json.dumps(r) for r in generated_registrations(count, run_id)]


def drain_with_fault(
    stack: LocalStack,
    settings: StackSettings,
    bodies: list[str],
    run_id: str,
    log_path: Path,
    fault: Callable[[], None] | None = None,
    timeout: float = 480,
) -> FaultRun:
    sqs = stack.sqs()
    sent = send_bodies(sqs, stack.queues.source_url, bodies)
    environment = {**stack.function_environment(), **FUNCTION_OVERRIDES}
    started = time.monotonic()
    with consumers_running(stack, environment, log_path) as (consumers, stop):
        if fault is not None:
            threading.Thread(target=fault, daemon=True).start()
        drained = wait_until_drained(sqs, stack.queues.source_url, stop, timeout=timeout)
    seconds = time.monotonic() - started
    return FaultRun(run_id, sent, consumers, drained, seconds, dead_letters(sqs, stack.queues.dlq_url))


def users_of_run(keycloak_url: str, run_id: str) -> Counter[str]:
    """Usernames of the run's users, counted (a count above 1 would be a duplicate)."""
    users = master_admin(keycloak_url).get_users({"search": f"*{run_id}*"})
    return Counter(user["username"] for user in users if f"-{run_id}-" in user["username"])


def wait_for(predicate: Callable[[], bool], timeout: float) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("condition not reached")
        time.sleep(0.2)
