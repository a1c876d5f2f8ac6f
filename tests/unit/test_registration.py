import json

from registrar.deadline import Deadline
from registrar.keycloak import KeycloakUnavailable, KeycloakUser
from registrar.messages import Registration, RegistrationPolicy, parse_body
from registrar.registration import OutcomeKind, Registrar
from tests.unit.fakes import InMemoryDirectory


def registration(**fields) -> Registration:
    return parse_body(json.dumps(fields), RegistrationPolicy()).registration


def deadline() -> Deadline:
    return Deadline.after(30)


def test_new_user_is_created():
    directory = InMemoryDirectory()
    outcome = Registrar(directory, "registrationId").register(registration(email="a@example.com"), deadline())
    assert outcome.kind is OutcomeKind.CREATED
    assert outcome.user_id == "id-1"
    assert len(outcome.keycloak_latencies_ms) == 1


def test_conflict_with_the_same_person_is_already_registered():
    directory = InMemoryDirectory()
    registrar = Registrar(directory, "registrationId")
    registrar.register(registration(email="a@example.com", username="ada"), deadline())
    again = registrar.register(registration(email="A@example.com", username="ADA"), deadline())
    assert again.kind is OutcomeKind.ALREADY_REGISTERED
    assert again.succeeded
    assert again.user_id == "id-1"


def test_same_registration_id_is_already_registered_even_if_email_changed():
    directory = InMemoryDirectory(
        users={"u1": KeycloakUser("u1", "ada", "old@example.com", {"registrationId": ["r-9"]})}
    )
    outcome = Registrar(directory, "registrationId").register(
        registration(email="new@example.com", username="ada", registrationId="r-9"), deadline()
    )
    assert outcome.kind is OutcomeKind.ALREADY_REGISTERED


def test_conflict_with_another_person_is_permanent():
    directory = InMemoryDirectory()
    registrar = Registrar(directory, "registrationId")
    registrar.register(registration(email="a@example.com", username="ada"), deadline())
    other = registrar.register(registration(email="b@example.com", username="ada"), deadline())
    assert other.kind is OutcomeKind.CONFLICT
    assert other.permanent
    assert "same username" in other.reason
    assert other.http_status == 409


def test_keycloak_refusal_is_invalid():
    outcome = Registrar(InMemoryDirectory(), "registrationId").register(
        registration(email="a@example.com", username="bad!name"), deadline()
    )
    assert outcome.kind is OutcomeKind.INVALID
    assert outcome.http_status == 400
    assert "invalid-character" in outcome.reason


def test_unavailable_keycloak_is_retryable_with_retry_after():
    directory = InMemoryDirectory(fail_with=KeycloakUnavailable("Keycloak answered 429", status=429, retry_after=3))
    outcome = Registrar(directory, "registrationId").register(registration(email="a@example.com"), deadline())
    assert outcome.kind is OutcomeKind.RETRYABLE
    assert outcome.http_status == 429
    assert outcome.retry_after == 3


def test_no_time_left_for_a_request_is_deferred():
    outcome = Registrar(InMemoryDirectory(), "registrationId").register(
        registration(email="a@example.com"), Deadline(remaining_ms=lambda: 100, margin_ms=0)
    )
    assert outcome.kind is OutcomeKind.DEFERRED
