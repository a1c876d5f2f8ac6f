"""The adapter around python-keycloak: one token for all workers, bounded requests, typed answers.

python-keycloak's connection is shared by every worker thread of an execution environment.
It has no locks of its own, so the token is fetched and renewed here under one lock (ten
threads on a cold token make one token request, not ten), and each request's timeout is a
thread-local value cut to the invocation's remaining time. The library's own retry is off:
it re-sends POSTs after a read timeout, which hides unknown outcomes from the caller.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from keycloak import KeycloakOpenID, KeycloakOpenIDConnection
from keycloak.connection import ConnectionManager
from keycloak.exceptions import KeycloakAuthenticationError, KeycloakConnectionError, KeycloakError

from registrar.adapters.secrets import SecretSource
from registrar.domain.deadline import Deadline
from registrar.domain.directory import (
    HTTP_UNAUTHORIZED,
    AlreadyExists,
    Created,
    CreateResult,
    KeycloakUnavailable,
    KeycloakUser,
    Rejected,
    UserRepresentation,
)

HTTP_OK = 200
HTTP_CREATED = 201
HTTP_BAD_REQUEST = 400
HTTP_NOT_FOUND = 404
HTTP_CONFLICT = 409


class _SharedTokenConnection(KeycloakOpenIDConnection):
    """A KeycloakOpenIDConnection that many threads can share."""

    def __init__(self, *, secret_source: SecretSource, **kwargs: Any) -> None:
        self._token_lock = threading.Lock()
        self._thread = threading.local()
        self._secret_source = secret_source
        self._generation = 0
        super().__init__(client_secret_key=secret_source(False), grant_type="client_credentials", **kwargs)

    # The base class reads `self.timeout` for every request; a thread-local override makes the
    # timeout per request without a lock.
    @property  # type: ignore[override]
    def timeout(self) -> float | None:
        return getattr(self._thread, "timeout", None) or self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._timeout = value  # type: ignore[assignment]  # requests takes float seconds too

    @contextmanager
    def request_timeout(self, seconds: float) -> Iterator[None]:
        self._thread.timeout = seconds
        try:
            yield
        finally:
            self._thread.timeout = None

    @property
    def keycloak_openid(self) -> KeycloakOpenID:
        if self._keycloak_openid is None:
            self._keycloak_openid = KeycloakOpenID(
                server_url=str(self.server_url),
                realm_name=str(self.realm_name),
                client_id=str(self.client_id),
                client_secret_key=self.client_secret_key,
                verify=self.verify,
                timeout=self._timeout,  # requests takes float seconds too
                max_retries=0,
            )
        return self._keycloak_openid

    def ensure_token(self) -> int:
        """Fetch a token if there is none or it is near expiry; returns its generation."""
        with self._token_lock:
            expires_at = self.expires_at
            if self.token is None or expires_at is None or datetime.now(tz=UTC) >= expires_at:
                self._fetch_token()
            return self._generation

    def renew_token(self, seen_generation: int) -> None:
        """Renew after a 401, unless another thread already did since `seen_generation`."""
        with self._token_lock:
            if self._generation == seen_generation:
                self._fetch_token()

    def _request_token(self) -> None:
        # The token request gets the calling request's timeout, cut to the invocation's deadline.
        self.keycloak_openid.connection.timeout = self.timeout  # type: ignore[assignment]
        self.get_token()

    def _fetch_token(self) -> None:
        try:
            self._request_token()
        except KeycloakAuthenticationError:
            # The secret may have been rotated: read it again, past any cache, and try once more.
            self.client_secret_key = self._secret_source(True)
            self._keycloak_openid = None
            try:
                self._request_token()
            except KeycloakAuthenticationError as error:
                raise KeycloakUnavailable("token request refused (401): check the client secret", status=401) from error
        except KeycloakConnectionError as error:
            raise KeycloakUnavailable(f"token request failed: {_describe_transport(error)}") from error
        except KeycloakError as error:
            raise KeycloakUnavailable(
                f"token request failed ({error.response_code})", status=error.response_code
            ) from error
        self._generation += 1

    def send(self, method: str, path: str, data: str | None = None, **params: Any) -> requests.Response:
        generation = self.ensure_token()
        response = self._send_once(method, path, data, params)
        if response.status_code == HTTP_UNAUTHORIZED:
            self.renew_token(generation)
            response = self._send_once(method, path, data, params)
        return response

    def _send_once(self, method: str, path: str, data: str | None, params: dict[str, Any]) -> requests.Response:
        try:
            if method == "POST":
                return ConnectionManager.raw_post(self, path, data=data or "", **params)
            return ConnectionManager.raw_get(self, path, **params)
        except KeycloakConnectionError as error:
            raise KeycloakUnavailable(_describe_transport(error)) from error


class KeycloakGateway:
    """Creates and looks up users of one realm."""

    def __init__(
        self,
        *,
        server_url: str,
        realm: str,
        client_id: str,
        secret_source: SecretSource,
        verify_tls: bool,
        request_timeout_seconds: float,
        pool_size: int,
    ) -> None:
        self._request_timeout_seconds = request_timeout_seconds
        self._realm_path = f"admin/realms/{quote(realm, safe='')}"
        self._users_path = f"{self._realm_path}/users"
        self._connection = _SharedTokenConnection(
            server_url=server_url.rstrip("/") + "/",
            realm_name=realm,
            client_id=client_id,
            secret_source=secret_source,
            verify=verify_tls,
            timeout=request_timeout_seconds,
            max_retries=0,
            pool_maxsize=max(pool_size, 1),
        )

    def ensure_token(self, deadline: Deadline) -> None:
        with self._connection.request_timeout(deadline.request_timeout(self._request_timeout_seconds)):
            self._connection.ensure_token()

    def create_user(self, user: UserRepresentation, deadline: Deadline) -> CreateResult:
        response = self._send(deadline, "POST", self._users_path, data=json.dumps(user))
        if response.status_code == HTTP_CREATED:
            return Created(user_id=response.headers.get("Location", "").rstrip("/").rsplit("/", 1)[-1])
        if response.status_code == HTTP_CONFLICT:
            return AlreadyExists(message=_error_message(response))
        if response.status_code == HTTP_BAD_REQUEST:
            return Rejected(status=response.status_code, message=_error_message(response))
        raise _unavailable(response)

    def find_users(self, *, username: str, email: str, deadline: Deadline) -> list[KeycloakUser]:
        """Users whose username or email is exactly the username or the email given.

        Both ways round: a realm that logs in by email also refuses an email that is someone
        else's username, and that user must be found to call the 409 a conflict.
        """
        found: dict[str, KeycloakUser] = {}
        queries = [{"username": username, "exact": "true"}, {"email": email, "exact": "true"}]
        if email != username:
            queries.append({"username": email, "exact": "true"})
        if "@" in username and username != email:
            queries.append({"email": username, "exact": "true"})
        for query in queries:
            response = self._send(deadline, "GET", self._users_path, **query)
            if response.status_code != HTTP_OK:
                raise _unavailable(response)
            for item in response.json():
                user = KeycloakUser(
                    id=item["id"],
                    username=item.get("username", ""),
                    email=item.get("email"),
                    attributes=item.get("attributes") or {},
                )
                found[user.id] = user
        return list(found.values())

    def group_exists(self, path: str, deadline: Deadline) -> bool:
        response = self._send(deadline, "GET", f"{self._realm_path}/group-by-path/{quote(path.lstrip('/'))}")
        if response.status_code == HTTP_OK:
            return True
        if response.status_code == HTTP_NOT_FOUND:
            return False
        raise _unavailable(response)

    def _send(
        self, deadline: Deadline, method: str, path: str, data: str | None = None, **params: Any
    ) -> requests.Response:
        with self._connection.request_timeout(deadline.request_timeout(self._request_timeout_seconds)):
            return self._connection.send(method, path, data, **params)


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        for key in ("errorMessage", "error_description", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                field_name = body.get("field")
                return f"{field_name}: {value}" if isinstance(field_name, str) else value
    return f"HTTP {response.status_code}"


def _unavailable(response: requests.Response) -> KeycloakUnavailable:
    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
    return KeycloakUnavailable(
        f"Keycloak answered {response.status_code}: {_error_message(response)}",
        status=response.status_code,
        retry_after=retry_after,
    )


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: too rare from Keycloak to be worth parsing


def _describe_transport(error: KeycloakConnectionError) -> str:
    cause = error.__cause__
    if isinstance(cause, requests.Timeout):
        return "request timed out (outcome unknown)"
    if isinstance(cause, requests.ConnectionError):
        return "connection failed"
    return "transport error"
