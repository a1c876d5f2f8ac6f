"""Logger and metrics, and the names the dashboard and alarms are built on.

No X-Ray SDK: it and the botocore it pulls in cost about a sixth of a cold start. Lambda's own
active tracing (the template's Tracing parameter) still records every invocation, and
KeycloakLatency covers the calls to Keycloak.

Metric names live here only; template.yaml's dashboard and alarms are tested against them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from enum import StrEnum

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from registrar.domain.outcomes import Outcome, OutcomeKind

SERVICE_NAME = "sqs-keycloak-registrar"
METRICS_NAMESPACE = "SqsKeycloakRegistrar"

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)


class MetricName(StrEnum):
    CREATED = "RegistrationsCreated"
    ALREADY_REGISTERED = "RegistrationsAlreadyRegistered"
    CONFLICT = "RegistrationsConflict"
    INVALID = "RegistrationsInvalid"
    UNKNOWN_GROUP = "RegistrationsUnknownGroup"
    RETRIES_EXHAUSTED = "RegistrationsRetriesExhausted"
    RETRYABLE = "RegistrationsRetryable"
    DEFERRED = "RegistrationsDeferred"
    SENT_TO_DLQ = "RegistrationsSentToDLQ"
    DUPLICATE_IN_BATCH = "RegistrationsDuplicateInBatch"
    KEYCLOAK_LATENCY = "KeycloakLatency"
    KEYCLOAK_RETRIES = "KeycloakRetries"
    CIRCUIT_OPEN = "CircuitOpen"
    VISIBILITY_BACKOFFS = "VisibilityBackoffs"


OUTCOME_METRICS: dict[OutcomeKind, MetricName] = {
    OutcomeKind.CREATED: MetricName.CREATED,
    OutcomeKind.ALREADY_REGISTERED: MetricName.ALREADY_REGISTERED,
    OutcomeKind.CONFLICT: MetricName.CONFLICT,
    OutcomeKind.INVALID: MetricName.INVALID,
    OutcomeKind.UNKNOWN_GROUP: MetricName.UNKNOWN_GROUP,
    OutcomeKind.RETRIES_EXHAUSTED: MetricName.RETRIES_EXHAUSTED,
    OutcomeKind.RETRYABLE: MetricName.RETRYABLE,
    OutcomeKind.DEFERRED: MetricName.DEFERRED,
}


def record_batch_metrics(
    outcomes: Iterable[Outcome],
    *,
    sent_to_dlq: int,
    retries: int,
    circuit_open: bool,
    backed_off: int,
    duplicates: int,
) -> None:
    """Add one invocation's metrics; call from the invoking thread only (Metrics is not thread-safe).

    `outcomes` has one entry per record; `retries` counts Keycloak requests sent again.
    """
    counts = Counter(outcome.kind for outcome in outcomes)
    for kind, name in OUTCOME_METRICS.items():
        metrics.add_metric(name=name.value, unit=MetricUnit.Count, value=counts.get(kind, 0))
    metrics.add_metric(name=MetricName.SENT_TO_DLQ.value, unit=MetricUnit.Count, value=sent_to_dlq)
    metrics.add_metric(name=MetricName.DUPLICATE_IN_BATCH.value, unit=MetricUnit.Count, value=duplicates)
    metrics.add_metric(name=MetricName.KEYCLOAK_RETRIES.value, unit=MetricUnit.Count, value=retries)
    # 1 while the breaker is open at the end of an invocation: Maximum over a period is the alarm.
    metrics.add_metric(name=MetricName.CIRCUIT_OPEN.value, unit=MetricUnit.Count, value=int(circuit_open))
    metrics.add_metric(name=MetricName.VISIBILITY_BACKOFFS.value, unit=MetricUnit.Count, value=backed_off)


def record_keycloak_latencies(latencies_ms: Iterable[float]) -> None:
    for latency in latencies_ms:
        metrics.add_metric(
            name=MetricName.KEYCLOAK_LATENCY.value, unit=MetricUnit.Milliseconds, value=round(latency, 2)
        )


def mask_email(email: str) -> str:
    """Enough to recognise an address in a log, not enough to harvest it."""
    local, _, domain = email.partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"
