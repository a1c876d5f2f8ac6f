"""Settling a batch on SQS: DLQ copies of permanent failures, visibility backoff for the rest.

The two kinds of call run side by side, each in one attempt with the timeouts of the
invocation's `TimeBudget`, so settling never takes longer than the budget keeps for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from registrar.domain.deadline import TimeBudget
from registrar.domain.registration import redact_body
from registrar.domain.settlement import DeadLetter, Postponement, Settled
from registrar.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 1024 * 1024
"""SendMessageBatch: at most 1 MiB for all bodies and attributes together (UTF-8 bytes)."""
_REASON_LIMIT = 1024
_NUMBER_ATTRIBUTES = frozenset({"httpStatus", "receiveCount"})

T = TypeVar("T")
SqsClientFactory = Callable[[], "SQSClient"]


class LazySqsClient:
    """One SQS client per environment, made on first use: boto3 costs import time a clean batch never needs."""

    def __init__(self, budget: TimeBudget) -> None:
        self._budget = budget
        self._lock = threading.Lock()
        self._client: SQSClient | None = None

    def __call__(self) -> SQSClient:
        with self._lock:
            if self._client is None:
                import boto3  # noqa: PLC0415
                from botocore.config import Config  # noqa: PLC0415

                # One attempt: a retry would run past the time the budget keeps after the fan-in,
                # and a record whose settling failed is simply retried.
                config = Config(
                    connect_timeout=self._budget.sqs_connect_timeout_seconds,
                    read_timeout=self._budget.sqs_read_timeout_seconds,
                    retries={"max_attempts": 1, "mode": "standard"},
                )
                self._client = boto3.client("sqs", config=config)
            return self._client


def queue_url_from_arn(arn: str) -> str:
    """arn:aws:sqs:REGION:ACCOUNT:NAME -> the queue URL (the SDK's endpoint setting still applies)."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"not an SQS queue ARN: {arn!r}")
    _, partition, _, region, account, name = parts
    domain = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{domain}/{account}/{name}"


def batches[T](items: Sequence[T], size: Callable[[T], int] = lambda _item: 0) -> Iterator[list[T]]:
    """At most ten items and 1 MiB per request; an item too large on its own goes alone (and is refused)."""
    chunk: list[T] = []
    total = 0
    for item in items:
        item_size = size(item)
        if chunk and (len(chunk) == SQS_BATCH_ENTRIES or total + item_size > SQS_BATCH_BYTES):
            yield chunk
            chunk, total = [], 0
        chunk.append(item)
        total += item_size
    if chunk:
        yield chunk


def dead_letter_entry(letter: DeadLetter, entry_id: str, *, fifo: bool) -> dict[str, Any]:
    attributes = {
        "reason": letter.reason[:_REASON_LIMIT],
        "outcome": letter.outcome,
        "errorClass": letter.error_class or "Unknown",
        "originalMessageId": letter.message_id,
        "receiveCount": str(letter.receive_count),
    }
    if letter.http_status is not None:
        attributes["httpStatus"] = str(letter.http_status)
    entry: dict[str, Any] = {
        "Id": entry_id,
        "MessageBody": redact_body(letter.body) or "(empty body)",
        "MessageAttributes": {
            name: {"DataType": "Number" if name in _NUMBER_ATTRIBUTES else "String", "StringValue": value}
            for name, value in attributes.items()
        },
    }
    if fifo:
        # A FIFO queue refuses a message without a group. The original group keeps the copies
        # of one producer's stream together; a copy sent twice (a retried settle) is one copy.
        entry["MessageGroupId"] = letter.message_group_id or letter.message_id
        entry["MessageDeduplicationId"] = f"dlq-{letter.message_id}"[:128]
    return entry


def _entry_bytes(entry: dict[str, Any]) -> int:
    attributes = sum(
        len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
        for name, value in entry["MessageAttributes"].items()
    )
    return len(entry["MessageBody"].encode("utf-8", "surrogatepass")) + attributes


def _group(letter: DeadLetter) -> str:
    return letter.message_group_id or letter.message_id


def _rounds_by_group(letters: Sequence[DeadLetter]) -> list[list[int]]:
    """Indices of `letters` in rounds: round n holds the n-th letter of each group, in batch order."""
    rounds: list[list[int]] = []
    seen: dict[str, int] = {}
    for index, letter in enumerate(letters):
        position = seen.get(_group(letter), 0)
        seen[_group(letter)] = position + 1
        if position == len(rounds):
            rounds.append([])
        rounds[position].append(index)
    return rounds


class SqsSettlement:
    """The `Settlement` port on SQS."""

    def __init__(self, client_factory: SqsClientFactory, dlq_url: str | None) -> None:
        self._client_factory = client_factory
        self._dlq_url = dlq_url
        self._dlq_is_fifo = bool(dlq_url and dlq_url.endswith(".fifo"))

    def settle(self, letters: Sequence[DeadLetter], postponements: Sequence[Postponement]) -> Settled:
        if not letters and not postponements:
            return Settled(frozenset(), 0)
        if not letters or not postponements:
            return Settled(self._send_letters(letters), self._postpone(postponements))
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="settle") as pool:
            sent = pool.submit(self._send_letters, letters)
            postponed = pool.submit(self._postpone, postponements)
            return Settled(sent.result(), postponed.result())

    def _send_letters(self, letters: Sequence[DeadLetter]) -> frozenset[str]:
        """The message ids whose copy the DLQ accepted."""
        if not letters or self._dlq_url is None:
            return frozenset()
        if not self._dlq_is_fifo:
            return self._send(letters, range(len(letters)))
        # A group's copies go in its order and stop at its first refusal: a later copy must not
        # sit in the DLQ ahead of an earlier one that comes back. One copy per group per round
        # keeps a refusal inside one SendMessageBatch from letting a later copy through.
        accepted: set[str] = set()
        stopped: set[str] = set()
        for round_ in _rounds_by_group(letters):
            live = [index for index in round_ if _group(letters[index]) not in stopped]
            sent = self._send(letters, live)
            accepted |= sent
            stopped |= {_group(letters[index]) for index in live if letters[index].message_id not in sent}
        return frozenset(accepted)

    def _send(self, letters: Sequence[DeadLetter], indices: Iterable[int]) -> frozenset[str]:
        entries = [dead_letter_entry(letters[index], str(index), fifo=self._dlq_is_fifo) for index in indices]
        accepted: set[str] = set()
        for chunk in batches(entries, _entry_bytes):
            try:
                response = self._client_factory().send_message_batch(QueueUrl=self._dlq_url, Entries=chunk)  # type: ignore[arg-type]
            except Exception as error:  # noqa: BLE001 - any failure means "not sent"; the record is retried
                logger.warning("DLQ send failed", extra={"error_class": type(error).__name__, "count": len(chunk)})
                continue
            for failed in response.get("Failed", []):
                logger.warning(
                    "DLQ refused a copy",
                    extra={"code": failed.get("Code"), "message_id": letters[int(failed["Id"])].message_id},
                )
            accepted.update(letters[int(item["Id"])].message_id for item in response.get("Successful", []))
        return frozenset(accepted)

    def _postpone(self, postponements: Sequence[Postponement]) -> int:
        """Change visibility where possible; returns how many changed. A failure only loses the backoff."""
        by_queue: dict[str, list[Postponement]] = {}
        for item in postponements:
            if item.queue_arn and item.receipt_handle:
                by_queue.setdefault(item.queue_arn, []).append(item)
        changed = 0
        for arn, items in by_queue.items():
            try:
                queue_url = queue_url_from_arn(arn)
            except ValueError:
                logger.warning("cannot back off visibility: not an SQS queue ARN")
                continue
            for chunk in batches(items):
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
