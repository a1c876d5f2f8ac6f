from __future__ import annotations

import json
from dataclasses import replace

import pytest

from registrar.deadline import Deadline, DeadlineReached
from registrar.handler import process_event
from registrar.keycloak import KeycloakUnavailable
from registrar.resilience import CircuitBreaker, CircuitOpen, CircuitState, ResilientDirectory, RetryPolicy
from registrar.visibility import VisibilityBackoff, queue_url_from_arn
from registrar_local.poller import lambda_event
from tests.unit.conftest import body, sqs_event
from tests.unit.fakes import InMemoryDirectory


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_consecutive_failures_and_probes_once_after_cooldown():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_seconds=10, clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert not breaker.allow()

    clock.now = 10
    assert breaker.allow()  # the probe
    assert breaker.state is CircuitState.HALF_OPEN
    assert not breaker.allow()  # only one probe at a time
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN

    clock.now = 20
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()


def test_a_success_resets_the_failure_count():
    breaker = CircuitBreaker(failure_threshold=2)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED


def test_retry_delay_is_full_jitter_under_an_exponential_ceiling_with_retry_after_as_floor():
    policy = RetryPolicy(max_attempts=5, base_delay_seconds=0.5, max_delay_seconds=3)
    assert policy.delay(0, None, rng=lambda: 1.0) == 0.5
    assert policy.delay(2, None, rng=lambda: 1.0) == 2.0
    assert policy.delay(5, None, rng=lambda: 1.0) == 3.0
    assert policy.delay(2, None, rng=lambda: 0.0) == 0.0
    assert policy.delay(0, 4.0, rng=lambda: 0.5) == 4.0


def resilient(directory, **policy):
    sleeps: list[float] = []
    wrapped = ResilientDirectory(
        directory, CircuitBreaker(failure_threshold=50), RetryPolicy(**policy), sleep=sleeps.append
    )
    return wrapped, sleeps


class FlakyDirectory(InMemoryDirectory):
    """Fails the first `failures` creates with the given error, then behaves."""

    def __init__(self, failures: int, error: KeycloakUnavailable) -> None:
        super().__init__()
        self.failures = failures
        self.error = error

    def create_user(self, user, deadline):
        if self.failures > 0:
            self.failures -= 1
            self.create_calls.append(user)
            raise self.error
        return super().create_user(user, deadline)


@pytest.mark.parametrize("status", [None, 429, 500, 503])
def test_transient_failures_are_retried_in_the_invocation(status):
    directory = FlakyDirectory(
        2, KeycloakUnavailable("flaky", status=status, retry_after=1.5 if status == 429 else None)
    )
    wrapped, sleeps = resilient(directory, max_attempts=3)
    wrapped.create_user({"username": "a", "email": "a@example.com"}, Deadline.after(30))
    assert len(directory.create_calls) == 3
    assert len(sleeps) == 2
    assert wrapped.retries.take() == 2
    if status == 429:
        assert min(sleeps) >= 1.5


@pytest.mark.parametrize("status", [401, 403])
def test_configuration_failures_are_not_retried_in_the_invocation(status):
    directory = FlakyDirectory(5, KeycloakUnavailable("forbidden", status=status))
    wrapped, sleeps = resilient(directory)
    with pytest.raises(KeycloakUnavailable):
        wrapped.create_user({"username": "a", "email": "a@example.com"}, Deadline.after(30))
    assert len(directory.create_calls) == 1
    assert sleeps == []


def test_retries_stop_at_the_attempt_limit_and_before_the_deadline():
    directory = FlakyDirectory(10, KeycloakUnavailable("down", status=503))
    wrapped, _ = resilient(directory, max_attempts=4)
    with pytest.raises(KeycloakUnavailable):
        wrapped.create_user({"username": "a", "email": "a@example.com"}, Deadline.after(30))
    assert len(directory.create_calls) == 4

    directory = FlakyDirectory(10, KeycloakUnavailable("slow down", status=429, retry_after=60))
    wrapped, sleeps = resilient(directory, max_attempts=4)
    with pytest.raises(KeycloakUnavailable):
        wrapped.create_user({"username": "a", "email": "a@example.com"}, Deadline.after(30))
    assert (len(directory.create_calls), sleeps) == (1, [])


def test_an_open_circuit_defers_records_without_calling_keycloak(runtime, directory):
    directory.fail_with = KeycloakUnavailable("Keycloak answered 503", status=503)
    event = sqs_event(*(body(email=f"u{i}@example.com") for i in range(10)))
    runtime.directory.breaker.failure_threshold = 3
    response = process_event(event, Deadline.after(30), runtime)
    assert len(response["batchItemFailures"]) == 10
    assert runtime.directory.breaker.state is CircuitState.OPEN
    calls_while_failing = len(directory.create_calls)
    assert calls_while_failing < 10 * 3

    directory.fail_with = None
    response = process_event(event, Deadline.after(30), runtime)
    assert len(response["batchItemFailures"]) == 10
    assert len(directory.create_calls) == calls_while_failing
    with pytest.raises(CircuitOpen):
        runtime.directory.create_user({"username": "x", "email": "x@example.com"}, Deadline.after(30))


def test_backoff_grows_with_the_receive_count_and_is_capped():
    backoff = VisibilityBackoff(base_seconds=30, max_seconds=900)
    upper = [backoff.seconds(n, rng=lambda: 1.0) for n in range(1, 8)]
    lower = [backoff.seconds(n, rng=lambda: 0.0) for n in range(1, 8)]
    assert upper == [30, 60, 120, 240, 480, 900, 900]
    assert lower == [15, 30, 60, 120, 240, 450, 450]
    assert backoff.seconds(1, retry_after=100, rng=lambda: 0.0) == 100


def test_queue_url_from_arn():
    assert queue_url_from_arn("arn:aws:sqs:eu-west-1:123456789012:registrations") == (
        "https://sqs.eu-west-1.amazonaws.com/123456789012/registrations"
    )
    with pytest.raises(ValueError, match="not an SQS queue ARN"):
        queue_url_from_arn("arn:aws:sns:eu-west-1:123456789012:topic")


@pytest.mark.parametrize(("base_seconds", "visible_again"), [(0, 2), (60, 0)])
def test_failed_records_are_hidden_for_the_backoff(runtime, directory, sqs, base_seconds, visible_again):
    queue_url = sqs.create_queue(QueueName="registrations", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for i in range(2):
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"email": f"b{i}@example.com"}))
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    directory.fail_with = KeycloakUnavailable("Keycloak answered 503", status=503)
    runtime = replace(runtime, backoff=VisibilityBackoff(base_seconds=base_seconds, max_seconds=900))

    response = process_event(lambda_event(messages, arn, "eu-west-1"), Deadline.after(30), runtime)

    assert len(response["batchItemFailures"]) == 2
    assert len(sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])) == visible_again


def test_a_cached_token_neither_resets_nor_closes_the_breaker(runtime, directory):
    # Default policy: 3 attempts per record, breaker at 5 failures in a row. Two one-record
    # invocations against a failing Keycloak make 6 failures; the cached token in between is
    # not a success.
    directory.fail_with = KeycloakUnavailable("Keycloak answered 503", status=503)
    runtime.directory.breaker.failure_threshold = 5
    for i in range(2):
        process_event(sqs_event(body(email=f"c{i}@example.com")), Deadline.after(30), runtime)
    assert runtime.directory.breaker.state is CircuitState.OPEN


def test_a_probe_that_ends_without_an_answer_does_not_stick_the_breaker():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=1, clock=clock)
    directory = ResilientDirectory(InMemoryDirectory(), breaker, RetryPolicy(), sleep=lambda _s: None)
    breaker.record_failure()
    clock.now = 1
    with pytest.raises(DeadlineReached):
        directory.create_user({"username": "a", "email": "a@example.com"}, Deadline(lambda: 100, 0))
    assert breaker.allow(), "the half-open breaker kept its probe slot after the probe gave up"
