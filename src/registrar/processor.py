"""One SQS batch, start to end: decode and parse; prepare (the token and the groups); process
(register in parallel); settle on SQS (DLQ copies, visibility); report (metrics and the answer).

Only a broken deployment (bad configuration) raises; a record's content never does. The
answer names only the records that must come back, by the messageIds of this batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from registrar.domain.deadline import Deadline
from registrar.domain.fanout import WorkItem, fan_out
from registrar.domain.fifo_order import Order, failures_in_group_order, hold_behind_stopped_groups
from registrar.domain.outcomes import Outcome, OutcomeKind, classify
from registrar.domain.registration import InvalidMessage, Registration, parse_body
from registrar.domain.resilience import CircuitState
from registrar.domain.settlement import DeadLetter, Postponement, Settled
from registrar.observability import logger, mask_email, record_batch_metrics, record_keycloak_latencies
from registrar.runtime import Runtime

BatchResponse = dict[str, list[dict[str, str]]]


@dataclass(frozen=True)
class SqsRecord:
    """What the function uses of one record of an SQS event."""

    message_id: str
    body: str
    receive_count: int
    receipt_handle: str = ""
    queue_arn: str = ""
    sent_at: float | None = None
    """SentTimestamp, in seconds since the epoch."""
    message_group_id: str | None = None


def decode_records(event: object) -> list[SqsRecord]:
    """The event's records, one per messageId (the same message twice in one event gets one answer)."""
    raw = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(raw, list):
        logger.error("event has no Records list; nothing to do")
        return []
    records: dict[str, SqsRecord] = {}
    for item in raw:
        message_id = item.get("messageId") if isinstance(item, Mapping) else None
        if not isinstance(message_id, str) or not message_id:
            # Without a messageId a record can be neither acknowledged nor reported.
            logger.error("record without a messageId skipped")
            continue
        attributes = item.get("attributes")
        attributes = attributes if isinstance(attributes, Mapping) else {}
        sent_ms = _digits(attributes.get("SentTimestamp"))
        records[message_id] = SqsRecord(
            message_id=message_id,
            body=_text(item.get("body")),
            receive_count=_digits(attributes.get("ApproximateReceiveCount")) or 0,
            receipt_handle=_text(item.get("receiptHandle")),
            queue_arn=_text(item.get("eventSourceARN")),
            sent_at=None if sent_ms is None else sent_ms / 1000,
            message_group_id=_text(attributes.get("MessageGroupId")) or None,
        )
    return list(records.values())


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _digits(value: object) -> int | None:
    """A number AWS sends as ASCII digits; None when absent or anything else."""
    text = _text(value)
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 15 else None


class _Attempts:
    """The outcome of every registration the workers ran: its Keycloak latencies and retries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcomes: list[Outcome] = []

    def add(self, outcome: Outcome) -> None:
        with self._lock:
            self._outcomes.append(outcome)

    def latencies_ms(self) -> list[float]:
        with self._lock:
            return [latency for outcome in self._outcomes for latency in outcome.keycloak_latencies_ms]

    def retries(self) -> int:
        with self._lock:
            return sum(outcome.keycloak_retries for outcome in self._outcomes)


def process_event(
    event: object, deadline: Deadline, runtime: Runtime, now: Callable[[], float] = time.time
) -> BatchResponse:
    """The batch in the phases of Powertools' partial processors: prepare, process, settle, report."""
    records = decode_records(event)
    outcomes, items = _parse(records, runtime)
    attempts = _Attempts()
    finish = _out_of_retries({record.message_id: record for record in records}, runtime, now)
    duplicates = 0
    if items:
        unavailable = _prepare(deadline, runtime)
        if unavailable is None:
            duplicates = _process(items, finish, outcomes, attempts, deadline, runtime)
        else:
            logger.warning("Keycloak token unavailable; batch not started", extra={"reason": unavailable.reason})
            attempts.add(unavailable)
            outcomes.update({item.message_id: finish(item.message_id, unavailable) for item in items})
    order = [(record.message_id, record.message_group_id) for record in records]
    outcomes = hold_behind_stopped_groups(order, outcomes)
    _log_outcomes(records, outcomes, {item.message_id: item.registration for item in items})
    _warn_operators(outcomes.values(), runtime)
    settled = _settle(records, outcomes, deadline, runtime)
    return _report(records, order, outcomes, settled, attempts, duplicates, runtime)


def _parse(records: Sequence[SqsRecord], runtime: Runtime) -> tuple[dict[str, Outcome], list[WorkItem]]:
    """Each body against the contract: the invalid ones get their outcome here, the rest become work."""
    outcomes: dict[str, Outcome] = {}
    items: list[WorkItem] = []
    for record in records:
        try:
            registration = parse_body(record.body, runtime.settings.policy).registration
        except InvalidMessage as error:
            outcomes[record.message_id] = Outcome(OutcomeKind.INVALID, error.reason, error.error_class)
        else:
            items.append(WorkItem(record.message_id, registration, record.message_group_id))
    return outcomes, items


def _out_of_retries(
    by_id: Mapping[str, SqsRecord], runtime: Runtime, now: Callable[[], float]
) -> Callable[[str, Outcome], Outcome]:
    def finish(message_id: str, outcome: Outcome) -> Outcome:
        """Out of retries: a record still failing goes to the DLQ with its reason, not by the queue's redrive."""
        record = by_id[message_id]
        if (
            outcome.pending
            and runtime.settings.dlq_url is not None
            and runtime.settings.retry_limits.exhausted(record.receive_count, record.sent_at, now())
        ):
            return outcome.exhausted()
        return outcome

    return finish


def _prepare(deadline: Deadline, runtime: Runtime) -> Outcome | None:
    """The token and the groups' lookup, once for the batch; the outcome of every record if they fail."""
    try:
        return runtime.registrar.prepare(deadline, runtime.settings.policy.allowed_groups)
    except Exception as error:  # noqa: BLE001 - whatever went wrong, the records are retried, not lost
        logger.exception("unexpected error preparing the batch")
        return classify(error)


def _process(
    items: Sequence[WorkItem],
    finish: Callable[[str, Outcome], Outcome],
    outcomes: dict[str, Outcome],
    attempts: _Attempts,
    deadline: Deadline,
    runtime: Runtime,
) -> int:
    """Register the parsed records in parallel into `outcomes`; returns how many were copies of another."""
    registrar = runtime.registrar

    def register(registration: Registration, message_ids: Sequence[str]) -> Outcome:
        logger.thread_safe_append_keys(message_id=message_ids[0], copies=len(message_ids))
        try:
            outcome = registrar.register(registration, message_ids, deadline)
        except Exception as error:  # noqa: BLE001 - one record's surprise is its own; it is retried
            logger.exception("unexpected error registering a record")
            outcome = classify(error)
        finally:
            logger.thread_safe_clear_keys()
        attempts.add(outcome)
        return outcome

    result = fan_out(items, register, finish, deadline, runtime.settings.max_workers)
    outcomes.update(result.outcomes)
    return result.duplicates


def _report(
    records: Sequence[SqsRecord],
    order: Order,
    outcomes: Mapping[str, Outcome],
    settled: Settled,
    attempts: _Attempts,
    duplicates: int,
    runtime: Runtime,
) -> BatchResponse:
    """Metrics and the answer: the records that must come back, unless their DLQ copy was sent."""
    failed = failures_in_group_order(
        order,
        {
            record.message_id
            for record in records
            if not outcomes[record.message_id].succeeded and record.message_id not in settled.dead_lettered
        },
    )
    record_batch_metrics(
        (outcomes[record.message_id] for record in records),
        sent_to_dlq=len(settled.dead_lettered),
        retries=attempts.retries(),
        circuit_open=runtime.breaker.state is not CircuitState.CLOSED,
        backed_off=settled.postponed,
        duplicates=duplicates,
    )
    record_keycloak_latencies(attempts.latencies_ms())
    logger.info(
        "batch handled",
        extra={
            "records": len(records),
            "failures": len(failed),
            "sent_to_dlq": len(settled.dead_lettered),
            "duplicates_in_batch": duplicates,
            "circuit": runtime.breaker.state.value,
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def _log_outcomes(
    records: Iterable[SqsRecord], outcomes: Mapping[str, Outcome], registrations: Mapping[str, Registration]
) -> None:
    """One line per record, findable by message id or registrationId."""
    for record in records:
        outcome = outcomes[record.message_id]
        registration = registrations.get(record.message_id)
        fields: dict[str, Any] = {
            "message_id": record.message_id,
            "outcome": outcome.kind.value,
            "reason": outcome.reason,
            "http_status": outcome.http_status,
            "receive_count": record.receive_count,
        }
        if registration is not None:
            fields |= {
                "email": mask_email(registration.email),
                "registration_id": registration.registrationId,
                "user_id": outcome.user_id,
                "keycloak_ms": [round(latency, 1) for latency in outcome.keycloak_latencies_ms],
            }
        logger.info("registration handled", extra=fields)


def _warn_operators(outcomes: Iterable[Outcome], runtime: Runtime) -> None:
    outcomes = list(outcomes)
    tls_failures = sorted({outcome.reason for outcome in outcomes if outcome.tls_failure})
    if tls_failures:
        logger.warning(
            "TLS with Keycloak failed: the function does not trust Keycloak's certificate. Set KEYCLOAK_CA_BUNDLE "
            "to the PEM bundle of the CA that issued it, and check that the certificate names KEYCLOAK_URL's host",
            extra={"reason": tls_failures[0], "keycloak_url": str(runtime.settings.keycloak_url)},
        )
    refused = sorted({status for outcome in outcomes if (status := outcome.http_status) in {401, 403}})
    if refused:
        logger.warning(
            "Keycloak refused the function's service account: check the client secret and its "
            "realm-management roles (manage-users, view-users, query-users, query-groups)",
            extra={"http_status": refused},
        )
    profile = runtime.profile.take_unreported()
    if profile is not None:
        logger.warning(
            "the realm's user profile does not declare attributes the function sends: Keycloak creates the user "
            "without them, and without the registration-id attribute a redelivered message reads as a conflict. "
            "Declare them in the realm's user profile (registrar_ops setup-keycloak declares the registration id, "
            "and the allowlisted attributes with --attributes)",
            extra={
                "attributes": profile.attributes,
                # Keycloak has no name for "no policy": undeclared attributes are then off.
                "unmanaged_attribute_policy": profile.unmanaged_attribute_policy or "off",
                "realm": runtime.settings.realm,
            },
        )
    for path in runtime.groups.take_newly_missing():
        logger.warning(
            "an allowlisted group does not exist in the realm: messages asking for it go to the DLQ "
            "as unknown_group until it is created",
            extra={"group": path, "realm": runtime.settings.realm},
        )


def _settle(
    records: Sequence[SqsRecord], outcomes: Mapping[str, Outcome], deadline: Deadline, runtime: Runtime
) -> Settled:
    letters = [
        DeadLetter(
            message_id=record.message_id,
            body=record.body,
            reason=outcome.reason,
            outcome=outcome.kind.value,
            error_class=outcome.error_class,
            http_status=outcome.http_status,
            receive_count=record.receive_count,
            message_group_id=record.message_group_id,
        )
        for record in records
        if (outcome := outcomes[record.message_id]).permanent
    ]
    postponements = [
        Postponement(
            queue_arn=record.queue_arn,
            receipt_handle=record.receipt_handle,
            seconds=runtime.settings.backoff.seconds(record.receive_count, outcome.retry_after),
        )
        for record in records
        if (outcome := outcomes[record.message_id]).pending
    ]
    if letters and runtime.settings.dlq_url is None:
        logger.error("permanent failures with no DLQ_URL: left to the queue's redrive", extra={"count": len(letters)})
        letters = []
    if not deadline.may_settle():
        # Reported as failures instead: they come back, and are settled on a later delivery.
        logger.warning(
            "no time left to settle on SQS", extra={"letters": len(letters), "postponed": len(postponements)}
        )
        return Settled(frozenset(), 0)
    settled = runtime.settlement.settle(letters, postponements)
    if len(settled.dead_lettered) < len(letters):
        logger.error(
            "some DLQ copies were not sent; those records will be retried",
            extra={"unsent": len(letters) - len(settled.dead_lettered)},
        )
    return settled
