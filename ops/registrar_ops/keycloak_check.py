"""Checks a realm against what the function needs, with the function's own settings and credentials.

Each finding is one line that says what is wrong and what to do. An error is something the
function would fail on (or silently lose data over); a warning is something it survives.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from keycloak import KeycloakAdmin, KeycloakOpenID, KeycloakOpenIDConnection
from keycloak.exceptions import KeycloakAuthenticationError, KeycloakConnectionError, KeycloakError

from registrar.adapters.ca_bundle import tls_verify
from registrar.adapters.keycloak import parse_user_profile
from registrar.adapters.secrets import secret_source
from registrar.config import ConfigurationError, Settings
from registrar.domain.user_profile import attributes_at_risk
from registrar_ops.keycloak_admin import AdminLogin, connect_admin, token_claims
from registrar_ops.keycloak_setup import REALM_MANAGEMENT, REQUIRED_ROLES, admin_only, declared_attribute, group_exists

HTTP_FORBIDDEN = 403
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
# Roles that let a leaked secret do far more than create users.
_POWERFUL = frozenset({"realm-admin", "manage-realm", "manage-clients", "manage-authorization", "impersonation"})


class Severity(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    text: str

    def line(self) -> str:
        return f"{self.severity.upper():7} {self.text}"


def failed(findings: list[Finding]) -> bool:
    return any(finding.severity is Severity.ERROR for finding in findings)


def check_deployment(settings: Settings, admin_login: AdminLogin | None = None) -> list[Finding]:
    """`admin_login` (optional) reads the required actions as an administrator, where Keycloak
    refuses them to the function's own roles (recent versions let query-users read them).

    The administrator connects with the function's own trust (its KEYCLOAK_CA_BUNDLE), so a
    Keycloak behind a private CA is checked as the function will reach it.
    """
    findings = _tls_findings(settings)
    try:
        verify = tls_verify(verify_tls=settings.verify_tls, ca_bundle=settings.ca_bundle)
    except ConfigurationError as error:
        return [*findings, Finding(Severity.ERROR, f"{error}: the function would fail at cold start")]
    realm_admin = connect_admin(dataclasses.replace(admin_login, verify=verify)) if admin_login else None
    server_url = str(settings.keycloak_url).rstrip("/") + "/"
    secret = secret_source(
        secret_arn=settings.client_secret_arn, plain_secret=settings.client_secret, max_age_seconds=0
    )(False)
    openid = KeycloakOpenID(
        server_url=server_url,
        realm_name=settings.realm,
        client_id=settings.client_id,
        client_secret_key=secret,
        verify=verify,
        timeout=int(max(settings.request_timeout_seconds, 1)),
    )
    try:
        token = openid.token(grant_type="client_credentials")
    except KeycloakAuthenticationError:
        return [
            *findings,
            Finding(
                Severity.ERROR,
                f"Keycloak refused the credentials of client {settings.client_id} in realm {settings.realm}: "
                "run setup-keycloak, or point KEYCLOAK_CLIENT_SECRET_ARN at the secret it wrote",
            ),
        ]
    except KeycloakConnectionError as error:
        return [
            *findings,
            Finding(
                Severity.ERROR,
                f"cannot reach {server_url}: {_first_line(error)}; check KEYCLOAK_URL, the network and the CA",
            ),
        ]
    except KeycloakError as error:
        return [*findings, Finding(Severity.ERROR, f"no token for client {settings.client_id}: {_first_line(error)}")]
    findings.append(Finding(Severity.OK, f"client {settings.client_id} gets a token from realm {settings.realm}"))
    findings += _role_findings(token_claims(token["access_token"]))
    function = KeycloakAdmin(
        connection=KeycloakOpenIDConnection(
            server_url=server_url,
            realm_name=settings.realm,
            client_id=settings.client_id,
            client_secret_key=secret,
            verify=verify,
            token=token,  # the one just fetched: no second token request
        )
    )
    findings += _profile_findings(function, settings)
    findings += _group_findings(function, settings)
    findings += _required_action_findings(realm_admin or function, settings, admin_given=realm_admin is not None)
    return findings


def _tls_findings(settings: Settings) -> list[Finding]:
    url = settings.keycloak_url
    if url.scheme == "http" and (url.host or "") not in _LOOPBACK:
        return [
            Finding(
                Severity.ERROR,
                f"KEYCLOAK_URL uses http to {url.host}: the secret and users cross the network in clear; use https",
            )
        ]
    if not settings.verify_tls:
        return [Finding(Severity.WARNING, "KEYCLOAK_VERIFY_TLS=false: only for development; remove it elsewhere")]
    trusted = f"the CA bundle {settings.ca_bundle}" if settings.ca_bundle else "the public CAs"
    return [Finding(Severity.OK, f"TLS: {url.scheme} with certificate verification against {trusted}")]


def _role_findings(claims: dict[str, Any]) -> list[Finding]:
    held = set(claims.get("resource_access", {}).get(REALM_MANAGEMENT, {}).get("roles", []))
    findings = [
        Finding(
            Severity.ERROR,
            f"the service account lacks {REALM_MANAGEMENT} role {role}: grant it (setup-keycloak does)",
        )
        for role in sorted(REQUIRED_ROLES - held)
    ]
    for role in sorted(held - REQUIRED_ROLES):
        why = "it can administer the realm" if role in _POWERFUL else "the function never uses it"
        findings.append(
            Finding(
                Severity.WARNING,
                f"the service account holds {REALM_MANAGEMENT} role {role} ({why}): remove it (setup-keycloak does)",
            )
        )
    if not findings:
        findings.append(Finding(Severity.OK, f"service account roles: exactly {', '.join(sorted(REQUIRED_ROLES))}"))
    return findings


def _profile_findings(function: KeycloakAdmin, settings: Settings) -> list[Finding]:
    name = settings.policy.registration_id_attribute
    try:
        profile = function.get_realm_users_profile()
    except KeycloakError as error:
        return [Finding(Severity.ERROR, f"cannot read the realm's user profile: {_first_line(error)}")]
    at_risk = attributes_at_risk(parse_user_profile(profile), settings.policy.allowed_attributes - {name})
    findings = [
        Finding(
            Severity.WARNING,
            f"the user profile does not declare {attribute} (ALLOWED_ATTRIBUTES): Keycloak creates users "
            "without it; declare it (setup-keycloak --attributes does)",
        )
        for attribute in at_risk
    ]
    declared = declared_attribute(profile, name)
    if declared is None:
        finding = Finding(
            Severity.ERROR,
            f"the user profile does not declare {name}: Keycloak drops it, so redelivered messages are "
            "not recognised; declare it (setup-keycloak does)",
        )
    elif not admin_only(declared):
        finding = Finding(
            Severity.WARNING, f"user-profile attribute {name} is visible to or editable by users: make it admin-only"
        )
    else:
        finding = Finding(Severity.OK, f"user profile declares {name}, admin-only")
    return [finding, *findings]


def _group_findings(function: KeycloakAdmin, settings: Settings) -> list[Finding]:
    findings = []
    for path in sorted(settings.policy.allowed_groups):
        try:
            exists = group_exists(function, path)
        except KeycloakError as error:
            findings.append(Finding(Severity.ERROR, f"cannot look group {path} up: {_first_line(error)}"))
            continue
        if exists:
            findings.append(Finding(Severity.OK, f"group {path} exists"))
        else:
            findings.append(
                Finding(
                    Severity.ERROR,
                    f"allowlisted group {path} does not exist: create it (setup-keycloak --groups) "
                    "or remove it from ALLOWED_GROUPS",
                )
            )
    return findings


def _required_action_findings(reader: KeycloakAdmin, settings: Settings, *, admin_given: bool) -> list[Finding]:
    wanted = sorted(settings.policy.required_actions)
    if not wanted:
        return []
    try:
        actions = {action["alias"]: action for action in reader.get_required_actions()}
    except KeycloakError as error:
        if error.response_code == HTTP_FORBIDDEN and not admin_given:
            return [
                Finding(
                    Severity.WARNING,
                    "Keycloak refused the function's roles the list of required actions (it allows "
                    "query-users or view-realm): rerun check with --admin-user or KEYCLOAK_ADMIN_TOKEN to check them",
                )
            ]
        return [Finding(Severity.ERROR, f"cannot list required actions: {_first_line(error)}")]
    findings = []
    for alias in wanted:
        action = actions.get(alias)
        if action is None:
            findings.append(
                Finding(
                    Severity.ERROR,
                    f"required action {alias} does not exist in the realm: register it or remove it "
                    "from ALLOWED_REQUIRED_ACTIONS",
                )
            )
        elif not action.get("enabled", False):
            findings.append(
                Finding(
                    Severity.ERROR,
                    f"required action {alias} is disabled: enable it in Authentication > Required actions",
                )
            )
        else:
            findings.append(Finding(Severity.OK, f"required action {alias} exists and is enabled"))
    return findings


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]
