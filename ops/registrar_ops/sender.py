"""Sends a JSON-lines file of registrations, after checking every line the way the function will.

A line the function would refuse is reported with its number and reason; unless told to skip
such lines, nothing is sent while any line is bad, so a file goes in whole or not at all.
Lines go out with SendMessageBatch; a FIFO queue also gets a group and a deduplication id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from registrar.adapters.sqs import batches
from registrar.domain.registration import InvalidMessage, RegistrationPolicy, parse_body


@dataclass(frozen=True)
class ValidLine:
    number: int
    body: str
    email: str
    registration_id: str | None


@dataclass(frozen=True)
class BadLine:
    number: int
    reason: str


@dataclass
class SendReport:
    valid: list[ValidLine] = field(default_factory=list)
    invalid: list[BadLine] = field(default_factory=list)
    sent: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    """(line number, SQS error code) of each line SQS refused."""


def check_lines(lines: Iterable[str], policy: RegistrationPolicy) -> SendReport:
    report = SendReport()
    for number, raw in enumerate(lines, start=1):
        body = raw.rstrip("\r\n")
        if not body.strip():
            continue  # blank lines separate nothing and are not registrations
        try:
            parsed = parse_body(body, policy)
        except InvalidMessage as error:
            report.invalid.append(BadLine(number, error.reason))
            continue
        registration = parsed.registration
        report.valid.append(ValidLine(number, body, registration.email, registration.registrationId))
    return report


def is_fifo(queue_url: str) -> bool:
    return queue_url.endswith(".fifo")


def deduplication_id(line: ValidLine) -> str:
    """The registrationId when the line has one (the function's own idempotency key), else the body's hash."""
    return line.registration_id or hashlib.sha256(line.body.encode("utf-8", "surrogatepass")).hexdigest()


def group_id_by_email(line: ValidLine) -> str:
    # One group per person keeps that person's messages in order while others go in parallel;
    # hashed, because a group id is visible to anyone who can read the queue's metrics and logs.
    return hashlib.sha256(line.email.encode()).hexdigest()[:64]


def entry_for(line: ValidLine, *, fifo: bool, group_id: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": str(line.number), "MessageBody": line.body}
    if fifo:
        entry["MessageGroupId"] = group_id or group_id_by_email(line)
        entry["MessageDeduplicationId"] = deduplication_id(line)
    return entry


def send_lines(sqs: Any, queue_url: str, report: SendReport, *, group_id: str | None = None) -> SendReport:
    fifo = is_fifo(queue_url)
    entries = [entry_for(line, fifo=fifo, group_id=group_id) for line in report.valid]
    for chunk in batches(entries, _entry_size):
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=chunk)
        report.sent += len(answer.get("Successful", []))
        for failure in answer.get("Failed", []):
            report.failed.append((int(failure["Id"]), str(failure.get("Code", "?"))))
    return report


def _entry_size(entry: dict[str, Any]) -> int:
    return len(str(entry["MessageBody"]).encode("utf-8", "surrogatepass"))


def describe(report: SendReport) -> list[str]:
    return [f"line {bad.number}: {bad.reason}" for bad in report.invalid]
