"""Retries with backoff and a circuit breaker around Keycloak, per execution environment.

A retry after an unknown outcome (a timed-out POST) is safe: the repeated POST answers 409
and the 409 is resolved by looking the user up.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from registrar.deadline import Deadline
from registrar.keycloak import HTTP_TOO_MANY_REQUESTS, CreateResult, KeycloakUnavailable, KeycloakUser


class CircuitOpen(Exception):
    """Keycloak is failing: the record is deferred without calling it."""


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """Opens after `failure_threshold` failures in a row; after `cooldown_seconds` one probe goes through."""

    failure_threshold: int = 5
    cooldown_seconds: float = 30.0
    clock: Callable[[], float] = time.monotonic
    state: CircuitState = CircuitState.CLOSED
    _consecutive_failures: int = 0
    _opened_at: float = 0.0
    _probe_in_flight: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self) -> bool:
        with self._lock:
            if self.state is CircuitState.CLOSED:
                return True
            if self.state is CircuitState.OPEN and self.clock() - self._opened_at >= self.cooldown_seconds:
                self.state = CircuitState.HALF_OPEN
                self._probe_in_flight = False
            if self.state is CircuitState.HALF_OPEN and not self._probe_in_flight:
                self._probe_in_flight = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._consecutive_failures = 0
            self._probe_in_flight = False
            self.state = CircuitState.CLOSED

    def release_probe(self) -> None:
        """The probe ended without an answer from Keycloak (no time left, say): let another try."""
        with self._lock:
            self._probe_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._consecutive_failures += 1
            probe_failed = self.state is CircuitState.HALF_OPEN
            if probe_failed or (
                self.state is CircuitState.CLOSED and self._consecutive_failures >= self.failure_threshold
            ):
                self.state = CircuitState.OPEN
                self._opened_at = self.clock()
                self._probe_in_flight = False


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; a Retry-After from Keycloak is a floor."""

    max_attempts: int = 3
    base_delay_seconds: float = 0.2
    max_delay_seconds: float = 5.0

    def delay(self, attempt: int, retry_after: float | None, rng: Callable[[], float] = random.random) -> float:
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2.0**attempt)
        jittered = ceiling * rng()
        return max(jittered, retry_after or 0.0)


def is_transient(error: KeycloakUnavailable) -> bool:
    """Worth another try in the same invocation: transport errors, 429 and 5xx (not 401/403: config)."""
    return error.status is None or error.status == HTTP_TOO_MANY_REQUESTS or error.status >= 500


@dataclass
class RetryCounter:
    """Retries made by one invocation's workers (read in the invoking thread after the fan-in)."""

    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self) -> None:
        with self._lock:
            self._count += 1

    def take(self) -> int:
        with self._lock:
            count, self._count = self._count, 0
            return count


class ResilientDirectory:
    """A UserDirectory that retries transient failures and stops calling Keycloak while it is failing."""

    def __init__(
        self,
        inner: Any,
        breaker: CircuitBreaker,
        policy: RetryPolicy,
        retries: RetryCounter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._inner = inner
        self.breaker = breaker
        self._policy = policy
        self.retries = retries or RetryCounter()
        self._sleep = sleep

    def ensure_token(self, deadline: Deadline) -> None:
        # Not gated by the breaker: a cached token makes no request, so it can neither probe
        # Keycloak nor prove it healthy. A failed token request still counts as a failure.
        self._call(lambda: self._inner.ensure_token(deadline), deadline, gated=False)

    def create_user(self, user: dict[str, object], deadline: Deadline) -> CreateResult:
        result: CreateResult = self._call(lambda: self._inner.create_user(user, deadline), deadline)
        return result

    def find_users(self, *, username: str, email: str, deadline: Deadline) -> list[KeycloakUser]:
        found: list[KeycloakUser] = self._call(
            lambda: self._inner.find_users(username=username, email=email, deadline=deadline), deadline
        )
        return found

    def _call[T](self, call: Callable[[], T], deadline: Deadline, gated: bool = True) -> T:
        attempt = 0
        while True:
            if gated and not self.breaker.allow():
                raise CircuitOpen("circuit open: Keycloak has been failing; not called")
            try:
                result = call()
            except BaseException as error:
                if not isinstance(error, KeycloakUnavailable):
                    self.breaker.release_probe()  # no answer either way: the breaker must not stick
                    raise
                self.breaker.record_failure()
                delay = self._policy.delay(attempt, error.retry_after)
                attempt += 1
                if (
                    not is_transient(error)
                    or attempt >= self._policy.max_attempts
                    or deadline.remaining_ms() - delay * 1000 <= deadline.margin_ms
                ):
                    raise
                self.retries.add()
                self._sleep(delay)
                continue
            if gated:
                self.breaker.record_success()
            return result
