"""Which of the allowlisted groups the realm really has, cached per execution environment.

Keycloak answers a user creation that names a group it lacks with a bare 500, exactly like a
failing server. So groups are checked before the create: a message asking for a missing group
is a permanent failure of its own, not a retry that stalls everyone else. Answers are cached
for `ttl_seconds`, so a group created (or deleted) later is noticed within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from registrar.domain.deadline import Deadline

GroupLookup = Callable[[str, Deadline], bool]
"""Whether the realm has the group at this path; raises when Keycloak cannot say."""


@dataclass
class GroupCatalog:
    ttl_seconds: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _known: dict[str, tuple[bool, float]] = field(default_factory=dict)
    _path_locks: dict[str, threading.Lock] = field(default_factory=dict)
    _unreported: list[str] = field(default_factory=list)
    _reported: set[str] = field(default_factory=set)
    _primed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def missing(self, paths: Iterable[str], lookup: GroupLookup, deadline: Deadline) -> list[str]:
        """The paths the realm does not have, asking Keycloak only for those not known or known too long."""
        return [path for path in paths if not self._exists(path, lookup, deadline)]

    def prime(self, paths: Iterable[str], lookup: GroupLookup, deadline: Deadline) -> None:
        """Look every allowlisted group up once per environment: a missing one is reported before it is asked for."""
        with self._lock:
            if self._primed:
                return
            self._primed = True
        for path in paths:
            self._exists(path, lookup, deadline)

    def forget(self, paths: Iterable[str]) -> None:
        """Drop cached answers (Keycloak refused a create naming these groups: one may be gone)."""
        with self._lock:
            for path in paths:
                self._known.pop(path, None)

    def take_newly_missing(self) -> list[str]:
        """Missing groups not reported before: each is reported once per environment."""
        with self._lock:
            newly, self._unreported = self._unreported, []
            return newly

    def _cached(self, path: str) -> bool | None:
        entry = self._known.get(path)
        if entry is None or self.clock() - entry[1] >= self.ttl_seconds:
            return None
        return entry[0]

    def _exists(self, path: str, lookup: GroupLookup, deadline: Deadline) -> bool:
        with self._lock:
            cached = self._cached(path)
            if cached is not None:
                return cached
            path_lock = self._path_locks.setdefault(path, threading.Lock())
        # One lookup per path at a time: ten workers on a cold cache ask once.
        with path_lock:
            with self._lock:
                cached = self._cached(path)
            if cached is not None:
                return cached
            exists = lookup(path, deadline)
            with self._lock:
                self._known[path] = (exists, self.clock())
                if not exists and path not in self._reported:
                    self._reported.add(path)
                    self._unreported.append(path)
                elif exists:
                    self._reported.discard(path)
            return exists
