"""One registration -> one outcome. Knows Keycloak's semantics, nothing of SQS or Lambda."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from registrar.deadline import Deadline, DeadlineReached
from registrar.keycloak import AlreadyExists, Created, CreateResult, KeycloakUnavailable, KeycloakUser, Rejected
from registrar.messages import Registration
from registrar.resilience import CircuitOpen


class OutcomeKind(StrEnum):
    CREATED = "created"
    ALREADY_REGISTERED = "already_registered"
    CONFLICT = "conflict"
    INVALID = "invalid"
    RETRYABLE = "retryable"
    DEFERRED = "deferred"


PERMANENT = frozenset({OutcomeKind.CONFLICT, OutcomeKind.INVALID})
SUCCEEDED = frozenset({OutcomeKind.CREATED, OutcomeKind.ALREADY_REGISTERED})


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    reason: str
    error_class: str = ""
    http_status: int | None = None
    user_id: str | None = None
    retry_after: float | None = None
    keycloak_latencies_ms: tuple[float, ...] = field(default=(), compare=False)

    @property
    def permanent(self) -> bool:
        return self.kind in PERMANENT

    @property
    def succeeded(self) -> bool:
        return self.kind in SUCCEEDED


class UserDirectory(Protocol):
    """What registering needs of Keycloak (implemented by keycloak.KeycloakGateway)."""

    def ensure_token(self, deadline: Deadline) -> None: ...

    def create_user(self, user: dict[str, object], deadline: Deadline) -> CreateResult: ...

    def find_users(self, *, username: str, email: str, deadline: Deadline) -> list[KeycloakUser]: ...


class Registrar:
    def __init__(self, directory: UserDirectory, registration_id_attribute: str) -> None:
        self._directory = directory
        self._registration_id_attribute = registration_id_attribute

    def register(self, registration: Registration, deadline: Deadline) -> Outcome:
        latencies: list[float] = []
        try:
            outcome = self._register(registration, deadline, latencies)
        except DeadlineReached as reached:
            outcome = Outcome(OutcomeKind.DEFERRED, str(reached), error_class="DeadlineReached")
        except CircuitOpen as circuit:
            outcome = Outcome(OutcomeKind.DEFERRED, str(circuit), error_class="CircuitOpen")
        except KeycloakUnavailable as error:
            outcome = Outcome(
                OutcomeKind.RETRYABLE,
                error.reason,
                error_class="KeycloakUnavailable",
                http_status=error.status,
                retry_after=error.retry_after,
            )
        return _with_latencies(outcome, latencies)

    def _register(self, registration: Registration, deadline: Deadline, latencies: list[float]) -> Outcome:
        user = registration.to_user_representation(self._registration_id_attribute)
        result = _timed(latencies, lambda: self._directory.create_user(user, deadline))
        match result:
            case Created(user_id=user_id):
                return Outcome(OutcomeKind.CREATED, "created", http_status=201, user_id=user_id)
            case Rejected(status=status, message=message):
                return Outcome(OutcomeKind.INVALID, f"Keycloak refused the user: {message}", "KeycloakRejected", status)
            case AlreadyExists(message=message):
                existing = _timed(
                    latencies,
                    lambda: self._directory.find_users(
                        username=registration.login, email=registration.email, deadline=deadline
                    ),
                )
                return self._resolve_conflict(registration, message, existing)

    def _resolve_conflict(self, registration: Registration, message: str, existing: list[KeycloakUser]) -> Outcome:
        """A 409 may be our own earlier attempt (at-least-once delivery, a timed-out POST)."""
        for user in existing:
            if self._is_same_person(registration, user):
                return Outcome(OutcomeKind.ALREADY_REGISTERED, "already registered", http_status=409, user_id=user.id)
        if not existing:
            # Keycloak said the user exists, but neither lookup finds it: a concurrent delete
            # or an index lag. Asking again later resolves it either way.
            raise KeycloakUnavailable(f"409 ({message}) but no matching user found", status=409)
        return Outcome(
            OutcomeKind.CONFLICT,
            f"{message}: held by another user",
            error_class="UserConflict",
            http_status=409,
            user_id=None,
        )

    def _is_same_person(self, registration: Registration, user: KeycloakUser) -> bool:
        if registration.registrationId is not None:
            stored = user.attributes.get(self._registration_id_attribute, [])
            if registration.registrationId in stored:
                return True
        return user.username == registration.login and (user.email or "").lower() == registration.email


def _timed[T](latencies: list[float], call: Callable[[], T]) -> T:
    """Time one Keycloak operation (its in-invocation retries included); none if nothing was sent."""
    started = time.perf_counter()
    try:
        result = call()
    except (CircuitOpen, DeadlineReached):
        raise
    except BaseException:
        latencies.append((time.perf_counter() - started) * 1000)
        raise
    latencies.append((time.perf_counter() - started) * 1000)
    return result


def _with_latencies(outcome: Outcome, latencies: list[float]) -> Outcome:
    return replace(outcome, keycloak_latencies_ms=tuple(latencies)) if latencies else outcome
