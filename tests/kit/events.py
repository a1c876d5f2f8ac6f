"""SQS events as the event source mapping delivers them, the context Lambda passes, and what the function answers.

Standard library and the local stack's stdlib-only modules alone: the benchmarks' probes import
this next to the built function package, where nothing else is installed.
"""

from __future__ import annotations

import json
import time
from typing import Any

from registrar_local.lambda_context import LocalLambdaContext
from registrar_local.poller import lambda_event

EXAMPLE_QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:registrations"


def synthetic_record(
    message_id: str, body: str, receive_count: int = 1, sent_at: float | None = None, group: str | None = None
) -> dict[str, Any]:
    """One record as Lambda delivers it, for a message that never sat on a queue.

    Sent now unless `sent_at` (seconds since the epoch) says otherwise; `group` makes it a FIFO record.
    """
    attributes = {
        "ApproximateReceiveCount": str(receive_count),
        "SentTimestamp": str(int((time.time() if sent_at is None else sent_at) * 1000)),
    }
    if group is not None:
        attributes["MessageGroupId"] = group
    message = {"MessageId": message_id, "ReceiptHandle": f"rh-{message_id}", "Body": body, "Attributes": attributes}
    record: dict[str, Any] = lambda_event([message], EXAMPLE_QUEUE_ARN, "eu-west-1")["Records"][0]
    return record


def sqs_event(*bodies: str, prefix: str = "m", receive_count: int = 1) -> dict[str, Any]:
    """An event of `bodies` with messageIds PREFIX-0, PREFIX-1, ..."""
    return {
        "Records": [synthetic_record(f"{prefix}-{index}", body, receive_count) for index, body in enumerate(bodies)]
    }


def registrations_event(email_prefix: str, count: int, prefix: str = "m", **fields: Any) -> dict[str, Any]:
    """An event of `count` registrations for EMAIL_PREFIX-0@example.com, -1, ..., each with `fields` too."""
    return sqs_event(*[body(email=f"{email_prefix}-{i}@example.com", **fields) for i in range(count)], prefix=prefix)


def sns_notification(message: Any) -> dict[str, Any]:
    """An SNS notification as a subscribed queue receives it without raw delivery; `message` goes in as it is."""
    return {"Type": "Notification", "MessageId": "n-1", "Message": message}


def eventbridge_event(detail: Any) -> dict[str, Any]:
    """An EventBridge event as a rule targeting the queue delivers it."""
    return {"version": "0", "detail-type": "Registration", "source": "signup", "detail": detail}


def sns_body(document: Any, padding: str = "") -> str:
    """`document` published to SNS: a body whose Message is the document's JSON, after `padding`."""
    return json.dumps(sns_notification(padding + json.dumps(document)))


def eventbridge_body(document: Any) -> str:
    return json.dumps(eventbridge_event(document))


def lambda_context(timeout_seconds: float = 60) -> LocalLambdaContext:
    """The context Lambda passes the handler; its remaining time runs down from `timeout_seconds`."""
    return LocalLambdaContext(timeout_seconds=timeout_seconds)


def body(**fields: Any) -> str:
    return json.dumps(fields)


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]
