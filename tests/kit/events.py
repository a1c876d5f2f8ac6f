"""SQS events as the event source mapping delivers them, and what the function answers."""

from __future__ import annotations

import json
from typing import Any

from registrar_local.poller import synthetic_event


def sqs_event(*bodies: str, receive_count: int = 1) -> dict[str, Any]:
    """An event in the shape the SQS event source mapping delivers, messageIds m-0, m-1, ..."""
    return synthetic_event(bodies, receive_count=receive_count)


def body(**fields: Any) -> str:
    return json.dumps(fields)


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]
