"""The long-outage model replays the function's own policy: what it says about the template's defaults."""

from __future__ import annotations

from bench.outage_model import outages, simulate, template_settings


def test_the_defaults_survive_an_outage_of_the_retry_window_less_the_breaker_cooldown() -> None:
    settings = template_settings()
    _, survivable, _ = outages(settings)

    outage = simulate(survivable, settings, batch_size=10)

    assert outage.messages > 10_000  # six hours at 50,000 a day
    assert (outage.created, outage.in_dlq) == (outage.messages, 0)
    # The queue's own redrive, which keeps no reason, never comes into play.
    assert settings.max_receive_count is not None
    assert outage.most_receives < settings.max_receive_count
    # Back within the longest backoff, plus the cooldown of a breaker still open when Keycloak returns.
    assert outage.delay_max_seconds is not None
    assert outage.delay_max_seconds <= settings.visibility_backoff_max_seconds + settings.circuit_cooldown_seconds


def test_an_outage_past_the_window_sends_only_its_oldest_messages_to_the_dlq() -> None:
    settings = template_settings(RETRY_WINDOW_SECONDS="1800")

    outage = simulate(3600, settings, batch_size=10, per_day=8_640)  # one message every 10 s

    assert outage.messages == 360
    # Sent in the first 900 s (the outage less the window less the longest backoff): a failing
    # receive after its window is certain. Sent after 1830 s (the outage plus the cooldown less
    # the window): impossible, so created.
    assert 90 <= outage.in_dlq <= 183


def test_messages_share_invocations_when_they_come_back_together() -> None:
    settings = template_settings()

    outage = simulate(3600, settings, batch_size=10)

    assert outage.messages < outage.invocations < outage.receives
