"""The adapter around python-keycloak: one token for all workers, bounded requests, typed answers.

One python-keycloak connection is shared by every worker thread of an execution environment.
It has no locks of its own, so the token is fetched and renewed here under one lock (ten
threads on a cold token make one token request, not ten), and each request's timeout is a
thread-local value cut to the invocation's remaining time. The library's own retry is off:
it re-sends POSTs after a read timeout, which hides unknown outcomes from the caller.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests
from keycloak import KeycloakOpenID
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
    UserProfile,
    UserRepresentation,
)

HTTP_OK = 200
HTTP_CREATED = 201
HTTP_BAD_REQUEST = 400
HTTP_NOT_FOUND = 404
HTTP_CONFLICT = 409


class _SharedTokenConnection(ConnectionManager):
    """A python-keycloak ConnectionManager that many threads share, with one token for all of them.

    The token comes from a KeycloakOpenID (python-keycloak's token client) under a lock, and its
    expiry and Authorization header are kept here. KeycloakOpenIDConnection does that bookkeeping
    too, but its raw_get/raw_post refresh the token on their own, without a lock: ten threads on
    an expired token would make ten token requests.
    """

    # Renew a little before Keycloak's expiry, to allow for clock skew (python-keycloak does the same).
    TOKEN_LIFETIME_FRACTION = 0.9

    def __init__(
        self,
        *,
        server_url: str,
        realm_name: str,
        client_id: str,
        secret_source: SecretSource,
        verify: bool | str,
        timeout: float,
        pool_maxsize: int,
    ) -> None:
        self._thread = threading.local()
        self._default_timeout: float | None = timeout
        self._token_lock = threading.Lock()
        self._secret_source = secret_source
        self._generation = 0
        self.token: dict[str, Any] | None = None
        self.expires_at: datetime | None = None
        # max_retries=0: python-keycloak's adapters otherwise re-send POSTs after a read timeout.
        super().__init__(
            base_url=server_url,
            headers={"Content-Type": "application/json"},
            timeout=timeout,  # type: ignore[arg-type]  # requests takes float seconds too
            verify=verify,
            max_retries=0,
            pool_maxsize=pool_maxsize,
        )
        self._openid = KeycloakOpenID(
            server_url=server_url,
            realm_name=realm_name,
            client_id=client_id,
            client_secret_key=secret_source(False),
            verify=verify,
            max_retries=0,
        )

    # ConnectionManager has no per-request timeout: raw_get/raw_post read `self.timeout` for each
    # request. A thread-local value behind that public property gives each worker its own,
    # cut to its invocation's deadline, without a lock. The setter is the base class's __init__.
    @property  # type: ignore[override]  # float seconds: python-keycloak types it int, requests takes float
    def timeout(self) -> float | None:
        return getattr(self._thread, "timeout", None) or self._default_timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._default_timeout = value

    @contextmanager
    def request_timeout(self, seconds: float) -> Iterator[None]:
        self._thread.timeout = seconds
        try:
            yield
        finally:
            self._thread.timeout = None

    def ensure_token(self) -> int:
        """Fetch a token if there is none or it is near expiry; returns its generation."""
        with self._token_lock:
            if self.token is None or self.expires_at is None or datetime.now(tz=UTC) >= self.expires_at:
                self._fetch_token()
            return self._generation

    def renew_token(self, seen_generation: int) -> None:
        """Renew after a 401, unless another thread already did since `seen_generation`."""
        with self._token_lock:
            if self._generation == seen_generation:
                self._fetch_token()

    def _request_token(self) -> None:
        # Under the token lock: the token client's timeout is the calling request's, cut to the deadline.
        self._openid.connection.timeout = self.timeout  # type: ignore[assignment]
        token = self._openid.token(username=None, password=None, grant_type="client_credentials")
        lifetime = float(token.get("expires_in", 0)) * self.TOKEN_LIFETIME_FRACTION
        self.token = token
        self.expires_at = datetime.now(tz=UTC) + timedelta(seconds=lifetime)
        self.add_param_headers("Authorization", f"Bearer {token['access_token']}")

    def _fetch_token(self) -> None:
        try:
            self._request_token()
        except KeycloakAuthenticationError:
            # The secret may have been rotated: read it again, past any cache, and try once more.
            self._openid.client_secret_key = self._secret_source(True)
            try:
                self._request_token()
            except KeycloakError as error:
                raise _token_unavailable(error) from error
        except KeycloakError as error:
            raise _token_unavailable(error) from error
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
                return self.raw_post(path, data=data or "", **params)
            return self.raw_get(path, **params)
        except KeycloakConnectionError as error:
            raise _transport_unavailable(error) from error


class KeycloakGateway:
    """Creates and looks up users of one realm."""

    def __init__(
        self,
        *,
        server_url: str,
        realm: str,
        client_id: str,
        secret_source: SecretSource,
        verify: bool | str,
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
            verify=verify,
            timeout=request_timeout_seconds,
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

    def user_profile(self, deadline: Deadline) -> UserProfile:
        response = self._send(deadline, "GET", f"{self._realm_path}/users/profile")
        if response.status_code != HTTP_OK:
            raise _unavailable(response)
        return parse_user_profile(response.json())

    def _send(
        self, deadline: Deadline, method: str, path: str, data: str | None = None, **params: Any
    ) -> requests.Response:
        with self._connection.request_timeout(deadline.request_timeout(self._request_timeout_seconds)):
            return self._connection.send(method, path, data, **params)


def parse_user_profile(config: dict[str, Any]) -> UserProfile:
    """Keycloak's UPConfig (GET .../users/profile), as far as keeping attributes goes."""
    attributes = config.get("attributes") or []
    return UserProfile(
        declared=frozenset(item["name"] for item in attributes if isinstance(item, dict) and "name" in item),
        unmanaged_attribute_policy=config.get("unmanagedAttributePolicy"),
    )


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


def _token_unavailable(error: KeycloakError) -> KeycloakUnavailable:
    if isinstance(error, KeycloakAuthenticationError):
        return KeycloakUnavailable("token request refused (401): check the client secret", status=401)
    if isinstance(error, KeycloakConnectionError):
        return _transport_unavailable(error, "token request failed: ")
    return KeycloakUnavailable(f"token request failed ({error.response_code})", status=error.response_code)


def _transport_unavailable(error: KeycloakConnectionError, prefix: str = "") -> KeycloakUnavailable:
    return KeycloakUnavailable(
        prefix + _describe_transport(error), tls_failure=isinstance(error.__cause__, requests.exceptions.SSLError)
    )


def _describe_transport(error: KeycloakConnectionError) -> str:
    cause = error.__cause__
    if isinstance(cause, requests.exceptions.SSLError):  # before ConnectionError: it is one
        return f"TLS failed ({tls_reason(cause)}): is KEYCLOAK_CA_BUNDLE the CA of Keycloak's certificate?"
    if isinstance(cause, requests.Timeout):
        return "request timed out (outcome unknown)"
    if isinstance(cause, requests.ConnectionError):
        return "connection failed"
    return "transport error"


def tls_reason(error: BaseException) -> str:
    """What the TLS library said, from deep in the chain of wrappers; never the URL, whose query may name a user."""
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLCertVerificationError) and item.verify_message:
            return f"certificate verify failed: {item.verify_message}"
        if isinstance(item, ssl.SSLError) and item.reason:
            return str(item.reason)
        # requests wraps urllib3's MaxRetryError (its `reason`), which wraps urllib3's SSLError (its args).
        linked = (*item.args, getattr(item, "reason", None), item.__cause__, item.__context__)
        pending.extend(link for link in linked if isinstance(link, BaseException))
    return "handshake failed"
