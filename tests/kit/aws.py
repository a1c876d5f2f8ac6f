"""SQS as the suites use it (moto's in-process, or ElasticMQ): the one way they read a queue empty, and DLQ copies."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

REGION = "eu-west-1"

# Characters outside the XML 1.0 set, which SQS refuses in a message body or a string attribute
# (lone surrogates too, which sqs_can_carry checks as a range).
SQS_FORBIDDEN = frozenset(chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF])


def sqs_can_carry(text: str) -> bool:
    """True when the real SQS would accept `text` as a message body or attribute value."""
    return not any(ch in SQS_FORBIDDEN or 0xD800 <= ord(ch) <= 0xDFFF for ch in text)


def new_queue(sqs: Any, prefix: str = "dlq", **attributes: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    if attributes.get("FifoQueue") == "true":
        name += ".fifo"
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def queue_attributes(sqs: Any, queue_url: str) -> dict[str, str]:
    return dict(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"])


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


def letter_attributes(outcome: str, reason: str, receive_count: int = 1) -> dict[str, dict[str, str]]:
    """Message attributes of a DLQ copy, typed as the function sends them: those redrive filters on."""
    return {
        "outcome": {"DataType": "String", "StringValue": outcome},
        "reason": {"DataType": "String", "StringValue": reason},
        "receiveCount": {"DataType": "Number", "StringValue": str(receive_count)},
    }


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
