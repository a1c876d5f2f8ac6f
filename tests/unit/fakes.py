"""Test doubles for the Keycloak side of unit tests (integration tests use the real server)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from registrar.deadline import Deadline
from registrar.keycloak import AlreadyExists, Created, CreateResult, KeycloakUnavailable, KeycloakUser, Rejected


@dataclass
class InMemoryDirectory:
    """Keycloak's create/lookup semantics over a dict: 409 on username or email, 400 on '!'."""

    users: dict[str, KeycloakUser] = field(default_factory=dict)
    create_calls: list[dict[str, Any]] = field(default_factory=list)
    token_calls: int = 0
    fail_with: KeycloakUnavailable | None = None
    token_error: Exception | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure_token(self, deadline: Deadline) -> None:
        self.token_calls += 1
        if self.token_error is not None:
            raise self.token_error

    def create_user(self, user: dict[str, Any], deadline: Deadline) -> CreateResult:
        deadline.request_timeout(5)  # as the gateway does: DeadlineReached when no time is left
        with self._lock:
            self.create_calls.append(user)
            if self.fail_with is not None:
                raise self.fail_with
            if "!" in user["username"]:
                return Rejected(400, "username: error-username-invalid-character")
            for existing in self.users.values():
                if existing.username == user["username"]:
                    return AlreadyExists("User exists with same username")
                if existing.email == user["email"]:
                    return AlreadyExists("User exists with same email")
            user_id = f"id-{len(self.users) + 1}"
            self.users[user_id] = KeycloakUser(user_id, user["username"], user["email"], user.get("attributes", {}))
            return Created(user_id)

    def find_users(self, *, username: str, email: str, deadline: Deadline) -> list[KeycloakUser]:
        deadline.request_timeout(5)
        with self._lock:
            return [user for user in self.users.values() if user.username == username or user.email == email]
