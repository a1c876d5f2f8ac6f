"""Permanent failures go straight to the dead-letter queue, with attributes that say why."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from registrar.messages import redact_body
from registrar.observability import logger
from registrar.visibility import SQS_BATCH_LIMIT

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# SendMessageBatch: at most 1 MiB for all bodies and attributes together (bytes, UTF-8).
_SQS_BATCH_BYTES = 1024 * 1024
_REASON_LIMIT = 1024


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    body: str
    reason: str
    error_class: str
    http_status: int | None
    receive_count: int
    outcome: str

    def entry(self, entry_id: str) -> dict[str, Any]:
        attributes = {
            "reason": self.reason[:_REASON_LIMIT],
            "outcome": self.outcome,
            "errorClass": self.error_class or "Unknown",
            "originalMessageId": self.message_id,
            "receiveCount": str(self.receive_count),
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
        for chunk, entries in _chunks(letters):
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


def _entry_bytes(entry: dict[str, Any]) -> int:
    attributes = sum(
        len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
        for name, value in entry["MessageAttributes"].items()
    )
    return len(entry["MessageBody"].encode("utf-8", "surrogatepass")) + attributes


def _chunks(letters: Sequence[DeadLetter]) -> Iterator[tuple[list[DeadLetter], list[dict[str, Any]]]]:
    """At most ten entries and 1 MiB per request; a copy too large on its own is sent alone (and refused)."""
    chunk: list[DeadLetter] = []
    entries: list[dict[str, Any]] = []
    size = 0
    for letter in letters:
        entry = letter.entry(str(len(chunk)))
        entry_size = _entry_bytes(entry)
        if chunk and (len(chunk) == SQS_BATCH_LIMIT or size + entry_size > _SQS_BATCH_BYTES):
            yield chunk, entries
            chunk, entries, size = [], [], 0
            entry = letter.entry("0")
        chunk.append(letter)
        entries.append(entry)
        size += entry_size
    if chunk:
        yield chunk, entries
