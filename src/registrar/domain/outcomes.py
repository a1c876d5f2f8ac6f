"""What became of one record, and the one place an exception is turned into an outcome."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from registrar.domain.deadline import DeadlineReached
from registrar.domain.directory import KeycloakUnavailable


class OutcomeKind(StrEnum):
    CREATED = "created"
    ALREADY_REGISTERED = "already_registered"
    CONFLICT = "conflict"
    INVALID = "invalid"
    UNKNOWN_GROUP = "unknown_group"
    RETRIES_EXHAUSTED = "retries_exhausted"
    RETRYABLE = "retryable"
    DEFERRED = "deferred"


SUCCEEDED = frozenset({OutcomeKind.CREATED, OutcomeKind.ALREADY_REGISTERED})
PERMANENT = frozenset(
    {OutcomeKind.CONFLICT, OutcomeKind.INVALID, OutcomeKind.UNKNOWN_GROUP, OutcomeKind.RETRIES_EXHAUSTED}
)
"""Sent to the DLQ with the reason, then deleted."""
PENDING = frozenset({OutcomeKind.RETRYABLE, OutcomeKind.DEFERRED})
"""Reported in batchItemFailures: the message comes back after its visibility backoff."""


class CircuitOpen(Exception):
    """Keycloak has been failing: the record is deferred without calling it."""


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    reason: str
    error_class: str = ""
    http_status: int | None = None
    user_id: str | None = None
    retry_after: float | None = None
    tls_failure: bool = False
    keycloak_latencies_ms: tuple[float, ...] = field(default=(), compare=False)
    keycloak_retries: int = field(default=0, compare=False)

    @property
    def permanent(self) -> bool:
        return self.kind in PERMANENT

    @property
    def succeeded(self) -> bool:
        return self.kind in SUCCEEDED

    @property
    def pending(self) -> bool:
        return self.kind in PENDING

    @property
    def settled(self) -> bool:
        """Nothing more to do for the message once the batch is settled: a user, or a DLQ copy."""
        return self.succeeded or self.permanent

    def exhausted(self) -> Outcome:
        """This pending outcome, turned into the dead letter of a message that has run out of time or receives."""
        return replace(
            self,
            kind=OutcomeKind.RETRIES_EXHAUSTED,
            reason=f"retries exhausted: {self.reason}",
            error_class=self.error_class or "RetriesExhausted",
        )


def classify(error: BaseException) -> Outcome:
    """The outcome of a record whose registration raised `error`."""
    match error:
        case DeadlineReached():
            return Outcome(OutcomeKind.DEFERRED, str(error), "DeadlineReached")
        case CircuitOpen():
            return Outcome(OutcomeKind.DEFERRED, str(error), "CircuitOpen")
        case KeycloakUnavailable():
            return Outcome(
                OutcomeKind.RETRYABLE,
                error.reason,
                "KeycloakUnavailable",
                http_status=error.status,
                retry_after=error.retry_after,
                tls_failure=error.tls_failure,
            )
        case _:
            # Unknown: retried rather than lost; the caller logs the traceback.
            return Outcome(OutcomeKind.RETRYABLE, f"unexpected error: {type(error).__name__}", type(error).__name__)
