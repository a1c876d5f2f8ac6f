"""An admin connection to Keycloak for the operator commands, from a token or a user's password.

Neither comes from the command line (where other users of the machine can read it): the
password from KEYCLOAK_ADMIN_PASSWORD, the token from KEYCLOAK_ADMIN_TOKEN.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from keycloak import KeycloakAdmin, KeycloakOpenIDConnection

PASSWORD_VARIABLE = "KEYCLOAK_ADMIN_PASSWORD"  # noqa: S105 - the variable's name, not a password
TOKEN_VARIABLE = "KEYCLOAK_ADMIN_TOKEN"  # noqa: S105 - the variable's name, not a token


class AdminCredentialsMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class AdminLogin:
    server_url: str
    realm: str
    username: str | None = None
    user_realm: str = "master"
    client_id: str = "admin-cli"
    verify: bool | str = True
    """True (the public CAs), the path of a PEM bundle of the CA to trust, or False (development only)."""


def connect_admin(login: AdminLogin) -> KeycloakAdmin:
    token = os.environ.get(TOKEN_VARIABLE, "")
    password = os.environ.get(PASSWORD_VARIABLE, "")
    server_url = login.server_url.rstrip("/") + "/"
    if token:
        connection = KeycloakOpenIDConnection(
            server_url=server_url,
            realm_name=login.realm,
            user_realm_name=login.user_realm,
            client_id=login.client_id,
            # python-keycloak schedules its refresh from expires_in, which a bare token lacks.
            token={"access_token": token, "expires_in": _seconds_left(token)},
            verify=login.verify,
        )
    elif login.username and password:
        connection = KeycloakOpenIDConnection(
            server_url=server_url,
            realm_name=login.realm,
            user_realm_name=login.user_realm,
            client_id=login.client_id,
            username=login.username,
            password=password,
            verify=login.verify,
        )
    else:
        raise AdminCredentialsMissing(f"set {TOKEN_VARIABLE}, or --admin-user and {PASSWORD_VARIABLE}")
    return KeycloakAdmin(connection=connection)


def token_claims(access_token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified: only for reading a token Keycloak just gave us."""
    payload = access_token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def _seconds_left(access_token: str) -> int:
    try:
        expires = int(token_claims(access_token)["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return 60  # not a JWT we can read: let Keycloak be the judge of it
    return max(expires - int(time.time()), 1)
