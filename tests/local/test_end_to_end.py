"""The whole flow on the local stack: ElasticMQ SQS, the consumers, function environments, real Keycloak."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import replace

import pytest

from registrar.observability import MetricName
from registrar_local.keycloak_server import master_admin
from registrar_local.samples import generated_registrations
from registrar_local.stack import (
    consumers_running,
    local_stack,
    queue_depth,
    send_bodies,
    wait_until_drained,
)
from registrar_local.stack_settings import read_stack_settings
from tests.kit.aws import drain

pytestmark = pytest.mark.keycloak


def test_220_messages_end_as_190_users_10_dead_letters_and_an_empty_queue(keycloak_url, tmp_path):
    run_id = uuid.uuid4().hex[:6]
    valid = [json.dumps(r) for r in generated_registrations(190, run_id)]
    invalid = [
        "not json",
        json.dumps({"email": "nobody"}),
        json.dumps({"email": f"{run_id}-roles@example.com", "realmRoles": ["admin"]}),
        json.dumps({"email": f"{run_id}-group@example.com", "groups": ["/realm-admins"]}),
        json.dumps({"email": f"{run_id}-pw@example.com", "password": "never-in-a-dlq-1"}),
        json.dumps({"email": f"{run_id}-typo@example.com", "fristName": "Ada"}),
        json.dumps({"email": f"{run_id}-slash@example.com", "username": f"{run_id}/slash"}),
        json.dumps({"email": f"{run_id}-name@example.com", "firstName": "<script>"}),
        json.dumps([1, 2, 3]),
        json.dumps({"Type": "Notification", "Message": "{broken"}),
    ]
    messages = valid + invalid + valid[:20]
    assert len(messages) == 220

    # A short visibility timeout, so that anything the function reports as failed comes back quickly.
    settings = replace(read_stack_settings(), visibility_timeout=10, max_concurrency=4)
    with local_stack(keycloak_url=keycloak_url, settings=settings) as stack:
        sqs = stack.sqs()
        send_bodies(sqs, stack.queues.source_url, messages)
        with consumers_running(stack, stack.function_environment(), tmp_path / "f.log") as (run, stop):
            assert wait_until_drained(sqs, stack.queues.source_url, stop, timeout=600)

        assert queue_depth(sqs, stack.queues.source_url) == 0
        letters = drain(sqs, stack.queues.dlq_url)

    assert len(letters) == 10
    (redacted,) = [letter["Body"] for letter in letters if "-pw@" in letter["Body"]]
    assert json.loads(redacted) == {"email": f"{run_id}-pw@example.com", "password": "[redacted]"}
    assert sorted(letter["Body"] for letter in letters if letter["Body"] != redacted) == sorted(
        body for body in invalid if "-pw@" not in body
    )
    assert all(letter["MessageAttributes"]["reason"]["StringValue"] for letter in letters)
    assert not any("never-in-a-dlq" in json.dumps(letter) for letter in letters)

    users = master_admin(keycloak_url).get_users({"search": f"*{run_id}*"})
    names = Counter(user["username"] for user in users if user["username"].split("-")[1:2] == [run_id])
    assert len(names) == 190
    assert set(names.values()) == {1}

    totals = run.metrics.snapshot()
    # A batch retried after a failure may turn a "created" into an "already registered"; never more.
    assert totals[MetricName.CREATED] + totals[MetricName.ALREADY_REGISTERED] == 210
    assert totals[MetricName.SENT_TO_DLQ] == 10
