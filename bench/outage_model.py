"""Section 12, long outages modelled: the function's own retry policy over hours, with no servers.

The recovery part (section 10) runs a scaled-down outage on the real stack, in minutes. This
replays the policy objects the function builds from template.yaml's defaults (the visibility
backoff, the retry window with maxReceiveCount, an execution environment's circuit breaker)
against a simulated clock, for outages of hours at the product's load of 50,000 a day.

What it assumes:
- messages arrive evenly through the outage and are received as soon as they are visible;
- one execution environment sees every record, so its breaker defers everything while it is
  open, even after Keycloak is back; with more environments, each breaker sees fewer records;
- from the moment it is back, Keycloak creates every user it is asked for (50,000 a day is
  0.6 a second, far below its ceiling);
- an invocation takes the messages visible within the same second, up to the batch size, and
  its records run side by side: all ask the breaker before any has an answer, so a half-open
  breaker's probe defers the rest of its batch. The invocation takes no time of its own.
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
    receives: Counter[int] = Counter()
    delays: list[float] = []
    in_dlq = 0
    invocations = 0
    while visible:
        batch = _next_batch(visible, batch_size)
        now = batch[-1][0]  # the invocation starts once its batch is collected
        invocations += 1
        # The records of a batch run side by side: each asks the breaker before any has an answer,
        # so while a half-open breaker's probe is out, the rest of its batch is deferred.
        admitted = [(item, breaker.admit()) for item in batch]
        for (_, message, receive_count), admission in admitted:
            receives[message] = receive_count
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
        invocations=invocations,
        delay_p50_seconds=statistics.median(delays) if delays else None,
        delay_max_seconds=max(delays, default=None),
        retry_window_seconds=settings.retry_window_seconds,
        backoff_base_seconds=settings.visibility_backoff_base_seconds,
        backoff_max_seconds=settings.visibility_backoff_max_seconds,
        circuit_cooldown_seconds=settings.circuit_cooldown_seconds,
        max_receive_count=settings.max_receive_count,
    )


def _next_batch(visible: list[tuple[float, int, int]], batch_size: int) -> list[tuple[float, int, int]]:
    """What one poll receives: the next visible message and those visible within the same second."""
    batch = [heapq.heappop(visible)]
    second = math.floor(batch[0][0]) + 1
    while visible and len(batch) < batch_size and visible[0][0] < second:
        batch.append(heapq.heappop(visible))
    return batch


def measure() -> list[ModelledOutage]:
    settings = template_settings()
    batch_size = read_stack_settings().batch_size
    return [simulate(outage, settings, batch_size) for outage in outages(settings)]
