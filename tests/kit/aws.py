"""moto's AWS in-process, and the one way the suites read a queue empty."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

REGION = "eu-west-1"

# Characters SQS accepts in a message body or a string attribute (the XML 1.0 set).
_SQS_FORBIDDEN = frozenset(chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF])


def sqs_can_carry(text: str) -> bool:
    """True when the real SQS would accept `text` as a message body or attribute value."""
    return not any(ch in _SQS_FORBIDDEN or 0xD800 <= ord(ch) <= 0xDFFF for ch in text)


def new_queue(sqs: Any, prefix: str = "dlq", **attributes: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    if attributes.get("FifoQueue") == "true":
        name += ".fifo"
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue, received and deleted."""
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
            WaitTimeSeconds=0,
            VisibilityTimeout=300,
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )


@dataclass(frozen=True)
class Letter:
    """One DLQ copy as SQS holds it."""

    body: str
    attributes: dict[str, str]
    system: dict[str, str]
    """SQS's own attributes (MessageGroupId, MessageDeduplicationId on a FIFO queue)."""

    @property
    def original_message_id(self) -> str:
        return self.attributes["originalMessageId"]

    @property
    def reason(self) -> str:
        return self.attributes.get("reason", "")

    @property
    def outcome(self) -> str:
        return self.attributes.get("outcome", "")

    def text(self) -> str:
        """Everything the copy carries, for searching."""
        return "\n".join([self.body, *(f"{name}={value}" for name, value in sorted(self.attributes.items()))])


def dead_letters(sqs: Any, queue_url: str) -> list[Letter]:
    """Every copy in the DLQ (received and deleted)."""
    return [
        Letter(
            body=message["Body"],
            attributes={
                name: str(value.get("StringValue", "")) for name, value in message.get("MessageAttributes", {}).items()
            },
            system={name: str(value) for name, value in message.get("Attributes", {}).items()},
        )
        for message in drain(sqs, queue_url)
    ]


def letters_by_message(sqs: Any, queue_url: str) -> dict[str, Letter]:
    return {letter.original_message_id: letter for letter in dead_letters(sqs, queue_url)}
