from __future__ import annotations

import json
import threading

from registrar.deadline import Deadline
from registrar.handler import process_event
from registrar.keycloak import KeycloakUnavailable
from tests.unit.conftest import body, drain, sqs_event


def failures(response):
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def test_batch_of_new_users_all_succeed(runtime, directory):
    event = sqs_event(*(body(email=f"user{i}@example.com") for i in range(10)))
    response = process_event(event, Deadline.after(30), runtime)
    assert response == {"batchItemFailures": []}
    assert len(directory.users) == 10
    assert directory.token_calls == 1


def test_poison_goes_to_dlq_with_its_reason_and_good_records_are_created(runtime, directory, sqs, dlq_url):
    event = sqs_event(
        body(email="good@example.com"),
        "not json at all",
        body(email="x@example.com", realmRoles=["admin"]),
        body(email="y@example.com", username="bad!name"),
        receive_count=2,
    )
    response = process_event(event, Deadline.after(30), runtime)
    assert response == {"batchItemFailures": []}
    assert [user.email for user in directory.users.values()] == ["good@example.com"]
    letters = {m["MessageAttributes"]["originalMessageId"]["StringValue"]: m for m in drain(sqs, dlq_url)}
    assert sorted(letters) == ["m-1", "m-2", "m-3"]
    assert letters["m-1"]["Body"] == "not json at all"
    assert letters["m-1"]["MessageAttributes"]["errorClass"]["StringValue"] == "NotJson"
    assert "realmRoles" in letters["m-2"]["MessageAttributes"]["reason"]["StringValue"]
    assert letters["m-3"]["MessageAttributes"]["httpStatus"]["StringValue"] == "400"
    assert letters["m-3"]["MessageAttributes"]["receiveCount"]["StringValue"] == "2"
    assert letters["m-3"]["MessageAttributes"]["outcome"]["StringValue"] == "invalid"


def test_dlq_copy_never_carries_a_password(runtime, sqs, dlq_url):
    event = sqs_event(body(email="p@example.com", password="hunter2-is-my-password"))
    response = process_event(event, Deadline.after(30), runtime)
    assert failures(response) == []
    (letter,) = drain(sqs, dlq_url)
    assert "hunter2" not in json.dumps(letter)
    assert json.loads(letter["Body"])["email"] == "p@example.com"


def test_failed_dlq_send_reports_the_record_instead_of_losing_it(runtime, sqs, dlq_url):
    sqs.delete_queue(QueueUrl=dlq_url)
    response = process_event(sqs_event("garbage", body(email="ok@example.com")), Deadline.after(30), runtime)
    assert failures(response) == ["m-0"]


def test_retryable_failures_are_reported_and_nothing_goes_to_dlq(runtime, directory, sqs, dlq_url):
    directory.fail_with = KeycloakUnavailable("Keycloak answered 503", status=503)
    event = sqs_event(body(email="a@example.com"), body(email="b@example.com"), "garbage")
    response = process_event(event, Deadline.after(30), runtime)
    assert failures(response) == ["m-0", "m-1"]
    assert len(drain(sqs, dlq_url)) == 1


def test_no_token_reports_every_valid_record_without_calling_keycloak(runtime, directory):
    directory.token_error = KeycloakUnavailable("token request failed: connection failed")
    response = process_event(
        sqs_event(body(email="a@example.com"), body(email="b@example.com")), Deadline.after(30), runtime
    )
    assert failures(response) == ["m-0", "m-1"]
    assert directory.create_calls == []


def test_exact_duplicates_in_a_batch_cost_one_call_and_share_the_outcome(runtime, directory):
    same = body(email="dup@example.com", username="dup")
    event = sqs_event(same, same, body(email="DUP@example.com", username="DUP"), body(email="other@example.com"))
    response = process_event(event, Deadline.after(30), runtime)
    assert failures(response) == []
    assert len(directory.create_calls) == 2


def test_same_username_with_another_email_in_one_batch_is_a_conflict_not_a_copy(runtime, directory, sqs, dlq_url):
    event = sqs_event(body(email="a@example.com", username="ada"), body(email="b@example.com", username="ada"))
    response = process_event(event, Deadline.after(30), runtime)
    assert failures(response) == []
    assert len(directory.users) == 1
    (letter,) = drain(sqs, dlq_url)
    assert letter["MessageAttributes"]["originalMessageId"]["StringValue"] == "m-1"
    assert "same username" in letter["MessageAttributes"]["reason"]["StringValue"]


def test_deadline_guard_starts_nothing_when_time_is_short(runtime, directory):
    deadline = Deadline(remaining_ms=lambda: 2000, margin_ms=3000)
    response = process_event(sqs_event(body(email="a@example.com"), body(email="b@example.com")), deadline, runtime)
    assert failures(response) == ["m-0", "m-1"]
    assert directory.create_calls == []


def test_records_still_running_at_the_deadline_are_reported(runtime, directory):
    release = threading.Event()
    original = directory.create_user

    def slow_create(user, deadline):
        if user["email"] == "slow@example.com":
            release.wait(5)
        return original(user, deadline)

    directory.create_user = slow_create
    deadline = Deadline.after(3.0, margin_ms=0)  # 1.5 s of waiting, 1.5 s kept for the answer
    response = process_event(
        sqs_event(body(email="slow@example.com"), body(email="fast@example.com")), deadline, runtime
    )
    release.set()
    assert failures(response) == ["m-0"]


def test_response_names_only_message_ids_from_the_batch(runtime, directory):
    directory.fail_with = KeycloakUnavailable("down")
    event = sqs_event(body(email="a@example.com"), body(email="b@example.com"))
    event["Records"].append(dict(event["Records"][0]))  # the same message twice in one event
    event["Records"].append({"body": body(email="c@example.com")})  # no messageId: cannot be reported
    response = process_event(event, Deadline.after(30), runtime)
    ids = failures(response)
    assert ids == ["m-0", "m-1"]
    assert all(ids)


def test_event_without_records_answers_with_no_failures(runtime):
    assert process_event({"not": "sqs"}, Deadline.after(30), runtime) == {"batchItemFailures": []}
    assert process_event([], Deadline.after(30), runtime) == {"batchItemFailures": []}


def test_an_unexpected_error_in_the_token_step_retries_the_records_instead_of_failing_the_batch(runtime, directory):
    directory.token_error = ValueError("the token response was not JSON")
    response = process_event(sqs_event(body(email="a@example.com"), "garbage"), Deadline.after(30), runtime)
    assert failures(response) == ["m-0"]
    assert directory.create_calls == []
