"""The poller keeps the event source mapping's contract (moto in-process; the function is a stand-in)."""

from __future__ import annotations

import json

import pytest

from registrar_local.poller import InvocationFailed, Poller, failed_message_ids
from registrar_local.stack import create_queues, queue_depth, send_bodies
from registrar_local.stack_settings import StackSettings, read_stack_settings
from tests.kit.aws import queue_attributes

SETTINGS = StackSettings(
    function_timeout=30,
    visibility_timeout=0,  # what the function does not delete is visible again at once
    max_receive_count=5,
    retention_seconds=345600,
    dlq_retention_seconds=1209600,
    batch_size=10,
    max_concurrency=2,
    batching_window_seconds=0,
)


@pytest.fixture
def queues(sqs):
    queues = create_queues(sqs, SETTINGS)
    send_bodies(sqs, queues.source_url, [json.dumps({"n": n}) for n in range(10)])
    return queues


def visible_bodies(sqs, queue_url) -> list[int]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return sorted(json.loads(message["Body"])["n"] for message in messages)


def test_the_event_has_the_lambda_shape_with_receive_counts(sqs, queues):
    seen: list[dict] = []

    def invoke(event):
        seen.append(event)
        return {"batchItemFailures": []}

    Poller(sqs, queues.source_url, invoke).poll_once()
    (event,) = seen
    assert len(event["Records"]) == 10
    record = event["Records"][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":registrations")
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["receiptHandle"]
    assert json.loads(record["body"]) == {"n": 0}


def test_a_partial_failure_deletes_only_the_successes(sqs, queues):
    def invoke(event):
        odd = [r["messageId"] for r in event["Records"] if json.loads(r["body"])["n"] % 2]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in odd]}

    report = Poller(sqs, queues.source_url, invoke).poll_once()
    assert (report.deleted, report.returned) == (5, 5)
    assert visible_bodies(sqs, queues.source_url) == [1, 3, 5, 7, 9]


def test_a_handler_that_raises_gets_the_whole_batch_back(sqs, queues):
    def invoke(event):
        raise InvocationFailed("function raised RuntimeError")

    report = Poller(sqs, queues.source_url, invoke).poll_once()
    assert report.deleted == 0
    assert report.error == "function raised RuntimeError"
    assert visible_bodies(sqs, queues.source_url) == list(range(10))


def test_an_unknown_item_identifier_fails_the_whole_batch(sqs, queues):
    def invoke(event):
        return {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}, {"itemIdentifier": "nope"}]}

    report = Poller(sqs, queues.source_url, invoke).poll_once()
    assert report.deleted == 0
    assert visible_bodies(sqs, queues.source_url) == list(range(10))


def test_an_empty_answer_means_every_record_succeeded(sqs, queues):
    Poller(sqs, queues.source_url, lambda event: None).poll_once()
    assert queue_depth(sqs, queues.source_url) == 0


@pytest.mark.parametrize(
    ("response", "kept"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "a"}]}, {"a"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b"}),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, {"a", "b"}),
        ({"batchItemFailures": [{}]}, {"a", "b"}),
        ({"batchItemFailures": "a"}, {"a", "b"}),
    ],
)
def test_partial_batch_response_rules(response, kept):
    assert failed_message_ids(response, {"a", "b"}) == kept


def test_redrive_is_left_to_the_queue(sqs, queues):
    # A message that fails maxReceiveCount times is moved to the DLQ by the queue itself.
    poller = Poller(
        sqs,
        queues.source_url,
        lambda event: {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]},
        wait_seconds=0,
    )
    for _ in range(SETTINGS.max_receive_count + 1):
        poller.poll_once()
    assert queue_depth(sqs, queues.source_url) == 0
    assert queue_depth(sqs, queues.dlq_url) == 10


def test_local_queues_carry_the_template_settings(sqs):
    settings = read_stack_settings()
    queues = create_queues(sqs, settings)
    source, dlq = queue_attributes(sqs, queues.source_url), queue_attributes(sqs, queues.dlq_url)
    assert int(source["VisibilityTimeout"]) == settings.visibility_timeout >= 6 * settings.function_timeout
    assert int(source["MessageRetentionPeriod"]) == settings.retention_seconds
    assert json.loads(source["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq["QueueArn"],
        "maxReceiveCount": settings.max_receive_count,
    }
    assert int(dlq["MessageRetentionPeriod"]) == settings.dlq_retention_seconds == 14 * 24 * 3600
