"""Retries with backoff inside an invocation, and a circuit breaker per execution environment.

The breaker measures Keycloak, not one message: it counts failing *records*, not attempts (a
record's in-invocation retries are one failure), and a record that fails again on a later
delivery adds nothing. So a message that fails every time, alone or among healthy ones, can
never open the breaker and defer everyone else; an outage, which fails many different records,
still does.
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Verdict(StrEnum):
    """What one record's attempt showed about Keycloak."""

    ANSWERED = "answered"
    """Keycloak gave a real answer (created, 409, 400...): it works."""
    FAILED = "failed"
    """Keycloak could not answer (timeouts, connection errors, 5xx, 429, refused credentials)."""
    NO_ANSWER = "no_answer"
    """The record ended without asking (no time left, say): it shows nothing."""


@dataclass(frozen=True)
class Admission:
    """Leave to call Keycloak for one record; `probe` when it is the half-open breaker's one trial."""

    probe: bool


@dataclass
class CircuitBreaker:
    """Opens after `failure_threshold` distinct records failed in a row; after `cooldown_seconds` one record probes."""

    failure_threshold: int = 5
    cooldown_seconds: float = 30.0
    clock: Callable[[], float] = time.monotonic
    remembered_failures: int = 10_000
    """How many failed records are remembered, so that their redeliveries add nothing."""
    _state: CircuitState = CircuitState.CLOSED
    _consecutive_failures: int = 0
    _opened_at: float = 0.0
    _probe_in_flight: bool = False
    _failed_records: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state

    def admit(self) -> Admission | None:
        """Leave to call Keycloak for one record, or None while the breaker is open."""
        with self._lock:
            if self._state is CircuitState.CLOSED:
                return Admission(probe=False)
            if self._state is CircuitState.OPEN and self.clock() - self._opened_at >= self.cooldown_seconds:
                self._state = CircuitState.HALF_OPEN
                self._probe_in_flight = False
            if self._state is CircuitState.HALF_OPEN and not self._probe_in_flight:
                self._probe_in_flight = True
                return Admission(probe=True)
            return None

    def settle(self, admission: Admission, record: str, verdict: Verdict) -> None:
        """Record what the admitted record `record` (a message id) showed."""
        with self._lock:
            if verdict is Verdict.ANSWERED:
                self._consecutive_failures = 0
                self._probe_in_flight = False
                self._state = CircuitState.CLOSED
                self._failed_records.pop(record, None)
                return
            if verdict is Verdict.NO_ANSWER:
                if admission.probe:
                    self._probe_in_flight = False  # the next record probes
                return
            first_failure = self._remember_failure(record)
            if admission.probe:
                # Any failed probe re-opens: during an outage every probe is a redelivery. A
                # single bad message cannot open the breaker in the first place (below).
                self._state = CircuitState.OPEN
                self._opened_at = self.clock()
                self._probe_in_flight = False
                return
            if not first_failure:
                return  # a record that failed before says nothing new about Keycloak
            self._consecutive_failures += 1
            if self._state is CircuitState.CLOSED and self._consecutive_failures >= self.failure_threshold:
                self._state = CircuitState.OPEN
                self._opened_at = self.clock()
                self._probe_in_flight = False

    def _remember_failure(self, record: str) -> bool:
        """True the first time `record` fails."""
        if record in self._failed_records:
            self._failed_records.move_to_end(record)
            return False
        self._failed_records[record] = None
        if len(self._failed_records) > self.remembered_failures:
            self._failed_records.popitem(last=False)
        return True


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
