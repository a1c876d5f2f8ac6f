"""A message that fails on every receive ends as a DLQ copy that says why, sent by the function itself."""

from __future__ import annotations

import json
from dataclasses import replace

from registrar_local.keycloak_server import free_port
from registrar_local.stack import consumers_running, local_stack, queue_depth, send_bodies
from registrar_local.stack_settings import read_stack_settings
from tests.kit.aws import dead_letters

MAX_RECEIVE_COUNT = 3


def test_a_message_failing_on_its_last_receive_gets_a_reasoned_copy_not_a_silent_redrive(tmp_path):
    # Keycloak is down for the whole run: nothing listens on this port.
    unreachable = f"http://127.0.0.1:{free_port()}"
    settings = replace(
        read_stack_settings(), max_receive_count=MAX_RECEIVE_COUNT, visibility_timeout=5, max_concurrency=1
    )
    with local_stack(keycloak_url=unreachable, settings=settings) as stack:
        sqs = stack.sqs()
        send_bodies(sqs, stack.queues.source_url, [json.dumps({"email": "outage@example.com"})])
        environment = stack.function_environment() | {
            "VISIBILITY_BACKOFF_BASE_SECONDS": "1",
            "VISIBILITY_BACKOFF_MAX_SECONDS": "2",
            "KEYCLOAK_TIMEOUT_SECONDS": "1",
        }
        with consumers_running(stack, environment, tmp_path / "f.log") as (_run, stop):
            for _ in range(240):
                if queue_depth(sqs, stack.queues.dlq_url):
                    break
                stop.wait(0.5)

        (letter,) = dead_letters(sqs, stack.queues.dlq_url)
        assert queue_depth(sqs, stack.queues.source_url) == 0
    assert letter.outcome == "retries_exhausted"
    assert letter.reason.startswith("retries exhausted: ")
    assert letter.attributes["receiveCount"] == str(MAX_RECEIVE_COUNT)
    assert letter.attributes["errorClass"]
    assert json.loads(letter.body) == {"email": "outage@example.com"}
