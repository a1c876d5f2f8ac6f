"""One registration -> one outcome, with Keycloak in memory."""

from __future__ import annotations

import json
from typing import Any

import pytest

from registrar.domain.deadline import Deadline, TimeBudget
from registrar.domain.directory import KeycloakUnavailable, KeycloakUser
from registrar.domain.groups import GroupCatalog
from registrar.domain.outcomes import Outcome, OutcomeKind
from registrar.domain.registrar import Registrar
from registrar.domain.registration import Registration, RegistrationPolicy, parse_body
from registrar.domain.resilience import CircuitBreaker, CircuitState, RetryPolicy
from registrar.domain.user_profile import UserProfileReview
from tests.kit.directory import MemoryDirectory

POLICY = RegistrationPolicy(allowed_groups=frozenset({"/customers", "/partners"}))


def registration(**fields: Any) -> Registration:
    return parse_body(json.dumps(fields), POLICY).registration


def registrar(directory: MemoryDirectory, breaker: CircuitBreaker | None = None) -> Registrar:
    return Registrar(
        directory,
        realm="registrar",
        registration_id_attribute="registrationId",
        breaker=breaker or CircuitBreaker(),
        retry_policy=RetryPolicy(),
        groups=GroupCatalog(),
        profile=UserProfileReview(names=frozenset({"registrationId"})),
        sleep=lambda _seconds: None,
    )


def register(target: Registrar, message_id: str = "m-0", **fields: Any) -> Outcome:
    return target.register(registration(**fields), [message_id], Deadline.after(30))


def test_new_user_is_created() -> None:
    directory = MemoryDirectory()
    outcome = register(registrar(directory), email="a@example.com")
    assert outcome.kind is OutcomeKind.CREATED
    assert outcome.user_id == directory.users[0].id
    assert len(outcome.keycloak_latencies_ms) == 1


def test_conflict_with_the_same_person_is_already_registered() -> None:
    directory = MemoryDirectory()
    target = registrar(directory)
    first = register(target, email="a@example.com", username="ada")
    again = register(target, email="A@example.com", username="ADA")
    assert again.kind is OutcomeKind.ALREADY_REGISTERED
    assert again.user_id == first.user_id


def test_same_registration_id_is_already_registered_even_if_email_changed() -> None:
    directory = MemoryDirectory()
    held = KeycloakUser("u1", "ada", "old@example.com", {"registrationId": ["r-9"]})
    directory.by_username["ada"] = directory.by_email["old@example.com"] = held
    outcome = register(registrar(directory), email="new@example.com", username="ada", registrationId="r-9")
    assert (outcome.kind, outcome.user_id) == (OutcomeKind.ALREADY_REGISTERED, "u1")


def test_conflict_with_another_person_is_permanent() -> None:
    target = registrar(MemoryDirectory())
    register(target, email="a@example.com", username="ada")
    other = register(target, email="b@example.com", username="ada")
    assert (other.kind, other.http_status) == (OutcomeKind.CONFLICT, 409)
    assert "same username" in other.reason


def test_keycloak_refusal_is_invalid() -> None:
    outcome = register(registrar(MemoryDirectory()), email="a@example.com", username="bad!name")
    assert (outcome.kind, outcome.http_status) == (OutcomeKind.INVALID, 400)
    assert "invalid-character" in outcome.reason


def test_unavailable_keycloak_is_retryable_with_retry_after_and_its_retries_counted() -> None:
    directory = MemoryDirectory(fail_with=KeycloakUnavailable("Keycloak answered 429", status=429, retry_after=3))
    outcome = register(registrar(directory), email="a@example.com")
    assert (outcome.kind, outcome.http_status, outcome.retry_after) == (OutcomeKind.RETRYABLE, 429, 3)
    assert outcome.keycloak_retries == 2  # 3 attempts
    assert len(directory.create_calls) == 3


def test_no_time_left_for_a_request_is_deferred() -> None:
    outcome = registrar(MemoryDirectory()).register(
        registration(email="a@example.com"), ["m-0"], Deadline(lambda: 100, TimeBudget(margin_ms=0))
    )
    assert outcome.kind is OutcomeKind.DEFERRED


def test_a_group_the_realm_lacks_is_a_permanent_unknown_group_without_a_create() -> None:
    directory = MemoryDirectory(groups={"/customers"})
    outcome = register(registrar(directory), email="a@example.com", groups=["/partners"])
    assert outcome.kind is OutcomeKind.UNKNOWN_GROUP
    assert outcome.permanent
    assert "/partners" in outcome.reason
    assert "registrar" in outcome.reason
    assert directory.create_calls == []


def test_group_answers_are_cached_so_a_batch_asks_once_per_group() -> None:
    directory = MemoryDirectory()
    target = registrar(directory)
    for i in range(5):
        assert register(target, f"m-{i}", email=f"u{i}@example.com", groups=["/customers"]).succeeded
    assert directory.group_calls == ["/customers"]


def test_a_group_deleted_after_it_was_cached_is_noticed_at_the_create() -> None:
    directory = MemoryDirectory(groups={"/customers", "/partners"})
    target = registrar(directory)
    assert register(target, email="a@example.com", groups=["/partners"]).succeeded
    directory.groups.discard("/partners")  # Keycloak now answers the create with a bare 500
    outcome = register(target, "m-1", email="b@example.com", groups=["/partners"])
    assert outcome.kind is OutcomeKind.UNKNOWN_GROUP


def test_one_message_failing_on_every_delivery_never_opens_the_breaker() -> None:
    directory = MemoryDirectory()
    target = registrar(directory, CircuitBreaker(failure_threshold=2))
    for _delivery in range(10):
        assert register(target, "poison", email="retry-me@example.com", username="retry-me").pending
    assert register(target, "m-1", email="good@example.com").kind is OutcomeKind.CREATED


def test_an_outage_failing_many_records_opens_the_breaker_and_defers_without_calling() -> None:
    directory = MemoryDirectory(fail_with=KeycloakUnavailable("Keycloak answered 503", status=503))
    breaker = CircuitBreaker(failure_threshold=3)
    target = registrar(directory, breaker)
    for i in range(3):
        register(target, f"m-{i}", email=f"u{i}@example.com")
    assert breaker.state is CircuitState.OPEN
    calls = len(directory.create_calls)
    deferred = register(target, "m-9", email="later@example.com")
    assert (deferred.kind, deferred.error_class) == (OutcomeKind.DEFERRED, "CircuitOpen")
    assert len(directory.create_calls) == calls


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_not_retried_in_the_invocation(status: int) -> None:
    directory = MemoryDirectory(fail_with=KeycloakUnavailable("forbidden", status=status))
    outcome = register(registrar(directory), email="a@example.com")
    assert outcome.kind is OutcomeKind.RETRYABLE
    assert len(directory.create_calls) == 1


def test_prepare_reports_a_missing_allowlisted_group_once_and_answers_for_every_record_without_a_token() -> None:
    directory = MemoryDirectory(groups={"/customers"})
    target = registrar(directory)
    assert target.prepare(Deadline.after(30), ["/customers", "/partners"]) is None
    directory.token_error = KeycloakUnavailable("token request failed", status=503)
    unavailable = target.prepare(Deadline.after(30), ["/customers", "/partners"])
    assert unavailable is not None
    assert unavailable.kind is OutcomeKind.RETRYABLE
    assert sorted(directory.group_calls) == ["/customers", "/partners"]
