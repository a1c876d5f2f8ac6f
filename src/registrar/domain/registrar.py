"""One registration -> one outcome. Knows Keycloak's semantics, nothing of SQS or Lambda.

Around every Keycloak call: the circuit breaker's admission (once per record), retries of
transient failures with backoff, and the time each operation took.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import TypeVar

from registrar.domain.deadline import Deadline, DeadlineReached
from registrar.domain.directory import (
    HTTP_SERVER_ERROR,
    AlreadyExists,
    Created,
    KeycloakUnavailable,
    KeycloakUser,
    Rejected,
    UserDirectory,
)
from registrar.domain.groups import GroupCatalog, GroupLookup
from registrar.domain.outcomes import CircuitOpen, Outcome, OutcomeKind, classify
from registrar.domain.registration import Registration
from registrar.domain.resilience import CircuitBreaker, RetryPolicy, Verdict
from registrar.domain.user_profile import UserProfileReview

T = TypeVar("T")


@dataclass
class _Trace:
    """What one record cost in Keycloak calls."""

    latencies_ms: list[float] = field(default_factory=list)
    retries: int = 0

    def took(self, started: float) -> None:
        self.latencies_ms.append((time.perf_counter() - started) * 1000)

    def stamp(self, outcome: Outcome) -> Outcome:
        return replace(outcome, keycloak_latencies_ms=tuple(self.latencies_ms), keycloak_retries=self.retries)


def verdict_of(outcome: Outcome) -> Verdict:
    """What the record's outcome says about Keycloak, for the circuit breaker."""
    if outcome.kind is OutcomeKind.RETRYABLE:
        return Verdict.FAILED
    if outcome.kind is OutcomeKind.DEFERRED:
        return Verdict.NO_ANSWER
    return Verdict.ANSWERED


class Registrar:
    def __init__(
        self,
        directory: UserDirectory,
        *,
        realm: str,
        registration_id_attribute: str,
        breaker: CircuitBreaker,
        retry_policy: RetryPolicy,
        groups: GroupCatalog,
        profile: UserProfileReview,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._directory = directory
        self._realm = realm
        self._registration_id_attribute = registration_id_attribute
        self._breaker = breaker
        self._retry_policy = retry_policy
        self._groups = groups
        self._profile = profile
        self._sleep = sleep

    def prepare(self, deadline: Deadline, allowed_groups: Iterable[str]) -> Outcome | None:
        """Before the fan-out: a token, so the workers never race for one; once per environment,
        the allowlisted groups looked up, so a missing one is reported before it is asked for, and
        the realm's user profile read, so an attribute Keycloak would drop is reported.

        Returns the outcome of every record when no token can be had.
        """
        trace = _Trace()
        try:
            self._call(trace, deadline, lambda: self._directory.ensure_token(deadline))
        except (KeycloakUnavailable, DeadlineReached) as error:
            return trace.stamp(classify(error))
        with suppress(KeycloakUnavailable, DeadlineReached):  # each record looks its own groups up again
            self._groups.prime(allowed_groups, self._group_lookup(trace), deadline)
        self._profile.run(self._directory.user_profile, deadline)
        return None

    def register(self, registration: Registration, message_ids: Sequence[str], deadline: Deadline) -> Outcome:
        """Register one user for these messages (copies of one registration; the first is its key).

        Raises only on an unexpected error, which the caller logs and classifies.
        """
        admission = self._breaker.admit()
        if admission is None:
            return classify(CircuitOpen("circuit open: Keycloak has been failing; not called"))
        trace = _Trace()
        verdict = Verdict.NO_ANSWER
        try:
            try:
                outcome = self._register(registration, deadline, trace)
            except (KeycloakUnavailable, DeadlineReached) as error:
                outcome = classify(error)
            verdict = verdict_of(outcome)
            return trace.stamp(outcome)
        finally:
            self._breaker.settle(admission, message_ids[0], verdict)

    def _register(self, registration: Registration, deadline: Deadline, trace: _Trace) -> Outcome:
        missing = self._missing_groups(registration.groups, deadline, trace)
        if missing:
            return self._unknown_group(missing)
        user = registration.to_user_representation(self._registration_id_attribute)
        try:
            result = self._call(trace, deadline, lambda: self._directory.create_user(user, deadline))
        except KeycloakUnavailable as error:
            if error.status == HTTP_SERVER_ERROR and registration.groups:
                # Keycloak answers a group it lacks with a bare 500: a group deleted since it was
                # looked up looks like a failing server until it is looked up again.
                self._groups.forget(registration.groups)
                missing = self._missing_groups(registration.groups, deadline, trace)
                if missing:
                    return self._unknown_group(missing)
            raise
        match result:
            case Created(user_id=user_id):
                return Outcome(OutcomeKind.CREATED, "created", http_status=201, user_id=user_id)
            case Rejected(status=status, message=message):
                return Outcome(OutcomeKind.INVALID, f"Keycloak refused the user: {message}", "KeycloakRejected", status)
            case AlreadyExists(message=message):
                existing = self._call(
                    trace,
                    deadline,
                    lambda: self._directory.find_users(
                        username=registration.login, email=registration.email, deadline=deadline
                    ),
                )
                return self._resolve_conflict(registration, message, existing)

    def _missing_groups(self, groups: Sequence[str], deadline: Deadline, trace: _Trace) -> list[str]:
        if not groups:
            return []
        return self._groups.missing(groups, self._group_lookup(trace), deadline)

    def _group_lookup(self, trace: _Trace) -> GroupLookup:
        def lookup(path: str, deadline: Deadline) -> bool:
            return self._call(trace, deadline, lambda: self._directory.group_exists(path, deadline))

        return lookup

    def _unknown_group(self, missing: Sequence[str]) -> Outcome:
        names = ", ".join(missing)
        return Outcome(
            OutcomeKind.UNKNOWN_GROUP,
            f"group {names} does not exist in realm {self._realm}; create it, then redrive",
            "UnknownGroup",
        )

    def _resolve_conflict(self, registration: Registration, message: str, existing: list[KeycloakUser]) -> Outcome:
        """A 409 may be our own earlier attempt (at-least-once delivery, a timed-out POST)."""
        for user in existing:
            if self._is_same_person(registration, user):
                return Outcome(OutcomeKind.ALREADY_REGISTERED, "already registered", http_status=409, user_id=user.id)
        if not existing:
            # Keycloak said the user exists, but neither lookup finds it: a concurrent delete
            # or an index lag. Asking again later resolves it either way.
            raise KeycloakUnavailable(f"409 ({message}) but no matching user found", status=409)
        return Outcome(OutcomeKind.CONFLICT, f"{message}: held by another user", "UserConflict", http_status=409)

    def _is_same_person(self, registration: Registration, user: KeycloakUser) -> bool:
        if registration.registrationId is not None:
            stored = user.attributes.get(self._registration_id_attribute, [])
            if registration.registrationId in stored:
                return True
        return user.username == registration.login and (user.email or "").lower() == registration.email

    def _call(self, trace: _Trace, deadline: Deadline, call: Callable[[], T]) -> T:
        """One Keycloak operation, its transient failures retried while the deadline allows; timed."""
        started = time.perf_counter()
        attempt = 0
        while True:
            try:
                result = call()
            except DeadlineReached:
                if attempt:
                    trace.took(started)
                raise  # the first try sent nothing: no latency to report
            except KeycloakUnavailable as error:
                delay = self._retry_policy.delay(attempt, error.retry_after)
                attempt += 1
                if not error.transient or attempt >= self._retry_policy.max_attempts or not deadline.may_wait(delay):
                    trace.took(started)
                    raise
                trace.retries += 1
                self._sleep(delay)
                continue
            except BaseException:
                trace.took(started)
                raise
            trace.took(started)
            return result
