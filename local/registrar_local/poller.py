"""A consumer with the SQS event source mapping's semantics, for moto or real SQS.

Each poller receives up to BatchSize messages, hands the function a Lambda-shaped event,
and deletes only the messages its answer does not name in batchItemFailures. When the
function raises, times out, or answers with an itemIdentifier that is not in the batch, the
whole batch stays on the queue, as with Lambda. Redrive is left to the queue itself.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Invoke = Callable[[dict[str, Any]], Any]
"""Runs the function on one event and returns its answer; raises if the invocation failed."""


class InvocationFailed(Exception):
    """The function raised or timed out: the whole batch comes back."""


@dataclass(frozen=True)
class BatchReport:
    received: int
    deleted: int
    returned: int
    error: str | None = None
    invoked_at: float = 0.0  # wall-clock time the invocation started
    duration_ms: float = 0.0  # how long the invocation took, as Lambda's Duration


def lambda_event(messages: Sequence[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda builds from ReceiveMessage output."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes", {})),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": value.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value["DataType"],
                    }
                    for name, value in message.get("MessageAttributes", {}).items()
                },
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


def failed_message_ids(response: Any, batch_ids: set[str]) -> set[str]:
    """Which messages to keep, by the partial batch response rules; all of them if the answer is invalid."""
    if response is None or not isinstance(response, Mapping):
        return set()
    failures = response.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return set(batch_ids)
    kept: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(identifier, str) or identifier not in batch_ids:
            return set(batch_ids)  # an unknown or empty itemIdentifier fails the whole batch
        kept.add(identifier)
    return kept


class Poller:
    """One concurrent 'execution environment' of the mapping: receive, invoke, settle, repeat."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        invoke: Invoke,
        *,
        batch_size: int = 10,
        wait_seconds: int = 1,
        batching_window_seconds: float = 0,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._invoke = invoke
        self._batch_size = batch_size
        self._wait_seconds = wait_seconds
        self._batching_window_seconds = batching_window_seconds
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self._queue_arn = attributes["QueueArn"]
        self._region = self._queue_arn.split(":")[3]

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return messages

    def poll_once(self) -> BatchReport | None:
        messages = self._receive(self._batch_size, self._wait_seconds)
        if not messages:
            return None
        # MaximumBatchingWindowInSeconds: gather up to a full batch before invoking.
        window_ends = time.monotonic() + self._batching_window_seconds
        while len(messages) < self._batch_size and time.monotonic() < window_ends:
            messages += self._receive(self._batch_size - len(messages), 0) or []
            if len(messages) < self._batch_size:
                time.sleep(min(0.1, max(0.0, window_ends - time.monotonic())))
        batch_ids = {message["MessageId"] for message in messages}
        invoked_at, started = time.time(), time.monotonic()
        try:
            response = self._invoke(lambda_event(messages, self._queue_arn, self._region))
        except InvocationFailed as failed:
            duration_ms = (time.monotonic() - started) * 1000
            return BatchReport(len(messages), 0, len(messages), str(failed), invoked_at, duration_ms)
        duration_ms = (time.monotonic() - started) * 1000
        kept = failed_message_ids(response, batch_ids)
        deleted = self._delete([message for message in messages if message["MessageId"] not in kept])
        return BatchReport(len(messages), deleted, len(messages) - deleted, None, invoked_at, duration_ms)

    def run(self, stop: threading.Event, on_batch: Callable[[BatchReport], None] | None = None) -> None:
        """Poll until `stop` is set; a batch in flight is always settled first."""
        while not stop.is_set():
            try:
                report = self.poll_once()
            except Exception as error:  # noqa: BLE001 - SQS hiccups must not end the poller
                print(f"poller: {type(error).__name__}: {error}; retrying in 1 s", file=sys.stderr)
                stop.wait(1)
                continue
            if report is not None and on_batch is not None:
                on_batch(report)

    def _delete(self, messages: Sequence[Mapping[str, Any]]) -> int:
        """Delete; returns how many SQS confirmed (the others come back after their visibility)."""
        deleted = 0
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            response = self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(chunk)],
            )
            deleted += len(response.get("Successful", []))
        return deleted
