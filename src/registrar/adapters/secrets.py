"""Where the Keycloak client secret comes from: Secrets Manager when deployed, a variable locally."""

from __future__ import annotations

from collections.abc import Callable

SecretSource = Callable[[bool], str]
"""Returns the client secret; called with True to bypass a cache after the secret was refused."""


def secret_source(*, secret_arn: str | None, plain_secret: str | None, max_age_seconds: int) -> SecretSource:
    if secret_arn is None:
        secret = plain_secret or ""
        return lambda _force_refresh: secret

    def from_secrets_manager(force_refresh: bool) -> str:
        from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - only deployed functions need it

        value = parameters.get_secret(secret_arn, max_age=max_age_seconds, force_fetch=force_refresh)
        return value if isinstance(value, str) else value.decode()

    return from_secrets_manager
