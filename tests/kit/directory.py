"""Keycloak's create/lookup semantics in memory: the one stand-in for the `UserDirectory` port."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from registrar.domain.deadline import Deadline
from registrar.domain.directory import (
    AlreadyExists,
    Created,
    CreateResult,
    KeycloakUnavailable,
    KeycloakUser,
    Rejected,
    UserProfile,
    UserRepresentation,
)
from registrar.domain.user_profile import KEEPS_UNDECLARED


@dataclass
class MemoryDirectory:
    """Answers as Keycloak does.

    - 409 on a taken username or email;
    - 400 when the username holds a '!';
    - 503 when it starts with 'retry-' (a transient failure that never clears), or for every
      create while `fail_with` is set;
    - 500 for a group the realm lacks, as Keycloak answers it;
    - a user profile that declares `declared_attributes` (those of UNIT_SETTINGS by default);
      other attributes are dropped silently, as Keycloak does, unless `unmanaged_attribute_policy`
      keeps them.
    """

    groups: set[str] = field(default_factory=lambda: {"/customers"})
    by_username: dict[str, KeycloakUser] = field(default_factory=dict)
    by_email: dict[str, KeycloakUser] = field(default_factory=dict)
    create_calls: list[UserRepresentation] = field(default_factory=list)
    group_calls: list[str] = field(default_factory=list)
    token_calls: int = 0
    fail_with: KeycloakUnavailable | None = None
    token_error: Exception | None = None
    declared_attributes: set[str] = field(default_factory=lambda: {"registrationId", "signupSource"})
    unmanaged_attribute_policy: str | None = None
    profile_error: Exception | None = None
    profile_calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def users(self) -> list[KeycloakUser]:
        with self._lock:
            return list(self.by_username.values())

    def ensure_token(self, deadline: Deadline) -> None:
        deadline.request_timeout(5)  # as the gateway does: DeadlineReached when no time is left
        self.token_calls += 1
        if self.token_error is not None:
            raise self.token_error

    def create_user(self, user: UserRepresentation, deadline: Deadline) -> CreateResult:
        deadline.request_timeout(5)
        username, email = str(user["username"]), str(user["email"])
        with self._lock:
            self.create_calls.append(user)
            if self.fail_with is not None:
                raise self.fail_with
            if username.startswith("retry-"):
                raise KeycloakUnavailable("Keycloak answered 503: unavailable", status=503)
            if any(group not in self.groups for group in user.get("groups", [])):
                raise KeycloakUnavailable("Keycloak answered 500: unknown_error", status=500)
            if "!" in username:
                return Rejected(400, "username: error-username-invalid-character")
            if username in self.by_username:
                return AlreadyExists("User exists with same username")
            if email in self.by_email:
                return AlreadyExists("User exists with same email")
            attributes: dict[str, Any] = {
                name: value
                for name, value in user.get("attributes", {}).items()
                if name in self.declared_attributes or self.unmanaged_attribute_policy in KEEPS_UNDECLARED
            }
            created = KeycloakUser(f"id-{uuid.uuid4().hex}", username, email, attributes)
            self.by_username[username] = created
            self.by_email[email] = created
            return Created(created.id)

    def find_users(self, *, username: str, email: str, deadline: Deadline) -> list[KeycloakUser]:
        deadline.request_timeout(5)
        with self._lock:
            found = [user for user in (self.by_username.get(username), self.by_email.get(email)) if user]
            return list({user.id: user for user in found}.values())

    def group_exists(self, path: str, deadline: Deadline) -> bool:
        deadline.request_timeout(5)
        with self._lock:
            self.group_calls.append(path)
            return path in self.groups

    def user_profile(self, deadline: Deadline) -> UserProfile:
        deadline.request_timeout(5)
        self.profile_calls += 1
        if self.profile_error is not None:
            raise self.profile_error
        return UserProfile(frozenset(self.declared_attributes), self.unmanaged_attribute_policy)

    def holds(self, username: str, email: str) -> bool:
        with self._lock:
            user = self.by_username.get(username)
            return user is not None and user.email == email
