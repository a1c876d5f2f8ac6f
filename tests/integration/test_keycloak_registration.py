"""The function against a real Keycloak server (started by the test session)."""

from __future__ import annotations

import json
import time

import pytest
import requests

from registrar.domain.deadline import Deadline
from registrar.processor import process_event
from registrar_local.keycloak_server import REALM
from tests.kit.aws import drain
from tests.kit.events import body, failures, sqs_event

pytestmark = pytest.mark.keycloak


def new_users(tag: str, count: int = 10) -> list[str]:
    return [
        body(
            email=f"{tag}-{i}@Example.com",
            username=f"{tag}-user-{i}",
            firstName="Ada",
            lastName=f"Number {i}",
            groups=["/customers"] if i % 2 else ["/customers", "/newsletter"],
            attributes={"signupSource": ["web"]},
            requiredActions=["VERIFY_EMAIL"],
            registrationId=f"{tag}-reg-{i}",
        )
        for i in range(count)
    ]


def test_ten_new_users_become_exactly_ten_keycloak_users_with_their_fields(make_runtime, admin, tag):
    response = process_event(sqs_event(*new_users(tag)), Deadline.after(30, 2000), make_runtime())
    assert failures(response) == []

    users = admin.get_users({"search": tag, "briefRepresentation": False})
    assert len(users) == 10
    by_name = {user["username"]: user for user in users}
    for i in range(10):
        user = by_name[f"{tag}-user-{i}"]
        assert user["email"] == f"{tag}-{i}@example.com"
        assert user["lastName"] == f"Number {i}"
        assert user["enabled"] is True
        assert user["requiredActions"] == ["VERIFY_EMAIL"]
        assert user["attributes"]["signupSource"] == ["web"]
        assert user["attributes"]["registrationId"] == [f"{tag}-reg-{i}"]
        groups = sorted(group["path"] for group in admin.get_user_groups(user["id"]))
        assert groups == (["/customers"] if i % 2 else ["/customers", "/newsletter"])


def test_the_same_batch_again_is_ten_times_already_registered(make_runtime, admin, tag, sqs, dlq_url, function_logs):
    batch = sqs_event(*new_users(tag))
    runtime = make_runtime()
    assert failures(process_event(batch, Deadline.after(30, 2000), runtime)) == []
    assert function_logs.outcomes() == ["created"] * 10

    again = process_event(batch, Deadline.after(30, 2000), runtime)

    assert failures(again) == []
    assert function_logs.outcomes()[10:] == ["already_registered"] * 10
    assert len(admin.get_users({"search": tag})) == 10
    assert drain(sqs, dlq_url) == []


def test_same_username_with_another_email_is_a_conflict_in_the_dlq(make_runtime, admin, tag, sqs, dlq_url):
    runtime = make_runtime()
    first = body(email=f"{tag}@example.com", username=f"{tag}-taken")
    assert failures(process_event(sqs_event(first), Deadline.after(30, 2000), runtime)) == []

    other = body(email=f"{tag}-other@example.com", username=f"{tag}-taken")
    response = process_event(sqs_event(other), Deadline.after(30, 2000), runtime)

    assert failures(response) == []
    (letter,) = drain(sqs, dlq_url)
    attributes = letter["MessageAttributes"]
    assert attributes["outcome"]["StringValue"] == "conflict"
    assert "User exists with same username" in attributes["reason"]["StringValue"]
    assert attributes["httpStatus"]["StringValue"] == "409"
    assert json.loads(letter["Body"])["email"] == f"{tag}-other@example.com"
    (user,) = admin.get_users({"username": f"{tag}-taken", "exact": True})
    assert user["email"] == f"{tag}@example.com"


def test_a_username_keycloak_refuses_lands_in_the_dlq(make_runtime, admin, tag, sqs, dlq_url):
    # Passes our schema (no <>&"' or spaces) but breaks Keycloak's username rules.
    refused = body(email=f"{tag}@example.com", username=f"{tag}/slash")
    good = body(email=f"{tag}-ok@example.com")
    response = process_event(sqs_event(refused, good), Deadline.after(30, 2000), make_runtime())

    assert failures(response) == []
    (letter,) = drain(sqs, dlq_url)
    attributes = letter["MessageAttributes"]
    assert attributes["httpStatus"]["StringValue"] == "400"
    assert "username" in attributes["reason"]["StringValue"]
    assert admin.get_users({"search": tag}) != []
    assert admin.get_users({"username": f"{tag}/slash", "exact": True}) == []


def test_a_cold_batch_of_ten_makes_exactly_one_token_request(make_runtime, admin, tag):
    def client_logins() -> int:
        events = admin.connection.raw_get(
            "admin/realms/registrar/events", type="CLIENT_LOGIN", client="registrar", max=10000
        ).json()
        return len(events)

    before = client_logins()
    response = process_event(sqs_event(*new_users(tag)), Deadline.after(30, 2000), make_runtime())
    assert failures(response) == []
    assert client_logins() - before == 1


def test_an_allowlisted_group_the_realm_lacks_is_dead_lettered_without_a_create_and_others_go_on(
    make_runtime, admin, tag, sqs, dlq_url, function_logs
):
    runtime = make_runtime(ALLOWED_GROUPS="/customers,/not-in-this-realm")
    event = sqs_event(
        body(email=f"{tag}-lost@example.com", groups=["/not-in-this-realm"]),
        body(email=f"{tag}-fine@example.com", groups=["/customers"]),
    )
    response = process_event(event, Deadline.after(30, 2000), runtime)

    assert failures(response) == []
    (letter,) = drain(sqs, dlq_url)
    attributes = {name: value["StringValue"] for name, value in letter["MessageAttributes"].items()}
    assert attributes["outcome"] == "unknown_group"
    assert "/not-in-this-realm" in attributes["reason"]
    assert [user["email"] for user in admin.get_users({"search": tag})] == [f"{tag}-fine@example.com"]
    warned = [line for line in function_logs.warnings() if line.get("group") == "/not-in-this-realm"]
    assert len(warned) == 1


def test_a_required_action_written_in_another_case_reaches_the_user(make_runtime, admin, tag):
    runtime = make_runtime(ALLOWED_REQUIRED_ACTIONS="verify_email")
    event = sqs_event(body(email=f"{tag}@example.com", requiredActions=["verify_email"]))
    assert failures(process_event(event, Deadline.after(30, 2000), runtime)) == []
    (user,) = admin.get_users({"search": tag, "briefRepresentation": False})
    assert user["requiredActions"] == ["VERIFY_EMAIL"]


def test_an_attribute_the_user_profile_does_not_declare_is_reported_once(make_runtime, admin, tag, function_logs):
    """Keycloak 26.5 and later drop it without a word (see the compatibility probes); the function
    says so once, at its first invocation, on every version."""
    runtime = make_runtime(ALLOWED_ATTRIBUTES="signupSource,undeclaredNote")
    event = sqs_event(
        *(body(email=f"{tag}-{i}@example.com", attributes={"undeclaredNote": ["kept?"]}) for i in range(2))
    )
    assert failures(process_event(event, Deadline.after(30, 2000), runtime)) == []
    assert (
        failures(process_event(sqs_event(body(email=f"{tag}-2@example.com")), Deadline.after(30, 2000), runtime)) == []
    )

    warned = [line for line in function_logs.warnings() if "does not declare" in line["message"]]
    assert [(line["attributes"], line["unmanaged_attribute_policy"]) for line in warned] == [
        (["undeclaredNote"], "ADMIN_VIEW")
    ]
    assert len(admin.get_users({"search": tag})) == 3  # a warning, not a refusal


def test_the_local_realm_declares_every_attribute_the_function_sends(make_runtime, admin, tag, function_logs):
    # Keycloak keeps only declared attributes, so the stored user is the proof, whether or not the
    # function could read the profile to warn.
    event = sqs_event(
        body(
            email=f"{tag}@example.com",
            registrationId=f"{tag}-reg",
            attributes={"signupSource": ["web"], "marketingConsent": ["yes"]},
        )
    )
    assert failures(process_event(event, Deadline.after(30, 2000), make_runtime())) == []
    (user,) = admin.get_users({"search": tag, "briefRepresentation": False})
    assert {name: user["attributes"].get(name) for name in ("registrationId", "signupSource", "marketingConsent")} == {
        "registrationId": [f"{tag}-reg"],
        "signupSource": ["web"],
        "marketingConsent": ["yes"],
    }
    assert not [line for line in function_logs.warnings() if "does not declare" in line["message"]]


def _outcome_of(sqs, dlq_url) -> list[str]:
    return [message["MessageAttributes"]["outcome"]["StringValue"] for message in drain(sqs, dlq_url)]


def test_a_group_deleted_while_the_environment_is_warm_is_noticed_at_once(make_runtime, admin, tag, sqs, dlq_url):
    group_id = admin.create_group({"name": f"{tag}-g"})
    runtime = make_runtime(ALLOWED_GROUPS=f"/customers,/{tag}-g")
    first = sqs_event(body(email=f"{tag}-1@example.com", groups=[f"/{tag}-g"]))
    assert failures(process_event(first, Deadline.after(30, 2000), runtime)) == []
    admin.delete_group(group_id)  # the cached answer says it exists for 5 more minutes

    second = sqs_event(body(email=f"{tag}-2@example.com", groups=[f"/{tag}-g"]))
    assert failures(process_event(second, Deadline.after(30, 2000), runtime)) == []
    assert _outcome_of(sqs, dlq_url) == ["unknown_group"]


def test_a_group_created_after_its_first_refusal_is_picked_up_after_the_cache_time(
    make_runtime, admin, tag, sqs, dlq_url
):
    runtime = make_runtime(ALLOWED_GROUPS=f"/customers,/{tag}-late", GROUP_CACHE_SECONDS="1")
    early = sqs_event(body(email=f"{tag}-early@example.com", groups=[f"/{tag}-late"]))
    assert failures(process_event(early, Deadline.after(30, 2000), runtime)) == []
    assert _outcome_of(sqs, dlq_url) == ["unknown_group"]

    admin.create_group({"name": f"{tag}-late"})
    time.sleep(1.1)
    late = sqs_event(body(email=f"{tag}-late@example.com", groups=[f"/{tag}-late"]))
    assert failures(process_event(late, Deadline.after(30, 2000), runtime)) == []
    assert _outcome_of(sqs, dlq_url) == []
    (user,) = admin.get_users({"search": f"{tag}-late"})
    assert [group["path"] for group in admin.get_user_groups(user["id"])] == [f"/{tag}-late"]


def test_a_user_created_without_names_cannot_sign_in_with_a_password_until_the_profile_is_complete(
    make_runtime, admin, keycloak_url, tag
):
    # What README's contract section tells users of Keycloak's default user profile (24 and later).
    named = {"email": f"{tag}-named@example.com", "username": f"{tag}-named", "firstName": "Ada", "lastName": "L"}
    nameless = {"email": f"{tag}-nameless@example.com", "username": f"{tag}-nameless"}
    response = process_event(sqs_event(body(**named), body(**nameless)), Deadline.after(30, 2000), make_runtime())
    assert failures(response) == []

    def password_grant(username: str) -> requests.Response:
        (user,) = admin.get_users({"username": username, "exact": True})
        admin.set_user_password(user["id"], "correct-horse-battery", temporary=False)
        return requests.post(
            f"{keycloak_url}/realms/{REALM}/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": username,
                "password": "correct-horse-battery",
            },
            timeout=10,
        )

    assert password_grant(named["username"]).status_code == 200
    refused = password_grant(nameless["username"])
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": "Account is not fully set up"}
