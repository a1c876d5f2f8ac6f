"""The invocation's time budget, shared by the fan-out and every Keycloak request."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# After the fan-in the handler still sends DLQ copies and visibility changes (SQS calls bounded
# by their own timeouts) and builds the response: requests and the wait leave it this much.
_RESPONSE_RESERVE_SECONDS = 1.5


class DeadlineReached(Exception):
    """No time is left to start (or finish) a Keycloak request inside this invocation."""


@dataclass(frozen=True)
class Deadline:
    """Remaining time of the invocation, and the margin under which no record is started."""

    remaining_ms: Callable[[], int]
    margin_ms: int

    @classmethod
    def after(cls, seconds: float, margin_ms: int = 0) -> Deadline:
        """A deadline `seconds` from now, for callers without a Lambda context."""
        end = time.monotonic() + seconds
        return cls(remaining_ms=lambda: int((end - time.monotonic()) * 1000), margin_ms=margin_ms)

    def remaining_seconds(self) -> float:
        return self.remaining_ms() / 1000

    def may_start_record(self) -> bool:
        return self.remaining_ms() > self.margin_ms

    def request_timeout(self, limit_seconds: float) -> float:
        """The timeout for one request: the configured limit, cut to what the invocation has left."""
        available = self.remaining_seconds() - _RESPONSE_RESERVE_SECONDS
        if available <= 0.05:
            raise DeadlineReached("no time left for a Keycloak request")
        return min(limit_seconds, available)

    def wait_budget(self) -> float:
        """How long the invoking thread may wait for the fan-in."""
        return max(0.0, self.remaining_seconds() - _RESPONSE_RESERVE_SECONDS)
