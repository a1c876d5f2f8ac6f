"""The realm's user profile, read once per environment: attributes Keycloak would drop are reported once."""

from __future__ import annotations

from typing import Any

import pytest

from registrar.domain.deadline import Deadline
from registrar.domain.directory import KeycloakUnavailable, UserProfile
from registrar.domain.user_profile import attributes_at_risk
from registrar.processor import process_event
from tests.kit.directory import MemoryDirectory
from tests.kit.events import body, failures, sqs_event
from tests.kit.logs import LogCapture

PROFILE_WARNING = "the realm's user profile does not declare attributes the function sends"


def profile_warnings(logs: LogCapture) -> list[dict[str, Any]]:
    return [line for line in logs.warnings() if line["message"].startswith(PROFILE_WARNING)]


@pytest.mark.parametrize(
    ("policy", "at_risk"),
    [
        (None, ["registrationId"]),
        ("ADMIN_VIEW", ["registrationId"]),  # kept before 26.5, dropped from 26.5 on
        ("ADMIN_EDIT", []),
        ("ENABLED", []),
    ],
)
def test_undeclared_attributes_are_at_risk_unless_the_policy_keeps_them_on_every_version(policy, at_risk):
    profile = UserProfile(declared=frozenset({"signupSource"}), unmanaged_attribute_policy=policy)
    assert attributes_at_risk(profile, ["signupSource", "registrationId"]) == at_risk


def test_an_undeclared_registration_id_is_reported_once_per_environment(
    runtime, directory: MemoryDirectory, function_logs: LogCapture
):
    directory.declared_attributes = {"signupSource"}
    for batch in range(3):
        response = process_event(sqs_event(body(email=f"u{batch}@example.com")), Deadline.after(30), runtime)
        assert failures(response) == []

    (warning,) = profile_warnings(function_logs)
    assert warning["attributes"] == ["registrationId"]
    assert warning["unmanaged_attribute_policy"] == "off"
    assert warning["realm"] == "registrar"
    assert directory.profile_calls == 1
    assert len(directory.users) == 3  # a warning, not a refusal


def test_a_profile_that_declares_every_attribute_gives_no_warning(
    runtime, directory: MemoryDirectory, function_logs: LogCapture
):
    process_event(sqs_event(body(email="u@example.com")), Deadline.after(30), runtime)
    assert directory.profile_calls == 1
    assert profile_warnings(function_logs) == []


def test_a_profile_unreadable_while_keycloak_fails_is_read_again_next_invocation(
    runtime, directory: MemoryDirectory, function_logs: LogCapture
):
    directory.declared_attributes = {"signupSource"}
    directory.profile_error = KeycloakUnavailable("Keycloak answered 503: unavailable", status=503)
    response = process_event(sqs_event(body(email="a@example.com")), Deadline.after(30), runtime)
    assert failures(response) == []
    assert profile_warnings(function_logs) == []

    directory.profile_error = None
    process_event(sqs_event(body(email="b@example.com")), Deadline.after(30), runtime)
    assert directory.profile_calls == 2
    assert len(profile_warnings(function_logs)) == 1


def test_a_profile_the_service_account_may_not_read_is_not_asked_for_again(
    runtime, directory: MemoryDirectory, function_logs: LogCapture
):
    directory.profile_error = KeycloakUnavailable("Keycloak answered 403: forbidden", status=403)
    for batch in range(2):
        response = process_event(sqs_event(body(email=f"u{batch}@example.com")), Deadline.after(30), runtime)
        assert failures(response) == []
    assert directory.profile_calls == 1
    assert profile_warnings(function_logs) == []


@pytest.mark.parametrize(("declared", "outcome_again"), [(True, "already_registered"), (False, "conflict")])
def test_the_registration_id_only_recognises_a_user_when_the_profile_keeps_it(
    runtime, directory: MemoryDirectory, function_logs: LogCapture, declared: bool, outcome_again: str
):
    # Keycloak drops an undeclared attribute silently: the user then carries no registration id,
    # and a redelivery that changed the username meets the email's 409 as someone else's.
    directory.declared_attributes = {"signupSource", "registrationId"} if declared else {"signupSource"}
    first = body(email="ada@example.com", username="ada", registrationId="reg-1")
    again = body(email="ada@example.com", username="ada-lovelace", registrationId="reg-1")

    process_event(sqs_event(first), Deadline.after(30), runtime)
    assert ("registrationId" in directory.by_email["ada@example.com"].attributes) is declared
    process_event(sqs_event(again, prefix="again"), Deadline.after(30), runtime)

    assert function_logs.outcomes() == ["created", outcome_again]
    assert len(directory.users) == 1
