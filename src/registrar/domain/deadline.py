"""The invocation's time budget: when records may start, how long a request may take, what is kept for the end.

One budget owns every figure that decides whether the answer goes out before the function
times out: the margin under which no record is started, the time kept after the fan-in for the
SQS calls that settle the batch (dead letters, visibility), and the time kept for the answer.
The SQS client is built with the same timeouts, so a slow SQS cannot outlive the invocation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


class DeadlineReached(Exception):
    """No time is left to start (or finish) a Keycloak request inside this invocation."""


@dataclass(frozen=True)
class TimeBudget:
    """What an invocation keeps for itself; the rest is for Keycloak."""

    margin_ms: int = 3000
    """No record is started with less time left than this."""
    sqs_connect_timeout_seconds: float = 1.0
    sqs_read_timeout_seconds: float = 2.0
    answer_seconds: float = 0.3
    """Metrics, the log line and the answer itself."""

    @property
    def sqs_call_seconds(self) -> float:
        """The longest one SQS call can take: one attempt, connect plus read."""
        return self.sqs_connect_timeout_seconds + self.sqs_read_timeout_seconds

    @property
    def settle_seconds(self) -> float:
        """Kept after the fan-in: the settling SQS calls run side by side, so one call's worth, plus the answer."""
        return self.sqs_call_seconds + self.answer_seconds


@dataclass(frozen=True)
class Deadline:
    """Remaining time of the invocation, read against its budget."""

    remaining_ms: Callable[[], int]
    budget: TimeBudget = field(default_factory=TimeBudget)

    @classmethod
    def after(cls, seconds: float, margin_ms: int = 0, budget: TimeBudget | None = None) -> Deadline:
        """A deadline `seconds` from now, for callers without a Lambda context."""
        end = time.monotonic() + seconds
        chosen = budget or TimeBudget(margin_ms=margin_ms)
        return cls(remaining_ms=lambda: int((end - time.monotonic()) * 1000), budget=chosen)

    @property
    def margin_ms(self) -> int:
        return self.budget.margin_ms

    def remaining_seconds(self) -> float:
        return self.remaining_ms() / 1000

    def may_start_record(self) -> bool:
        return self.remaining_ms() > self.budget.margin_ms

    def may_wait(self, seconds: float) -> bool:
        """Whether a pause of `seconds` (a retry's backoff) still ends above the margin."""
        return self.remaining_ms() - seconds * 1000 > self.budget.margin_ms

    def request_timeout(self, limit_seconds: float) -> float:
        """The timeout for one Keycloak request: the configured limit, cut to what the invocation can spare."""
        available = self.remaining_seconds() - self.budget.settle_seconds
        if available <= 0.05:
            raise DeadlineReached("no time left for a Keycloak request")
        return min(limit_seconds, available)

    def wait_budget(self) -> float:
        """How long the invoking thread may wait for the fan-in."""
        return max(0.0, self.remaining_seconds() - self.budget.settle_seconds)

    def may_settle(self) -> bool:
        """Whether one round of SQS calls still fits before the answer must go."""
        return self.remaining_seconds() >= self.budget.sqs_call_seconds + self.budget.answer_seconds
