"""ElasticMQ, the local stack's SQS: the template's queue settings hold, redrive really happens, commands work."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import replace
from typing import Any

import pytest

from registrar_local.stack import Enqueuer, create_queues, queue_depth, send_bodies
from registrar_local.stack_settings import read_stack_settings
from registrar_ops.redrive import RedriveFilter, redrive
from tests.kit.aws import letter_attributes, queue_attributes


@pytest.fixture
def elasticmq_sqs(elasticmq):
    return elasticmq.sqs()


@pytest.fixture
def prefix() -> str:
    return f"q{uuid.uuid4().hex[:8]}"


def test_the_queues_have_the_templates_visibility_retention_and_redrive_policy(elasticmq_sqs, prefix):
    settings = read_stack_settings()
    asked: dict[str, dict[str, str]] = {}

    def record(params: dict[str, Any], **_: Any) -> None:
        asked[params["QueueName"]] = params.get("Attributes", {})

    elasticmq_sqs.meta.events.register("provide-client-params.sqs.CreateQueue", record)
    queues = create_queues(elasticmq_sqs, settings, prefix=prefix)
    source = queue_attributes(elasticmq_sqs, queues.source_url)
    dlq = queue_attributes(elasticmq_sqs, queues.dlq_url)
    assert int(source["VisibilityTimeout"]) == settings.visibility_timeout
    policy = json.loads(source["RedrivePolicy"])
    assert int(policy["maxReceiveCount"]) == settings.max_receive_count
    assert policy["deadLetterTargetArn"] == dlq["QueueArn"]
    # ElasticMQ takes MessageRetentionPeriod but neither keeps nor reports it (GetQueueAttributes
    # leaves it out), so what the queues were created with is checked; test_poller reads it back on moto.
    assert "MessageRetentionPeriod" not in source
    assert int(asked[prefix]["MessageRetentionPeriod"]) == settings.retention_seconds
    assert int(asked[f"{prefix}-dlq"]["MessageRetentionPeriod"]) == settings.dlq_retention_seconds


def test_a_message_received_max_receive_count_times_moves_to_the_dlq(elasticmq_sqs, prefix):
    settings = replace(read_stack_settings(), visibility_timeout=1)
    queues = create_queues(elasticmq_sqs, settings, prefix=prefix)
    send_bodies(elasticmq_sqs, queues.source_url, ['{"email": "poison@example.com"}'])
    counts = []
    for _ in range(settings.max_receive_count):
        (message,) = elasticmq_sqs.receive_message(
            QueueUrl=queues.source_url, WaitTimeSeconds=5, VisibilityTimeout=0, AttributeNames=["All"]
        )["Messages"]
        counts.append(int(message["Attributes"]["ApproximateReceiveCount"]))
    assert counts == list(range(1, settings.max_receive_count + 1))

    # The next receive finds it over its limit: the queue moves it instead of delivering it.
    assert elasticmq_sqs.receive_message(QueueUrl=queues.source_url, WaitTimeSeconds=1).get("Messages", []) == []
    (letter,) = elasticmq_sqs.receive_message(QueueUrl=queues.dlq_url, WaitTimeSeconds=5)["Messages"]
    assert letter["Body"] == '{"email": "poison@example.com"}'
    assert queue_depth(elasticmq_sqs, queues.source_url) == 0


def test_fifo_queues_are_created_and_keep_the_order_of_a_group(elasticmq_sqs, prefix):
    queues = create_queues(elasticmq_sqs, read_stack_settings(), prefix=prefix, fifo=True)
    assert queues.source_url.endswith(".fifo")
    assert queue_attributes(elasticmq_sqs, queues.source_url)["FifoQueue"] == "true"
    assert queue_attributes(elasticmq_sqs, queues.dlq_url)["FifoQueue"] == "true"
    send_bodies(elasticmq_sqs, queues.source_url, [str(n) for n in range(10)])
    received = elasticmq_sqs.receive_message(QueueUrl=queues.source_url, MaxNumberOfMessages=10, WaitTimeSeconds=5)
    assert [m["Body"] for m in received["Messages"]] == [str(n) for n in range(10)]


def test_the_enqueuer_sends_everything_from_several_threads_and_stops_when_asked(elasticmq_sqs, elasticmq, prefix):
    queues = create_queues(elasticmq_sqs, read_stack_settings(), prefix=prefix)
    bodies = [str(n) for n in range(1003)]
    enqueuer = Enqueuer(elasticmq.sqs, queues.source_url, bodies, threading.Event(), threads=4).start()
    enqueuer.join()
    assert enqueuer.sent == 1003
    assert queue_depth(elasticmq_sqs, queues.source_url) == 1003

    stopped = threading.Event()
    stopped.set()
    nothing = Enqueuer(elasticmq.sqs, queues.source_url, bodies, stopped, threads=4).start()
    nothing.join()
    assert nothing.sent == 0


@pytest.fixture
def letters(elasticmq_sqs, prefix):
    queues = create_queues(elasticmq_sqs, read_stack_settings(), prefix=prefix)
    for outcome in ("conflict", "conflict", "invalid"):
        elasticmq_sqs.send_message(
            QueueUrl=queues.dlq_url,
            MessageBody=outcome,
            MessageAttributes=letter_attributes(outcome, f"{outcome}: a reason"),
        )
    return queues


def test_redrive_without_a_filter_uses_sqss_move_task(elasticmq_sqs, letters):
    report = redrive(elasticmq_sqs, letters.dlq_url, letters.source_url)
    assert (report.method, report.moved) == ("StartMessageMoveTask", 3)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and queue_depth(elasticmq_sqs, letters.dlq_url) > 0:
        time.sleep(0.2)
    assert queue_depth(elasticmq_sqs, letters.dlq_url) == 0
    assert queue_depth(elasticmq_sqs, letters.source_url) == 3


def test_redrive_with_a_filter_moves_only_the_matching_letters(elasticmq_sqs, letters):
    report = redrive(elasticmq_sqs, letters.dlq_url, letters.source_url, RedriveFilter(outcome="invalid"))
    assert (report.method, report.moved, report.left, report.failed) == ("receive-send-delete", 1, 2, 0)
    (moved,) = elasticmq_sqs.receive_message(QueueUrl=letters.source_url, MessageAttributeNames=["All"])["Messages"]
    assert moved["Body"] == "invalid"
    assert moved["MessageAttributes"]["outcome"]["StringValue"] == "invalid"
    assert queue_depth(elasticmq_sqs, letters.dlq_url) == 2
