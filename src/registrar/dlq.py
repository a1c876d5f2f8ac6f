"""Permanent failures go straight to the dead-letter queue, with attributes that say why."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from registrar.messages import redact_body
from registrar.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

_SQS_BATCH_LIMIT = 10
_REASON_LIMIT = 1024


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    body: str
    reason: str
    error_class: str
    http_status: int | None
    receive_count: str
    outcome: str

    def entry(self, entry_id: str) -> dict[str, Any]:
        attributes = {
            "reason": self.reason[:_REASON_LIMIT],
            "outcome": self.outcome,
            "errorClass": self.error_class or "Unknown",
            "originalMessageId": self.message_id,
            "receiveCount": self.receive_count if self.receive_count.isdigit() else "0",
        }
        if self.http_status is not None:
            attributes["httpStatus"] = str(self.http_status)
        return {
            "Id": entry_id,
            "MessageBody": redact_body(self.body) or "(empty body)",
            "MessageAttributes": {
                name: {
                    "DataType": "Number" if name in {"httpStatus", "receiveCount"} else "String",
                    "StringValue": value,
                }
                for name, value in attributes.items()
            },
        }


class DeadLetterQueue:
    def __init__(self, queue_url: str, client_factory: Callable[[], SQSClient]) -> None:
        self._queue_url = queue_url
        self._client_factory = client_factory
        self._client: SQSClient | None = None

    def send(self, letters: Sequence[DeadLetter]) -> set[str]:
        """Send the letters; returns the message ids whose copy SQS accepted."""
        if not letters:
            return set()
        client = self._client or self._client_factory()
        self._client = client
        accepted: set[str] = set()
        for start in range(0, len(letters), _SQS_BATCH_LIMIT):
            chunk = letters[start : start + _SQS_BATCH_LIMIT]
            entries = [letter.entry(str(index)) for index, letter in enumerate(chunk)]
            try:
                response = client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)  # type: ignore[arg-type]
            except Exception as error:  # noqa: BLE001 - any failure means "not sent"; the record is retried
                logger.warning("DLQ send failed", extra={"error_class": type(error).__name__, "count": len(chunk)})
                continue
            for failed in response.get("Failed", []):
                logger.warning(
                    "DLQ refused a copy",
                    extra={"code": failed.get("Code"), "message_id": chunk[int(failed["Id"])].message_id},
                )
            accepted.update(chunk[int(item["Id"])].message_id for item in response.get("Successful", []))
        return accepted
