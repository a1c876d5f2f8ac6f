"""The breaker, the retry policy, the visibility backoff and when a message has been retried enough."""

from __future__ import annotations

import json
from typing import Any

import pytest

from registrar.adapters.sqs import queue_url_from_arn
from registrar.domain.backoff import RetryLimits, VisibilityBackoff
from registrar.domain.deadline import Deadline
from registrar.domain.directory import KeycloakUnavailable
from registrar.domain.resilience import CircuitBreaker, CircuitState, RetryPolicy, Verdict
from registrar.processor import process_event
from registrar_local.poller import lambda_event
from tests.kit.aws import new_queue
from tests.kit.directory import MemoryDirectory
from tests.kit.runtime import memory_runtime


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fail(breaker: CircuitBreaker, record: str) -> None:
    admission = breaker.admit()
    assert admission is not None
    breaker.settle(admission, record, Verdict.FAILED)


def test_breaker_opens_after_distinct_failing_records_and_probes_once_after_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_seconds=10, clock=clock)
    fail(breaker, "a")
    fail(breaker, "b")
    assert breaker.state is CircuitState.CLOSED
    fail(breaker, "c")
    assert breaker.state is CircuitState.OPEN
    assert breaker.admit() is None

    clock.now = 10
    probe = breaker.admit()
    assert probe is not None
    assert probe.probe
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.admit() is None  # only one probe at a time
    breaker.settle(probe, "d", Verdict.FAILED)
    assert breaker.state is CircuitState.OPEN

    clock.now = 20
    probe = breaker.admit()
    assert probe is not None
    breaker.settle(probe, "e", Verdict.ANSWERED)
    assert breaker.state is CircuitState.CLOSED


def test_the_same_record_failing_again_adds_nothing() -> None:
    breaker = CircuitBreaker(failure_threshold=2)
    for _ in range(10):
        fail(breaker, "poison")
    assert breaker.state is CircuitState.CLOSED
    fail(breaker, "other")
    assert breaker.state is CircuitState.OPEN


def test_an_answer_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2)
    fail(breaker, "a")
    admission = breaker.admit()
    assert admission is not None
    breaker.settle(admission, "b", Verdict.ANSWERED)
    fail(breaker, "c")
    assert breaker.state is CircuitState.CLOSED


def test_a_probe_without_an_answer_does_not_stick_the_breaker() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=1, clock=clock)
    fail(breaker, "a")
    clock.now = 1
    probe = breaker.admit()
    assert probe is not None
    breaker.settle(probe, "a", Verdict.NO_ANSWER)
    assert breaker.admit() is not None  # the next record probes


def test_a_failed_probe_re_opens_even_when_its_record_failed_before() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=1, clock=clock)
    fail(breaker, "a")
    clock.now = 1
    probe = breaker.admit()
    assert probe is not None
    breaker.settle(probe, "a", Verdict.FAILED)  # an outage: every probe is a redelivery
    assert breaker.state is CircuitState.OPEN


def test_retry_delay_is_full_jitter_under_an_exponential_ceiling_with_retry_after_as_floor() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay_seconds=0.5, max_delay_seconds=3)
    assert policy.delay(0, None, rng=lambda: 1.0) == 0.5
    assert policy.delay(2, None, rng=lambda: 1.0) == 2.0
    assert policy.delay(5, None, rng=lambda: 1.0) == 3.0
    assert policy.delay(2, None, rng=lambda: 0.0) == 0.0
    assert policy.delay(0, 4.0, rng=lambda: 0.5) == 4.0


def test_backoff_grows_with_the_receive_count_and_is_capped() -> None:
    backoff = VisibilityBackoff(base_seconds=30, max_seconds=900)
    upper = [backoff.seconds(n, rng=lambda: 1.0) for n in range(1, 8)]
    lower = [backoff.seconds(n, rng=lambda: 0.0) for n in range(1, 8)]
    assert upper == [30, 60, 120, 240, 480, 900, 900]
    assert lower == [15, 30, 60, 120, 240, 450, 450]
    assert backoff.seconds(1, retry_after=100, rng=lambda: 0.0) == 100
    assert backoff.shortest_span(4) == 15 + 30 + 60


def test_retry_limits_count_time_since_sent_and_the_queues_last_receive() -> None:
    limits = RetryLimits(retry_window_seconds=3600, max_receive_count=100)
    assert not limits.exhausted(receive_count=50, sent_at=1000, now=1000 + 3599)
    assert limits.exhausted(receive_count=2, sent_at=1000, now=1000 + 3600)
    assert limits.exhausted(receive_count=100, sent_at=1000, now=1001)
    assert not RetryLimits().exhausted(receive_count=10_000, sent_at=0, now=10**9)


def test_queue_url_from_arn() -> None:
    assert queue_url_from_arn("arn:aws:sqs:eu-west-1:123456789012:registrations") == (
        "https://sqs.eu-west-1.amazonaws.com/123456789012/registrations"
    )
    with pytest.raises(ValueError, match="not an SQS queue ARN"):
        queue_url_from_arn("arn:aws:sns:eu-west-1:123456789012:topic")


@pytest.mark.parametrize(("base_seconds", "visible_again"), [(0, 2), (60, 0)])
def test_failed_records_are_hidden_for_the_backoff(
    sqs: Any, dlq_url: str, base_seconds: int, visible_again: int
) -> None:
    queue_url = new_queue(sqs, "registrations", VisibilityTimeout="0")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for i in range(2):
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"email": f"b{i}@example.com"}))
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    directory = MemoryDirectory(fail_with=KeycloakUnavailable("Keycloak answered 503", status=503))
    runtime = memory_runtime(directory, sqs, dlq_url, visibility_backoff_base_seconds=base_seconds)

    response = process_event(lambda_event(messages, arn, "eu-west-1"), Deadline.after(30), runtime)

    assert len(response["batchItemFailures"]) == 2
    assert len(sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])) == visible_again
