"""Section 12, long outages modelled: the function's own retry policy over hours, with no servers.

The recovery part (section 10) runs a scaled-down outage on the real stack, in minutes. This
replays the policy objects the function builds from template.yaml's defaults (the visibility
backoff, the retry window with maxReceiveCount, an execution environment's circuit breaker)
against a simulated clock, for outages of hours at the product's load of 50,000 a day.

What it assumes:
- messages arrive evenly through the outage and are received as soon as they are visible;
- one execution environment's breaker sees every record: the worst case, since an open
  breaker defers everything it sees, even after Keycloak is back;
- from the moment it is back, Keycloak creates every user it is asked for (50,000 a day is
  0.6 a second, far below its ceiling);
- an invocation takes the receives that fall in the same second, up to the batch size.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from collections import Counter

from bench.records import ModelledOutage
from registrar.config import Settings
from registrar.domain.resilience import CircuitBreaker, Verdict
from registrar_local.stack_settings import read_stack_settings, template_function_environment

PER_DAY = 50_000
HOUR = 3600.0


def template_settings(**overrides: str) -> Settings:
    """The function's settings with every template parameter at its default, but for `overrides`
    (environment variables, RETRY_WINDOW_SECONDS="1800" say)."""
    environment = template_function_environment()
    # Settings insists on a client secret; the model never calls Keycloak.
    return Settings.from_environment({**environment, "KEYCLOAK_CLIENT_SECRET": "not-used-by-the-model", **overrides})


def outages(settings: Settings) -> list[float]:
    """An hour; the longest outage the defaults are built to survive (the retry window less the
    breaker's cooldown, which can defer a record for that long after Keycloak is back); an hour
    beyond the window, to show what a longer one does."""
    survivable = settings.retry_window_seconds - settings.circuit_cooldown_seconds
    return [HOUR, survivable, settings.retry_window_seconds + HOUR]


def simulate(
    outage_seconds: float, settings: Settings, batch_size: int, per_day: int = PER_DAY, seed: int = 0
) -> ModelledOutage:
    """Messages sent while Keycloak is down, each received until it is created or sent to the DLQ."""
    rng = random.Random(seed)
    now = 0.0
    breaker = CircuitBreaker(
        failure_threshold=settings.circuit_failure_threshold,
        cooldown_seconds=settings.circuit_cooldown_seconds,
        clock=lambda: now,
    )
    interval = 86_400 / per_day
    sent_at = [index * interval for index in range(math.ceil(outage_seconds / interval))]
    visible = [(at, index, 1) for index, at in enumerate(sent_at)]  # (time, message, receive count)
    heapq.heapify(visible)
    per_second: Counter[int] = Counter()
    receives: Counter[int] = Counter()
    delays: list[float] = []
    in_dlq = 0
    while visible:
        now, message, receive_count = heapq.heappop(visible)
        receives[message] = receive_count
        per_second[int(now)] += 1
        admission = breaker.admit()
        if admission is not None:
            up = now >= outage_seconds
            breaker.settle(admission, str(message), Verdict.ANSWERED if up else Verdict.FAILED)
            if up:
                delays.append(now - outage_seconds)
                continue
        # Failed, or deferred by the open breaker: the same rule for both.
        if settings.retry_limits.exhausted(receive_count, sent_at[message], now):
            in_dlq += 1
            continue
        later = now + settings.backoff.seconds(receive_count, rng=rng.random)
        heapq.heappush(visible, (later, message, receive_count + 1))
    return ModelledOutage(
        outage_seconds=outage_seconds,
        per_day=per_day,
        messages=len(sent_at),
        created=len(delays),
        in_dlq=in_dlq,
        receives=sum(receives.values()),
        most_receives=max(receives.values(), default=0),
        invocations=sum(math.ceil(count / batch_size) for count in per_second.values()),
        delay_p50_seconds=statistics.median(delays) if delays else None,
        delay_max_seconds=max(delays, default=None),
        retry_window_seconds=settings.retry_window_seconds,
        backoff_base_seconds=settings.visibility_backoff_base_seconds,
        backoff_max_seconds=settings.visibility_backoff_max_seconds,
        circuit_cooldown_seconds=settings.circuit_cooldown_seconds,
        max_receive_count=settings.max_receive_count,
    )


def measure() -> list[ModelledOutage]:
    settings = template_settings()
    batch_size = read_stack_settings().batch_size
    return [simulate(outage, settings, batch_size) for outage in outages(settings)]
