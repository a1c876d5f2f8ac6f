"""Required actions as Keycloak names them.

Keycloak matches a user's required actions by their exact alias and silently drops the ones it
does not know, so `verify_email` in an allowlist would create users who are never asked to
verify anything. The allowlist is compared with Keycloak's built-in aliases once, at cold start:
an alias that differs from a built-in one only in case is sent as Keycloak spells it, and one
that matches none is allowed (realms may add their own required actions) but reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# The built-in aliases of the Keycloak versions the project supports (24 to 26.7), from
# UserModel.RequiredAction and the RequiredActionFactory implementations in Keycloak's sources.
BUILT_IN_REQUIRED_ACTIONS: frozenset[str] = frozenset(
    {
        "VERIFY_EMAIL",
        "UPDATE_PROFILE",
        "CONFIGURE_TOTP",
        "UPDATE_PASSWORD",
        "TERMS_AND_CONDITIONS",
        "VERIFY_PROFILE",
        "UPDATE_EMAIL",
        "CONFIGURE_RECOVERY_AUTHN_CODES",
        "delete_account",
        "delete_credential",
        "update_user_locale",
        "webauthn-register",
        "webauthn-register-passwordless",
        "idp_link",
    }
)
_BY_FOLDED = {alias.casefold(): alias for alias in BUILT_IN_REQUIRED_ACTIONS}


def canonical_required_action(alias: str) -> str:
    """The built-in alias `alias` means, in Keycloak's spelling; a custom alias as it is."""
    return _BY_FOLDED.get(alias.casefold(), alias)


@dataclass(frozen=True)
class AliasFinding:
    alias: str
    canonical: str

    @property
    def recased(self) -> bool:
        return self.alias != self.canonical

    @property
    def custom(self) -> bool:
        return self.canonical not in BUILT_IN_REQUIRED_ACTIONS


def review_allowlist(aliases: Iterable[str]) -> list[AliasFinding]:
    """The allowlisted aliases that are not exactly a built-in one: recased, or custom."""
    findings = [AliasFinding(alias, canonical_required_action(alias)) for alias in sorted(aliases)]
    return [finding for finding in findings if finding.recased or finding.custom]
