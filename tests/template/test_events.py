"""events/: SQS events as `sam local generate-event` prints them, with bodies that keep the message contract."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

import pytest

from registrar.config import ENVIRONMENT_VARIABLES, ConfigurationError, Settings
from registrar.domain.registration import InvalidMessage, ParsedBody, RegistrationPolicy, parse_body
from registrar.observability import METRICS_NAMESPACE, SERVICE_NAME
from registrar_local import keycloak_server
from tests.kit.runtime import local_policy
from tests.template.sam import EVENTS, deployed, load_event, run_sam, sam_template, samconfig, translate

EVENT_FILES = [
    "new-users.json",
    "duplicates.json",
    "invalid.json",
    "sns-wrapped.json",
    "sns-raw-delivery.json",
    "eventbridge-wrapped.json",
]
ENV_FILE = "env.json"


@pytest.fixture(scope="module")
def generated_event() -> dict[str, Any]:
    result = run_sam("local", "generate-event", "sqs", "receive-message", timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module", name="local_policy")
def local_policy_fixture() -> RegistrationPolicy:
    return local_policy()


def bodies(name: str) -> list[str]:
    return [record["body"] for record in load_event(name)["Records"]]


def parsed(name: str, policy: RegistrationPolicy) -> list[ParsedBody]:
    return [parse_body(body, policy) for body in bodies(name)]


def test_events_holds_the_sample_batches_and_the_env_file():
    assert {*EVENT_FILES, ENV_FILE} <= {path.name for path in EVENTS.glob("*.json")}


@pytest.mark.parametrize("name", EVENT_FILES)
def test_each_event_has_the_shape_sam_generates(name, generated_event):
    (reference,) = generated_event["Records"]
    records = load_event(name)["Records"]

    assert set(load_event(name)) == set(generated_event)
    assert len(records) == 10
    assert len({record["messageId"] for record in records}) == 10
    for record in records:
        assert set(record) == set(reference)
        assert set(record["attributes"]) == set(reference["attributes"])
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"].startswith("arn:aws:sqs:")
        assert record["attributes"]["ApproximateReceiveCount"].isdigit()
        assert int(record["attributes"]["ApproximateReceiveCount"]) >= 1
        assert isinstance(record["body"], str)
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()


def test_new_users_are_ten_distinct_valid_registrations_with_the_optional_fields(local_policy):
    registrations = [body.registration for body in parsed("new-users.json", local_policy)]

    assert len({registration.identity_key() for registration in registrations}) == 10
    assert all(registration.firstName and registration.lastName for registration in registrations)
    assert all(registration.registrationId for registration in registrations)
    assert all("signupSource" in registration.attributes for registration in registrations)
    groups = Counter(group for registration in registrations for group in registration.groups)
    assert groups["/customers"]
    assert groups["/newsletter"]
    assert any("VERIFY_EMAIL" in registration.requiredActions for registration in registrations)
    assert any(
        registration.username is not None and registration.username == registration.email
        for registration in registrations
    )


def test_duplicates_copy_users_within_the_batch_and_hold_one_username_for_two_people(local_policy):
    registrations = [body.registration for body in parsed("duplicates.json", local_policy)]

    copies = Counter(registration.dedupe_key() for registration in registrations)
    assert max(copies.values()) >= 2
    assert sum(count for count in copies.values() if count > 1) >= 4
    emails_by_login: dict[str, set[str]] = {}
    for registration in registrations:
        emails_by_login.setdefault(registration.login, set()).add(registration.email)
    assert any(len(emails) > 1 for emails in emails_by_login.values()), "no same-username-other-email conflict"


def test_invalid_holds_each_kind_of_refusal(local_policy):
    reasons = []
    accepted = []
    for body in bodies("invalid.json"):
        try:
            accepted.append(parse_body(body, local_policy).registration)
        except InvalidMessage as error:
            reasons.append((error.error_class, error.reason))

    # One passes our schema and is refused by Keycloak (a 400): a username with a slash.
    assert [registration.login for registration in accepted] == ["a/b"]
    text = " | ".join(reason for _, reason in reasons)
    assert "NotJson" in {error_class for error_class, _ in reasons}
    for expected in ("Extra inputs are not permitted", "realmRoles", "email", "groups not allowed", "password"):
        assert expected in text, expected
    assert "credentials" in text
    assert all("example-only" not in reason for _, reason in reasons), "a reason echoes a secret"


def test_sns_wrapped_bodies_are_notifications_holding_registrations(local_policy):
    for body, result in zip(bodies("sns-wrapped.json"), parsed("sns-wrapped.json", local_policy), strict=True):
        notification = json.loads(body)
        assert notification["Type"] == "Notification"
        assert isinstance(notification["Message"], str)
        assert result.envelope == "sns"


def test_eventbridge_wrapped_bodies_are_events_with_a_registration_as_detail(local_policy):
    for body, result in zip(
        bodies("eventbridge-wrapped.json"), parsed("eventbridge-wrapped.json", local_policy), strict=True
    ):
        event = json.loads(body)
        assert {"detail-type", "source", "detail"} <= set(event)
        assert result.envelope == "eventbridge"


# What SNS puts in a notification it delivers to SQS without raw delivery (MessageAttributes and
# Subject only when the publisher set them).
SNS_NOTIFICATION_KEYS = {"Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion", "Signature"}
SNS_NOTIFICATION_OPTIONAL_KEYS = {"Subject", "MessageAttributes", "SigningCertURL", "UnsubscribeURL"}
# What EventBridge sends to an SQS target without an input transformer: the whole event.
EVENTBRIDGE_EVENT_KEYS = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}


def test_sns_wrapped_bodies_are_notifications_as_the_subscription_delivers_them():
    for body in bodies("sns-wrapped.json"):
        notification = json.loads(body)
        assert SNS_NOTIFICATION_KEYS <= set(notification) <= SNS_NOTIFICATION_KEYS | SNS_NOTIFICATION_OPTIONAL_KEYS
        assert notification["TopicArn"].startswith("arn:aws:sns:")


def test_sns_raw_delivery_bodies_are_the_published_registrations_with_attributes_carried_over(local_policy):
    records = load_event("sns-raw-delivery.json")["Records"]

    for record, result in zip(records, parsed("sns-raw-delivery.json", local_policy), strict=True):
        assert "Type" not in json.loads(record["body"]), "raw delivery has no notification around the message"
        assert result.envelope == "plain"
        for attribute in record["messageAttributes"].values():
            assert attribute["dataType"] in {"String", "Number", "Binary", "String.Array"}
            assert set(attribute) == {"stringValue", "stringListValues", "binaryListValues", "dataType"}


def test_eventbridge_bodies_are_whole_events_as_the_rule_delivers_them():
    for body in bodies("eventbridge-wrapped.json"):
        assert set(json.loads(body)) == EVENTBRIDGE_EVENT_KEYS


@pytest.mark.parametrize("name", ["sns-wrapped.json", "sns-raw-delivery.json", "eventbridge-wrapped.json"])
def test_producer_events_arrive_on_the_dev_stacks_registration_queue(name):
    stack = samconfig()["default"]["global"]["parameters"]["stack_name"]

    for record in load_event(name)["Records"]:
        assert record["eventSourceARN"].rpartition(":")[2] == f"{stack}-registrations"


def test_the_sns_events_topic_is_the_one_the_queue_policy_admits():
    (topic,) = {json.loads(body)["TopicArn"] for body in bodies("sns-wrapped.json")}
    overrides = {"SourceTopicArn": topic}
    resources = deployed(translate(overrides), overrides)["Resources"]
    statements = resources["RegistrationQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]

    assert [s["Condition"]["ArnEquals"]["aws:SourceArn"] for s in statements if s["Effect"] == "Allow"] == [topic]


def test_the_eventbridge_events_match_the_pattern_of_a_rule_configured_for_them():
    events = [json.loads(body) for body in bodies("eventbridge-wrapped.json")]
    overrides = {
        "SourceEventBusName": "signups",
        "SourceEventSources": ",".join(sorted({event["source"] for event in events})),
        "SourceEventDetailTypes": ",".join(sorted({event["detail-type"] for event in events})),
    }
    pattern = deployed(translate(overrides), overrides)["Resources"]["RegistrationEventRule"]["Properties"][
        "EventPattern"
    ]

    for event in events:
        assert event["source"] in pattern["source"]
        assert event["detail-type"] in pattern["detail-type"]
    assert set(pattern) == {"source", "detail-type"}


def test_every_address_is_an_example_com_address_and_files_do_not_share_users(local_policy):
    owners: dict[str, str] = {}
    for name in (
        "new-users.json",
        "duplicates.json",
        "sns-wrapped.json",
        "sns-raw-delivery.json",
        "eventbridge-wrapped.json",
    ):
        for registration in {
            body.registration.identity_key(): body.registration for body in parsed(name, local_policy)
        }.values():
            assert registration.email.endswith("@example.com"), registration.email
            for key in (registration.login, registration.email):
                assert owners.setdefault(key, name) == name, f"{key} is in {owners[key]} and {name}"
    for body in bodies("invalid.json"):
        assert "@" not in body or "example.com" in body


# --- env.json ------------------------------------------------------------------------------------


def env_file() -> dict[str, dict[str, str]]:
    return json.loads((EVENTS / ENV_FILE).read_text(encoding="utf-8"))


def test_env_json_configures_the_templates_function():
    (function, *others) = env_file()

    assert others == []
    assert sam_template()["Resources"][function]["Type"] == "AWS::Serverless::Function"


def test_env_json_names_only_the_functions_variables_and_all_values_are_strings():
    (variables,) = env_file().values()

    application = {name for name in variables if not name.startswith("POWERTOOLS_")}
    assert application <= set(ENVIRONMENT_VARIABLES), application - set(ENVIRONMENT_VARIABLES)
    assert all(isinstance(value, str) for value in variables.values())


def test_env_json_is_a_valid_local_configuration():
    (variables,) = env_file().values()

    try:
        settings = Settings.from_environment(variables)
    except ConfigurationError as error:
        pytest.fail(str(error))
    assert settings.client_secret_arn is None, "an ARN would win over the local secret"
    assert settings.client_secret == keycloak_server.CLIENT_SECRET
    assert settings.verify_tls or settings.environment == "development"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == METRICS_NAMESPACE
    assert variables.get("POWERTOOLS_SERVICE_NAME", SERVICE_NAME) == SERVICE_NAME
