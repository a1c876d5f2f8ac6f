"""The redrive command moves dead letters back, filtered by reason, deleting nothing before its copy is sent."""

from __future__ import annotations

from functools import partial

import pytest

from registrar_local.stack import queue_depth
from registrar_ops import redrive as redrive_module
from registrar_ops.redrive import RedriveFilter
from tests.kit.aws import drain, letter_attributes, new_queue

# In-process SQS answers at once: the long polls that give real SQS time to show every letter
# would only make these tests wait.
redrive = partial(redrive_module.redrive, long_poll_seconds=0)


@pytest.fixture
def conflicts_and_poison(sqs) -> tuple[str, str]:
    """A source queue, and its DLQ holding three conflicts and two bodies that are not JSON."""
    source = new_queue(sqs, "registrations")
    dlq = new_queue(sqs, "registrations-dlq")
    conflict = letter_attributes("conflict", "User exists with same username: held by another user")
    for i in range(3):
        sqs.send_message(QueueUrl=dlq, MessageBody=f'{{"email": "c{i}@example.com"}}', MessageAttributes=conflict)
    poison = letter_attributes("invalid", "body is not JSON")
    for i in range(2):
        sqs.send_message(QueueUrl=dlq, MessageBody=f"poison {i}", MessageAttributes=poison)
    return source, dlq


def test_only_the_letters_with_the_reason_go_back_with_body_and_attributes(sqs, conflicts_and_poison):
    source, dlq = conflicts_and_poison
    report = redrive(sqs, dlq, source, RedriveFilter(outcome="conflict"))
    assert (report.moved, report.left, report.failed) == (3, 2, 0)
    moved = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    assert sorted(m["Body"] for m in moved) == [f'{{"email": "c{i}@example.com"}}' for i in range(3)]
    assert {m["MessageAttributes"]["outcome"]["StringValue"] for m in moved} == {"conflict"}
    assert queue_depth(sqs, dlq) == 2


def test_reason_filter_is_a_case_insensitive_substring(sqs, conflicts_and_poison):
    source, dlq = conflicts_and_poison
    assert redrive(sqs, dlq, source, RedriveFilter(reason_contains="NOT JSON")).moved == 2


def test_without_a_filter_everything_moves_even_where_move_tasks_are_missing(sqs, conflicts_and_poison):
    source, dlq = conflicts_and_poison
    report = redrive(sqs, dlq, source)
    assert report.method == "receive-send-delete"  # moto has no StartMessageMoveTask
    assert report.moved == 5
    assert queue_depth(sqs, source) == 5


def test_nothing_is_deleted_when_the_copy_cannot_be_sent(sqs, conflicts_and_poison):
    _, dlq = conflicts_and_poison
    missing = "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue"
    report = redrive(sqs, dlq, missing, RedriveFilter(outcome="conflict"))
    assert (report.moved, report.failed) == (0, 3)
    assert queue_depth(sqs, dlq) == 5


def test_letters_go_back_to_a_fifo_queue_in_their_own_message_groups(sqs):
    source = new_queue(sqs, "registrations", FifoQueue="true")
    dlq = new_queue(sqs, "registrations-dlq", FifoQueue="true")
    for group in ("alice", "bob"):
        sqs.send_message(
            QueueUrl=dlq,
            MessageBody=f'{{"email": "{group}@example.com"}}',
            MessageAttributes=letter_attributes("unknown_group", "the realm has no group /partners"),
            MessageGroupId=group,
            MessageDeduplicationId=f"dlq-{group}",
        )

    report = redrive(sqs, dlq, source, RedriveFilter(outcome="unknown_group"))

    assert (report.moved, report.failed) == (2, 0)
    back = drain(sqs, source)
    assert {m["Attributes"]["MessageGroupId"]: m["Body"] for m in back} == {
        "alice": '{"email": "alice@example.com"}',
        "bob": '{"email": "bob@example.com"}',
    }
    assert queue_depth(sqs, dlq) == 0
