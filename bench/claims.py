"""The claims the benchmarks check, each declared once: its bound renders its own text and checks itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["PASS", "FAIL", "info"]
PASS: Status = "PASS"
FAIL: Status = "FAIL"
INFO: Status = "info"


@dataclass(frozen=True)
class Target:
    """A bound on a figure: `>= 0.9` or `<= 25`. The same number is shown and checked."""

    bound: float
    at_least: bool

    @property
    def text(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.bound:g}"

    def check(self, value: float | None) -> Status:
        if value is None:
            return FAIL
        held = value >= self.bound if self.at_least else value <= self.bound
        return PASS if held else FAIL


def at_least(bound: float) -> Target:
    return Target(bound, at_least=True)


def at_most(bound: float) -> Target:
    return Target(bound, at_least=False)


@dataclass(frozen=True)
class Claim:
    """What the project claims, in words (one README row per claim and group), and its target."""

    title: str
    target: Target


OURS_VS_LIMIT = Claim("ours / limit, the same requests in flight", at_least(0.9))
SPEEDUP_OVER_NAIVE = Claim("speedup per batch of 10 over the naive BatchProcessor", at_least(5.0))
REQUESTS_PER_USER = Claim("Keycloak requests per new user, tokens included", at_most(1.02))
INIT_VS_NAIVE = Claim("handler import / naive Powertools + python-keycloak + pydantic import", at_most(0.6))
PACKAGE_UNPACKED_MB = Claim("`sam build` package, unpacked (MB)", at_most(25.0))
PEAK_RSS_MB = Claim("peak RSS after a batch of 10 (MB)", at_most(128.0))
STACK_VS_CEILING = Claim("the whole local stack, users/s / Keycloak's ceiling, largest run", at_least(0.8))
RECOVERY_USERS_LOST = Claim("a Keycloak outage under load: users lost", at_most(0))
RECOVERY_DLQ_COPIES = Claim("a Keycloak outage under load: copies in the DLQ", at_most(0))
RECOVERY_DUPLICATES = Claim("a Keycloak outage under load: duplicate users", at_most(0))
LONG_OUTAGE_DLQ_COPIES = Claim(
    "Keycloak down 1 h and 6 h less the breaker's cooldown, modelled at template defaults: copies in the DLQ",
    at_most(0),
)

ALL: tuple[Claim, ...] = (
    OURS_VS_LIMIT,
    SPEEDUP_OVER_NAIVE,
    REQUESTS_PER_USER,
    INIT_VS_NAIVE,
    PACKAGE_UNPACKED_MB,
    PEAK_RSS_MB,
    STACK_VS_CEILING,
    RECOVERY_USERS_LOST,
    RECOVERY_DLQ_COPIES,
    RECOVERY_DUPLICATES,
    LONG_OUTAGE_DLQ_COPIES,
)
