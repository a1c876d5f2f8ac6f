"""Lambda entry point: parse the batch, fan it out, dead-letter the poison, answer with failures.

Only a broken deployment (bad configuration) raises; a record's content never does. The
answer names only retryable and deferred records, by the messageIds of this batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from registrar.batch import fan_out
from registrar.deadline import Deadline, DeadlineReached
from registrar.dlq import DeadLetter
from registrar.messages import InvalidMessage, Registration, parse_body
from registrar.observability import logger, mask_email, metrics, record_batch_metrics, record_keycloak_latencies
from registrar.registration import Outcome, OutcomeKind
from registrar.resilience import CircuitOpen, CircuitState
from registrar.runtime import Runtime, current_runtime
from registrar.visibility import Postponement


@dataclass(frozen=True)
class _Record:
    message_id: str
    body: str
    receive_count: int
    receipt_handle: str
    queue_arn: str


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Mapping[str, Any], context: LambdaContext) -> dict[str, list[dict[str, str]]]:
    runtime = current_runtime()
    deadline = Deadline(
        remaining_ms=context.get_remaining_time_in_millis, margin_ms=runtime.settings.deadline_margin_ms
    )
    return process_event(event, deadline, runtime)


def process_event(event: object, deadline: Deadline, runtime: Runtime) -> dict[str, list[dict[str, str]]]:
    records = _unique(_records(event))
    outcomes: dict[str, Outcome] = {}
    valid: list[tuple[str, Registration]] = []
    for record in records:
        try:
            valid.append((record.message_id, parse_body(record.body, runtime.policy).registration))
        except InvalidMessage as error:
            outcomes[record.message_id] = Outcome(OutcomeKind.INVALID, error.reason, error.error_class)
            logger.info("invalid message", extra={"message_id": record.message_id, "reason": error.reason})

    if valid:
        outcomes.update(_register_all(valid, deadline, runtime))

    _warn_if_refused(outcomes.values())
    sent = _dead_letter(records, outcomes, runtime)
    failed = [
        record for record in records if not outcomes[record.message_id].succeeded and record.message_id not in sent
    ]
    backed_off = _postpone(failed, outcomes, runtime)
    record_batch_metrics(
        (outcomes[record.message_id] for record in records),
        sent_to_dlq=len(sent),
        retries=runtime.directory.retries.take(),
        circuit_open=runtime.directory.breaker.state is not CircuitState.CLOSED,
        backed_off=backed_off,
    )
    record_keycloak_latencies(
        latency
        for outcome in {id(o): o for o in outcomes.values()}.values()
        for latency in outcome.keycloak_latencies_ms
    )
    logger.info(
        "batch handled",
        extra={
            "records": len(records),
            "failures": len(failed),
            "sent_to_dlq": len(sent),
            "circuit": runtime.directory.breaker.state.value,
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": record.message_id} for record in failed]}


def _warn_if_refused(outcomes: Iterable[Outcome]) -> None:
    refused = sorted({status for outcome in outcomes if (status := outcome.http_status) in {401, 403}})
    if refused:
        logger.warning(
            "Keycloak refused the function's service account: check the client secret and its "
            "realm-management roles (manage-users, view-users, query-users, query-groups)",
            extra={"http_status": refused},
        )


def _postpone(failed: Sequence[_Record], outcomes: Mapping[str, Outcome], runtime: Runtime) -> int:
    """Visibility backoff for the records the answer reports; returns how many were postponed."""
    return runtime.visibility.postpone(
        [
            Postponement(
                queue_arn=record.queue_arn,
                receipt_handle=record.receipt_handle,
                seconds=runtime.backoff.seconds(record.receive_count, outcomes[record.message_id].retry_after),
            )
            for record in failed
        ]
    )


def _register_all(
    valid: Sequence[tuple[str, Registration]], deadline: Deadline, runtime: Runtime
) -> dict[str, Outcome]:
    # One token request before the fan-out, so the workers never race for it.
    try:
        runtime.directory.ensure_token(deadline)
    except Exception as error:  # noqa: BLE001 - whatever went wrong, the records are retried, not lost
        kind = OutcomeKind.DEFERRED if isinstance(error, DeadlineReached | CircuitOpen) else OutcomeKind.RETRYABLE
        logger.warning("Keycloak token unavailable; batch not started", extra={"reason": str(error)})
        unavailable = Outcome(
            kind,
            f"no token: {error}",
            type(error).__name__,
            getattr(error, "status", None),
            retry_after=getattr(error, "retry_after", None),
        )
        return {message_id: unavailable for message_id, _ in valid}

    def register(registration: Registration, message_ids: Sequence[str], deadline: Deadline) -> Outcome:
        logger.thread_safe_append_keys(message_id=message_ids[0], copies=len(message_ids))
        try:
            outcome = runtime.registrar.register(registration, deadline)
            logger.info(
                "registration handled",
                extra={
                    "outcome": outcome.kind.value,
                    "reason": outcome.reason,
                    "http_status": outcome.http_status,
                    "email": mask_email(registration.email),
                    "user_id": outcome.user_id,
                    "keycloak_ms": [round(latency, 1) for latency in outcome.keycloak_latencies_ms],
                },
            )
            return outcome
        finally:
            logger.thread_safe_clear_keys()

    return fan_out(valid, register, deadline, runtime.settings.max_workers)


def _dead_letter(records: Sequence[_Record], outcomes: Mapping[str, Outcome], runtime: Runtime) -> set[str]:
    letters = [
        DeadLetter(
            message_id=record.message_id,
            body=record.body,
            reason=outcome.reason,
            error_class=outcome.error_class,
            http_status=outcome.http_status,
            receive_count=record.receive_count,
            outcome=outcome.kind.value,
        )
        for record in records
        if (outcome := outcomes[record.message_id]).permanent
    ]
    if not letters:
        return set()
    if runtime.dead_letters is None:
        logger.error("permanent failures with no DLQ_URL: left to the queue's redrive", extra={"count": len(letters)})
        return set()
    sent = runtime.dead_letters.send(letters)
    if len(sent) < len(letters):
        logger.error(
            "some DLQ copies were not sent; those records will be retried", extra={"unsent": len(letters) - len(sent)}
        )
    return sent


def _records(event: object) -> list[_Record]:
    raw = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(raw, list):
        logger.error("event has no Records list; nothing to do")
        return []
    records = []
    for item in raw:
        message_id = item.get("messageId") if isinstance(item, Mapping) else None
        if not isinstance(message_id, str) or not message_id:
            # Without a messageId a record can be neither acknowledged nor reported.
            logger.error("record without a messageId skipped")
            continue
        body = item.get("body")
        attributes = item.get("attributes")
        receive_count = attributes.get("ApproximateReceiveCount", "") if isinstance(attributes, Mapping) else ""
        records.append(
            _Record(
                message_id=message_id,
                body=body if isinstance(body, str) else "",
                receive_count=_receive_count(receive_count),
                receipt_handle=_text(item.get("receiptHandle")),
                queue_arn=_text(item.get("eventSourceARN")),
            )
        )
    return records


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _receive_count(value: object) -> int:
    """ApproximateReceiveCount as a number; 0 when absent or not plain digits (AWS sends ASCII)."""
    text = str(value)
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else 0


def _unique(records: Sequence[_Record]) -> list[_Record]:
    """One record per messageId: the same message twice in one event gets one answer."""
    return list({record.message_id: record for record in records}.values())
