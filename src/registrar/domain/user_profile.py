"""Whether the realm's user profile keeps the attributes the function sends.

Keycloak keeps a user attribute only when the realm's user profile declares it, or when the
profile's unmanagedAttributePolicy admits undeclared ones: ENABLED and ADMIN_EDIT on every
supported version, ADMIN_VIEW only before 26.5 (from 26.5 on, an undeclared attribute sent
through the Admin API under ADMIN_VIEW is dropped). Nothing says so at the create: the user is
created without it. A dropped registration-id attribute turns every redelivered create into a
`conflict`; a dropped allowlisted attribute is simply lost. So the profile is read once per
execution environment, and the attributes at risk are reported once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from registrar.domain.deadline import Deadline, DeadlineReached
from registrar.domain.directory import KeycloakUnavailable, UserProfile

KEEPS_UNDECLARED: frozenset[str] = frozenset({"ENABLED", "ADMIN_EDIT"})
"""The unmanaged-attribute policies under which every supported version keeps an undeclared attribute."""

ProfileReader = Callable[[Deadline], UserProfile]


def attributes_at_risk(profile: UserProfile, names: Iterable[str]) -> list[str]:
    """The names Keycloak may drop silently: undeclared, under a policy that does not keep them everywhere."""
    if profile.unmanaged_attribute_policy in KEEPS_UNDECLARED:
        return []
    return sorted(set(names) - profile.declared)


@dataclass(frozen=True)
class ProfileFinding:
    attributes: list[str]
    unmanaged_attribute_policy: str | None


@dataclass
class UserProfileReview:
    """Reads the realm's user profile once per environment and keeps what is at risk until reported."""

    names: frozenset[str]
    _done: bool = False
    _unreported: ProfileFinding | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, read: ProfileReader, deadline: Deadline) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        try:
            profile = read(deadline)
        except DeadlineReached:
            self._again()
            return
        except KeycloakUnavailable as error:
            # Keycloak down: look again next invocation. Refused (a role missing): not knowing is
            # not a finding, and asking every invocation would only add a request.
            if error.transient:
                self._again()
            return
        at_risk = attributes_at_risk(profile, self.names)
        if at_risk:
            with self._lock:
                self._unreported = ProfileFinding(at_risk, profile.unmanaged_attribute_policy)

    def take_unreported(self) -> ProfileFinding | None:
        with self._lock:
            finding, self._unreported = self._unreported, None
            return finding

    def _again(self) -> None:
        with self._lock:
            self._done = False
