"""Visibility backoff for the records the handler reports as failures.

Without it a failed record is back after the queue's visibility timeout, whatever the cause,
and a Keycloak outage burns through maxReceiveCount in minutes, pushing good registrations
into the DLQ. The backoff grows with ApproximateReceiveCount.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from registrar.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SQS_MAX_VISIBILITY_SECONDS = 43200
SQS_BATCH_LIMIT = 10  # entries per SQS batch request


@dataclass(frozen=True)
class VisibilityBackoff:
    """Exponential in the receive count, capped, with equal jitter so it never collapses to zero."""

    base_seconds: float = 30.0
    max_seconds: float = 900.0

    def seconds(
        self, receive_count: int, retry_after: float | None = None, rng: Callable[[], float] = random.random
    ) -> int:
        ceiling = min(self.max_seconds, self.base_seconds * 2.0 ** min(max(receive_count, 1) - 1, 32))
        delay = ceiling / 2 + rng() * ceiling / 2
        return int(min(SQS_MAX_VISIBILITY_SECONDS, max(delay, retry_after or 0.0)))


@dataclass(frozen=True)
class Postponement:
    queue_arn: str
    receipt_handle: str
    seconds: int


def queue_url_from_arn(arn: str) -> str:
    """arn:aws:sqs:REGION:ACCOUNT:NAME -> the queue URL (the SDK's endpoint setting still applies)."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"not an SQS queue ARN: {arn!r}")
    _, partition, _, region, account, name = parts
    domain = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{domain}/{account}/{name}"


class VisibilityChanger:
    def __init__(self, client_factory: Callable[[], SQSClient]) -> None:
        self._client_factory = client_factory

    def postpone(self, postponements: Sequence[Postponement]) -> int:
        """Change visibility where possible; returns how many changed. A failure only loses the backoff."""
        changed = 0
        by_queue: dict[str, list[Postponement]] = {}
        for item in postponements:
            if item.queue_arn and item.receipt_handle:
                by_queue.setdefault(item.queue_arn, []).append(item)
        for arn, items in by_queue.items():
            try:
                queue_url = queue_url_from_arn(arn)
            except ValueError:
                logger.warning("cannot back off visibility: not an SQS queue ARN")
                continue
            for start in range(0, len(items), SQS_BATCH_LIMIT):
                chunk = items[start : start + SQS_BATCH_LIMIT]
                try:
                    response = self._client_factory().change_message_visibility_batch(
                        QueueUrl=queue_url,
                        Entries=[
                            {"Id": str(index), "ReceiptHandle": item.receipt_handle, "VisibilityTimeout": item.seconds}
                            for index, item in enumerate(chunk)
                        ],
                    )
                except Exception as error:  # noqa: BLE001 - the record still comes back, just sooner
                    logger.warning("visibility backoff failed", extra={"error_class": type(error).__name__})
                    continue
                changed += len(response.get("Successful", []))
        return changed
