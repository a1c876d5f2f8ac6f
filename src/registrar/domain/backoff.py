"""How long a message that will be retried stays hidden, and when a message has been retried enough.

Without the backoff a failed record is back after the queue's visibility timeout whatever the
cause, and a Keycloak outage burns through the receives in minutes. Giving up is measured in
time since the message was sent, not in receives: a receive says nothing about whether the
message ever reached Keycloak (a record deferred by an open breaker never did).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

SQS_MAX_VISIBILITY_SECONDS = 43200
_MAX_DOUBLINGS = 32


@dataclass(frozen=True)
class VisibilityBackoff:
    """Exponential in the receive count, capped, with equal jitter so it never collapses to zero."""

    base_seconds: float = 30.0
    max_seconds: float = 900.0

    def ceiling(self, receive_count: int) -> float:
        return min(self.max_seconds, self.base_seconds * 2.0 ** min(max(receive_count, 1) - 1, _MAX_DOUBLINGS))

    def seconds(
        self, receive_count: int, retry_after: float | None = None, rng: Callable[[], float] = random.random
    ) -> int:
        ceiling = self.ceiling(receive_count)
        delay = ceiling / 2 + rng() * ceiling / 2
        return int(min(SQS_MAX_VISIBILITY_SECONDS, max(delay, retry_after or 0.0)))

    def shortest_span(self, receives: int) -> float:
        """The least time `receives` receives can take: the shortest backoff after each but the last."""
        return sum(self.ceiling(receive) / 2 for receive in range(1, receives))


@dataclass(frozen=True)
class RetryLimits:
    """When a message still failing goes to the DLQ with its reason instead of coming back."""

    retry_window_seconds: float | None = None
    """Measured from the message's SentTimestamp."""
    max_receive_count: int | None = None
    """The queue's maxReceiveCount: on this receive the queue itself would move it, without a reason."""

    def exhausted(self, receive_count: int, sent_at: float | None, now: float) -> bool:
        if self.max_receive_count is not None and receive_count >= self.max_receive_count:
            return True
        return (
            self.retry_window_seconds is not None and sent_at is not None and now - sent_at >= self.retry_window_seconds
        )
