"""The port to Keycloak: what registering needs of it, and the answers it can give.

The adapter in `registrar.adapters.keycloak` implements it with python-keycloak; the tests'
kit implements it in memory. Nothing here knows HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from registrar.domain.deadline import Deadline

UserRepresentation = dict[str, Any]
"""Keycloak's UserRepresentation, as POSTed to the users endpoint."""

HTTP_UNAUTHORIZED = 401
HTTP_FORBIDDEN = 403
HTTP_TOO_MANY_REQUESTS = 429
HTTP_SERVER_ERROR = 500


class KeycloakUnavailable(Exception):
    """Keycloak could not give an answer this time; the same request may succeed later."""

    def __init__(
        self, reason: str, *, status: int | None = None, retry_after: float | None = None, tls_failure: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.tls_failure = tls_failure
        """The function does not trust Keycloak's certificate (or its name): a deployment problem."""

    @property
    def transient(self) -> bool:
        """Worth another try in the same invocation: transport errors, 429 and 5xx (not 401/403: configuration)."""
        return self.status is None or self.status == HTTP_TOO_MANY_REQUESTS or self.status >= HTTP_SERVER_ERROR

    @property
    def refused_access(self) -> bool:
        """Keycloak refused the function's own credentials or roles: a deployment problem."""
        return self.status in {HTTP_UNAUTHORIZED, HTTP_FORBIDDEN}


@dataclass(frozen=True)
class Created:
    user_id: str


@dataclass(frozen=True)
class AlreadyExists:
    message: str


@dataclass(frozen=True)
class Rejected:
    status: int
    message: str


CreateResult = Created | AlreadyExists | Rejected


@dataclass(frozen=True)
class KeycloakUser:
    id: str
    username: str
    email: str | None
    attributes: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class UserProfile:
    """The realm's user-profile configuration, as far as keeping attributes goes."""

    declared: frozenset[str]
    unmanaged_attribute_policy: str | None
    """ENABLED, ADMIN_EDIT, ADMIN_VIEW, or None when undeclared attributes are off."""


class UserDirectory(Protocol):
    """Users and groups of the one realm the deployment names."""

    def ensure_token(self, deadline: Deadline) -> None:
        """Have a valid access token before the fan-out, so the workers never race for one."""

    def create_user(self, user: UserRepresentation, deadline: Deadline) -> CreateResult: ...

    def find_users(self, *, username: str, email: str, deadline: Deadline) -> list[KeycloakUser]:
        """Users whose username or email is exactly the username or the email given."""
        ...

    def group_exists(self, path: str, deadline: Deadline) -> bool: ...

    def user_profile(self, deadline: Deadline) -> UserProfile: ...
