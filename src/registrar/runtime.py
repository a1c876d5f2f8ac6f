"""What an execution environment builds once and reuses across warm invocations."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from registrar.adapters.secrets import secret_source
from registrar.adapters.sqs import LazySqsClient, SqsClientFactory, SqsSettlement
from registrar.config import Settings
from registrar.domain.directory import UserDirectory
from registrar.domain.groups import GroupCatalog
from registrar.domain.registrar import Registrar
from registrar.domain.required_actions import review_allowlist
from registrar.domain.resilience import CircuitBreaker, RetryPolicy
from registrar.domain.settlement import Settlement
from registrar.domain.user_profile import UserProfileReview
from registrar.observability import logger


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    registrar: Registrar
    breaker: CircuitBreaker
    groups: GroupCatalog
    profile: UserProfileReview
    settlement: Settlement


_lock = threading.Lock()
_current: Runtime | None = None


def current_runtime() -> Runtime:
    """The environment's runtime, built on first use from the environment variables."""
    global _current  # noqa: PLW0603 - one runtime per execution environment, by design
    with _lock:
        if _current is None:
            _current = build_runtime(Settings.from_environment())
        return _current


def build_runtime(
    settings: Settings,
    *,
    directory: UserDirectory | None = None,
    sqs_client: SqsClientFactory | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Runtime:
    """The runtime for these settings; `directory` and `sqs_client` replace the real adapters (tests)."""
    warn_about(settings)
    breaker = CircuitBreaker(
        failure_threshold=settings.circuit_failure_threshold, cooldown_seconds=settings.circuit_cooldown_seconds
    )
    groups = GroupCatalog(ttl_seconds=settings.group_cache_seconds)
    policy = settings.policy
    profile = UserProfileReview(names=frozenset({policy.registration_id_attribute, *policy.allowed_attributes}))
    registrar = Registrar(
        directory or keycloak_directory(settings),
        realm=settings.realm,
        registration_id_attribute=policy.registration_id_attribute,
        breaker=breaker,
        retry_policy=RetryPolicy(max_attempts=settings.retry_max_attempts),
        groups=groups,
        profile=profile,
        sleep=sleep,
    )
    settlement = SqsSettlement(sqs_client or LazySqsClient(settings.time_budget), settings.dlq_url)
    return Runtime(
        settings=settings, registrar=registrar, breaker=breaker, groups=groups, profile=profile, settlement=settlement
    )


def keycloak_directory(settings: Settings) -> UserDirectory:
    # Imported here: python-keycloak and requests are the adapter's, not the runtime's.
    from registrar.adapters.ca_bundle import tls_verify  # noqa: PLC0415
    from registrar.adapters.keycloak import KeycloakGateway  # noqa: PLC0415

    return KeycloakGateway(
        server_url=str(settings.keycloak_url),
        realm=settings.realm,
        client_id=settings.client_id,
        secret_source=secret_source(
            secret_arn=settings.client_secret_arn,
            plain_secret=settings.client_secret,
            max_age_seconds=settings.secret_max_age_seconds,
        ),
        verify=tls_verify(verify_tls=settings.verify_tls, ca_bundle=settings.ca_bundle),
        request_timeout_seconds=settings.request_timeout_seconds,
        pool_size=settings.max_workers,
    )


def warn_about(settings: Settings) -> None:
    """Cold-start warnings: settings that work, but not the way an operator probably expects."""
    if not settings.verify_tls:
        logger.warning("TLS verification of Keycloak is OFF (development setting); never use this in production")
    if settings.dlq_url is None:
        logger.warning("DLQ_URL is not set: permanent failures are retried until the queue's redrive policy moves them")
    if settings.receives_cut_window_short():
        logger.warning(
            "MAX_RECEIVE_COUNT can be reached before RETRY_WINDOW_SECONDS ends: a long outage ends in the DLQ "
            "sooner than the window says; raise the queue's maxReceiveCount",
            extra={
                "max_receive_count": settings.max_receive_count,
                "retry_window_seconds": settings.retry_window_seconds,
            },
        )
    for finding in review_allowlist(settings.policy.allowed_required_actions):
        if finding.recased:
            logger.warning(
                "allowlisted required action differs from Keycloak's built-in alias only in case: "
                "Keycloak's spelling is sent",
                extra={"required_action": finding.alias, "keycloak_alias": finding.canonical},
            )
        elif finding.custom:
            logger.warning(
                "allowlisted required action is not one of Keycloak's built-in aliases: Keycloak silently drops "
                "an alias its realm does not enable",
                extra={"required_action": finding.alias},
            )
