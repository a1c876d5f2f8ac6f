"""Moves dead letters back to the source queue, optionally only those with a given reason.

Without a filter, SQS's own StartMessageMoveTask does it where the service has it. Otherwise
(a filter, or a service without it, such as moto) a receive-send-delete loop does: a copy is
sent first and the dead letter deleted only after SQS accepted the copy, so nothing is lost.
To a FIFO source queue a copy goes back in its own message group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from registrar_ops.sender import is_fifo

_RECEIVE_VISIBILITY_SECONDS = 60  # a letter left behind by the filter stays out of this run
_EMPTY_RECEIVES_TO_STOP = 2


@dataclass(frozen=True)
class RedriveFilter:
    outcome: str | None = None
    reason_contains: str | None = None

    @property
    def empty(self) -> bool:
        return self.outcome is None and self.reason_contains is None

    def matches(self, attributes: dict[str, Any]) -> bool:
        def text(name: str) -> str:
            return str(attributes.get(name, {}).get("StringValue", ""))

        if self.outcome is not None and text("outcome") != self.outcome:
            return False
        return self.reason_contains is None or self.reason_contains.lower() in text("reason").lower()


@dataclass
class RedriveReport:
    method: str
    moved: int = 0
    left: int = 0
    failed: int = 0


def redrive(
    sqs: Any, dlq_url: str, source_url: str, only: RedriveFilter | None = None, *, long_poll_seconds: int = 1
) -> RedriveReport:
    only = only or RedriveFilter()
    if only.empty:
        started = _start_move_task(sqs, dlq_url, source_url)
        if started is not None:
            return started
    report = RedriveReport(method="receive-send-delete")
    fifo = is_fifo(source_url)
    empty_receives = 0
    # Real SQS may answer a receive empty while letters remain: stop only after a few empty
    # long polls in a row.
    while empty_receives < _EMPTY_RECEIVES_TO_STOP:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["MessageGroupId"],  # the older name: SQS, moto and ElasticMQ all read it
            VisibilityTimeout=_RECEIVE_VISIBILITY_SECONDS,
            WaitTimeSeconds=long_poll_seconds,
        ).get("Messages", [])
        empty_receives = 0 if messages else empty_receives + 1
        for message in messages:
            attributes = message.get("MessageAttributes", {})
            if not only.matches(attributes):
                report.left += 1
                continue
            try:
                sqs.send_message(**_copy(message, source_url, fifo=fifo))
            except Exception:  # noqa: BLE001 - not sent means not deleted; the letter stays for the next run
                report.failed += 1
                continue
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            report.moved += 1
    return report


def _copy(message: dict[str, Any], source_url: str, *, fifo: bool) -> dict[str, Any]:
    copy = {
        "QueueUrl": source_url,
        "MessageBody": message["Body"],
        "MessageAttributes": message.get("MessageAttributes", {}),
    }
    if fifo:
        # The letter's own group (the function's DLQ copy keeps the original one). A deduplication
        # id per letter: a run that sent the copy but died before the delete does not send it twice
        # within SQS's 5-minute window.
        copy["MessageGroupId"] = message.get("Attributes", {}).get("MessageGroupId") or message["MessageId"]
        copy["MessageDeduplicationId"] = f"redrive-{message['MessageId']}"[:128]
    return copy


def _start_move_task(sqs: Any, dlq_url: str, source_url: str) -> RedriveReport | None:
    def arn(url: str) -> str:
        return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    waiting = int(
        sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
    )
    try:
        sqs.start_message_move_task(SourceArn=arn(dlq_url), DestinationArn=arn(source_url))
    except Exception:  # noqa: BLE001 - not offered here (moto): fall back to the loop
        return None
    return RedriveReport(method="StartMessageMoveTask", moved=waiting)
