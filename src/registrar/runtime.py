"""What an execution environment builds once and reuses across warm invocations."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from registrar.config import Settings
from registrar.dlq import DeadLetterQueue
from registrar.keycloak import KeycloakGateway, SecretSource
from registrar.messages import RegistrationPolicy
from registrar.observability import logger
from registrar.registration import Registrar
from registrar.resilience import CircuitBreaker, ResilientDirectory, RetryPolicy
from registrar.visibility import VisibilityBackoff, VisibilityChanger

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    policy: RegistrationPolicy
    directory: ResilientDirectory
    registrar: Registrar
    dead_letters: DeadLetterQueue | None
    visibility: VisibilityChanger
    backoff: VisibilityBackoff


_lock = threading.Lock()
_current: Runtime | None = None


def current_runtime() -> Runtime:
    """The environment's runtime, built on first use from the environment variables."""
    global _current  # noqa: PLW0603 - one runtime per execution environment, by design
    with _lock:
        if _current is None:
            _current = build_runtime(Settings.from_environment())
        return _current


def reset_runtime() -> None:
    """Forget the cached runtime (tests and the local poller change settings between runs)."""
    global _current  # noqa: PLW0603
    with _lock:
        _current = None


def build_runtime(settings: Settings) -> Runtime:
    if not settings.verify_tls:
        logger.warning("TLS verification of Keycloak is OFF (development setting); never use this in production")
    if settings.dlq_url is None:
        logger.warning("DLQ_URL is not set: permanent failures are retried until the queue's redrive policy moves them")
    gateway = KeycloakGateway(
        server_url=str(settings.keycloak_url),
        realm=settings.realm,
        client_id=settings.client_id,
        secret_source=secret_source(settings),
        verify_tls=settings.verify_tls,
        request_timeout_seconds=settings.request_timeout_seconds,
        pool_size=settings.max_workers,
    )
    policy = RegistrationPolicy(
        allowed_groups=settings.allowed_groups,
        allowed_attributes=settings.allowed_attributes,
        allowed_required_actions=settings.allowed_required_actions,
        allow_passwords=settings.allow_passwords,
        registration_id_attribute=settings.registration_id_attribute,
    )
    directory = ResilientDirectory(
        gateway,
        CircuitBreaker(
            failure_threshold=settings.circuit_failure_threshold, cooldown_seconds=settings.circuit_cooldown_seconds
        ),
        RetryPolicy(max_attempts=settings.retry_max_attempts),
    )
    sqs = LazySqsClient()
    return Runtime(
        settings=settings,
        policy=policy,
        directory=directory,
        registrar=Registrar(directory, settings.registration_id_attribute),
        dead_letters=None if settings.dlq_url is None else DeadLetterQueue(settings.dlq_url, client_factory=sqs),
        visibility=VisibilityChanger(client_factory=sqs),
        backoff=VisibilityBackoff(
            base_seconds=settings.visibility_backoff_base_seconds, max_seconds=settings.visibility_backoff_max_seconds
        ),
    )


def secret_source(settings: Settings) -> SecretSource:
    if settings.client_secret_arn is None:
        secret = settings.client_secret or ""
        return lambda _force_refresh: secret
    arn = settings.client_secret_arn
    max_age = settings.secret_max_age_seconds

    def from_secrets_manager(force_refresh: bool) -> str:
        from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - only deployed functions need it

        value = parameters.get_secret(arn, max_age=max_age, force_fetch=force_refresh)
        return value if isinstance(value, str) else value.decode()

    return from_secrets_manager


class LazySqsClient:
    """One SQS client per environment, made on first use: boto3 costs import time a clean batch never needs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._client: SQSClient | None = None

    def __call__(self) -> SQSClient:
        with self._lock:
            if self._client is None:
                import boto3  # noqa: PLC0415
                from botocore.config import Config  # noqa: PLC0415

                # Bounded: these calls run in the time the deadline reserves after the fan-in.
                timeouts = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"})
                self._client = boto3.client("sqs", config=timeouts)
            return self._client
