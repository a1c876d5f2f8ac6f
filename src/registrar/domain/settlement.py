"""The port to the queue after the fan-in: dead letters for permanent failures, backoff for the rest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class DeadLetter:
    """A permanent failure, as its DLQ copy will say it (the body is redacted by the sender)."""

    message_id: str
    body: str
    reason: str
    outcome: str
    error_class: str
    http_status: int | None
    receive_count: int
    message_group_id: str | None = None
    """The original FIFO message group, which a FIFO DLQ needs."""


@dataclass(frozen=True)
class Postponement:
    """A record reported as failed, hidden for its backoff before it comes back."""

    queue_arn: str
    receipt_handle: str
    seconds: int


@dataclass(frozen=True)
class Settled:
    dead_lettered: frozenset[str]
    """Message ids whose DLQ copy the queue accepted."""
    postponed: int


class Settlement(Protocol):
    def settle(self, letters: Sequence[DeadLetter], postponements: Sequence[Postponement]) -> Settled:
        """Send the copies and change the visibilities side by side; never raises."""
        ...
