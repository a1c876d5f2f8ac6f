"""FIFO queues end to end: ElasticMQ FIFO source and DLQ, the consumers, function environments, real Keycloak.

Three message groups. Group "a" holds an invalid message: its DLQ copy keeps the group, and the
rest of the group still becomes users. Group "b" holds a message whose creation Keycloak answers
with 503 (a fault proxy in front of the real server, for that one user and a few requests): the
rest of group "b" waits for it, and every user is created in the group's order.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from typing import Any

import pytest

from registrar.observability import MetricName
from registrar_local.fault_proxy import Faults
from registrar_local.stack import (
    consumers_running,
    local_stack,
    queue_depth,
    wait_until_drained,
)
from registrar_local.stack_settings import read_stack_settings
from tests.kit.aws import drain

pytestmark = pytest.mark.keycloak

# The failing user's record comes back after a short backoff, not the template's 30 s.
FUNCTION_OVERRIDES = {"VISIBILITY_BACKOFF_BASE_SECONDS": "1", "VISIBILITY_BACKOFF_MAX_SECONDS": "2"}
# More 503 answers than one invocation's attempts (RETRY_MAX_ATTEMPTS, 3): the record fails once.
INJECTED_FAILURES = 3


def registration(run_id: str, name: str) -> dict[str, Any]:
    return {
        "email": f"{name}.{run_id}@example.com",
        "username": f"fifo-{run_id}-{name}",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "groups": ["/customers"],
        "registrationId": f"{run_id}-{name}",
    }


def send_in_groups(sqs: Any, queue_url: str, groups: dict[str, list[str]]) -> None:
    """One SendMessage per body, so each group's order is its sending order."""
    for group, bodies in groups.items():
        for body in bodies:
            sqs.send_message(
                QueueUrl=queue_url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=uuid.uuid4().hex
            )


def test_fifo_groups_keep_their_order_and_dead_letters_keep_their_group(proxy, admin, tmp_path):
    run_id = uuid.uuid4().hex[:6]
    invalid = json.dumps({"email": f"a2.{run_id}@example.com", "realmRoles": ["admin"]})
    flaky = registration(run_id, "b2")
    groups = {
        f"a-{run_id}": [json.dumps(registration(run_id, "a1")), invalid, json.dumps(registration(run_id, "a3"))],
        f"b-{run_id}": [json.dumps(registration(run_id, name)) for name in ("b1", "b2", "b3", "b4")],
        f"c-{run_id}": [json.dumps(registration(run_id, name)) for name in ("c1", "c2", "c3")],
    }
    valid_names = ["a1", "a3", "b1", "b2", "b3", "b4", "c1", "c2", "c3"]

    # A FIFO mapping has no batching window; a short visibility timeout brings failed records back soon.
    settings = replace(read_stack_settings(), visibility_timeout=10, max_concurrency=2, batching_window_seconds=0)
    proxy.faults = Faults(status=503, body_contains=flaky["username"].encode(), limit=INJECTED_FAILURES)
    with local_stack(keycloak_url=proxy.url, settings=settings, fifo=True) as stack:
        assert stack.queues.source_url.endswith(".fifo")
        assert stack.queues.dlq_url.endswith(".fifo")
        sqs = stack.sqs()
        send_in_groups(sqs, stack.queues.source_url, groups)
        environment = {**stack.function_environment(), **FUNCTION_OVERRIDES}
        with consumers_running(stack, environment, tmp_path / "f.log") as (run, stop):
            assert wait_until_drained(sqs, stack.queues.source_url, stop, timeout=300)

        assert queue_depth(sqs, stack.queues.source_url) == 0
        letters = drain(sqs, stack.queues.dlq_url)

    # The flaky user's creation was refused, so its record failed at least once before it succeeded.
    assert proxy.injected == INJECTED_FAILURES

    (letter,) = letters
    assert letter["Body"] == invalid
    assert letter["Attributes"]["MessageGroupId"] == f"a-{run_id}"
    assert letter["MessageAttributes"]["reason"]["StringValue"]

    users = admin.get_users({"search": f"fifo-{run_id}-", "briefRepresentation": False})
    created = {user["username"]: int(user["createdTimestamp"]) for user in users}
    assert sorted(created) == sorted(f"fifo-{run_id}-{name}" for name in valid_names)

    def order(names: list[str]) -> list[str]:
        return sorted(names, key=lambda name: created[f"fifo-{run_id}-{name}"])

    # Within a group, users appear in the order their messages were sent: b3 and b4 waited for b2.
    assert order(["b1", "b2", "b3", "b4"]) == ["b1", "b2", "b3", "b4"]
    assert order(["a1", "a3"]) == ["a1", "a3"]

    totals = run.metrics.snapshot()
    assert totals[MetricName.CREATED] + totals[MetricName.ALREADY_REGISTERED] == len(valid_names)
    assert totals[MetricName.SENT_TO_DLQ] == 1
