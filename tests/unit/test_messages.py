import json

import pytest

from registrar.domain.registration import REDACTED, InvalidMessage, RegistrationPolicy, parse_body, redact_body
from tests.kit.contract import CREDENTIALS_BODY, PASSWORD_BODY, POLICY, REFUSED_BODIES


def test_plain_registration_gets_defaults_and_is_lowercased():
    parsed = parse_body(json.dumps({"email": "Ada.Lovelace@Example.COM"}), POLICY)
    registration = parsed.registration
    assert parsed.envelope == "plain"
    assert registration.email == "ada.lovelace@example.com"
    assert registration.login == "ada.lovelace@example.com"
    assert registration.enabled is True
    assert registration.emailVerified is False


def test_user_representation_carries_every_allowed_field():
    body = {
        "email": "a@example.com",
        "username": "Ada",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "groups": ["/customers"],
        "attributes": {"signupSource": ["web"]},
        "requiredActions": ["VERIFY_EMAIL"],
        "registrationId": "reg-1",
    }
    user = parse_body(json.dumps(body), POLICY).registration.to_user_representation("registrationId")
    assert user == {
        "username": "ada",
        "email": "a@example.com",
        "enabled": True,
        "emailVerified": False,
        "firstName": "Ada",
        "lastName": "Lovelace",
        "groups": ["/customers"],
        "attributes": {"signupSource": ["web"], "registrationId": ["reg-1"]},
        "requiredActions": ["VERIFY_EMAIL"],
    }


def test_sns_notification_is_unwrapped():
    inner = json.dumps({"email": "sns@example.com"})
    parsed = parse_body(json.dumps({"Type": "Notification", "MessageId": "x", "Message": inner}), POLICY)
    assert parsed.envelope == "sns"
    assert parsed.registration.email == "sns@example.com"


def test_eventbridge_event_is_unwrapped():
    event = {"version": "0", "detail-type": "UserSignedUp", "source": "shop", "detail": {"email": "eb@example.com"}}
    parsed = parse_body(json.dumps(event), POLICY)
    assert parsed.envelope == "eventbridge"
    assert parsed.registration.email == "eb@example.com"


@pytest.mark.parametrize(("body", "error_class", "fragment"), REFUSED_BODIES)
def test_bad_bodies_are_refused_with_a_reason(body, error_class, fragment):
    with pytest.raises(InvalidMessage) as refused:
        parse_body(body, POLICY)
    assert refused.value.error_class == error_class
    assert fragment in refused.value.reason


def test_password_is_refused_unless_allowed_and_never_echoed():
    body = PASSWORD_BODY
    with pytest.raises(InvalidMessage) as refused:
        parse_body(body, POLICY)
    assert "passwords are not accepted" in refused.value.reason
    assert "horse" not in refused.value.reason

    allowing = RegistrationPolicy(allow_passwords=True)
    registration = parse_body(body, allowing).registration
    assert "horse" not in repr(registration)
    assert "horse" not in registration.dedupe_key()
    assert registration.to_user_representation("registrationId")["credentials"][0]["value"] == (
        "correct horse battery staple"
    )


def test_credentials_blob_is_refused_without_echoing_it():
    body = CREDENTIALS_BODY
    with pytest.raises(InvalidMessage) as refused:
        parse_body(body, RegistrationPolicy(allow_passwords=True))
    assert "credentials" in refused.value.reason
    assert "s3cret-value" not in refused.value.reason


def test_oversized_body_is_refused():
    body = json.dumps({"email": "a@example.com", "firstName": "x" * (256 * 1024)})
    with pytest.raises(InvalidMessage) as refused:
        parse_body(body, POLICY)
    assert refused.value.error_class == "BodyTooLarge"


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"email": "a@example.com", "password": "hunter2-secret"}),
        json.dumps({"Type": "Notification", "Message": json.dumps({"email": "a@x.io", "password": "hunter2-secret"})}),
        json.dumps({"detail-type": "x", "detail": {"credentials": [{"value": "hunter2-secret"}]}}),
        '{"email": "a@example.com", "password": "hunter2-secret"',
        '{"email": "a@example.com", "PASSWORD" : "hunter2-secret\\" still", broken',
    ],
)
def test_redaction_removes_passwords_from_any_body(body):
    redacted = redact_body(body)
    assert "hunter2" not in redacted
    assert REDACTED in redacted


def test_redaction_keeps_a_clean_body_byte_for_byte():
    body = '{ "email" :  "a@example.com" }'
    assert redact_body(body) == body


def test_a_required_action_in_another_case_is_sent_as_keycloak_spells_it() -> None:
    parsed = parse_body('{"email": "a@example.com", "requiredActions": ["verify_email"]}', POLICY)
    user = parsed.registration.to_user_representation("registrationId")
    assert user["requiredActions"] == ["VERIFY_EMAIL"]
