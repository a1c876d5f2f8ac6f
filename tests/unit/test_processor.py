from __future__ import annotations

import json
import threading
import time

import pytest

from registrar.domain.deadline import Deadline, TimeBudget
from registrar.domain.directory import KeycloakUnavailable
from registrar.processor import process_event
from tests.kit.aws import dead_letters, drain, new_queue
from tests.kit.directory import MemoryDirectory
from tests.kit.events import body, failures, sqs_event, synthetic_record
from tests.kit.runtime import memory_runtime


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
    assert [user.email for user in directory.users] == ["good@example.com"]
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


def test_exact_duplicates_in_a_batch_cost_one_call_and_share_the_outcome(runtime, directory, function_logs):
    same = body(email="dup@example.com", username="dup")
    event = sqs_event(same, same, body(email="DUP@example.com", username="DUP"), body(email="other@example.com"))
    response = process_event(event, Deadline.after(30), runtime)
    assert failures(response) == []
    assert len(directory.create_calls) == 2
    handled = {line["message_id"]: line for line in function_logs.named("registration handled")}
    copies = [(handled[m]["outcome"], handled[m]["user_id"]) for m in ("m-0", "m-1", "m-2")]
    assert copies == [copies[0]] * 3
    assert copies[0][0] == "created"
    assert function_logs.named("batch handled")[0]["duplicates_in_batch"] == 2


def test_same_username_with_another_email_in_one_batch_is_a_conflict_not_a_copy(runtime, directory, sqs, dlq_url):
    event = sqs_event(body(email="a@example.com", username="ada"), body(email="b@example.com", username="ada"))
    response = process_event(event, Deadline.after(30), runtime)
    assert failures(response) == []
    assert len(directory.users) == 1
    (letter,) = drain(sqs, dlq_url)
    assert letter["MessageAttributes"]["originalMessageId"]["StringValue"] == "m-1"
    assert "same username" in letter["MessageAttributes"]["reason"]["StringValue"]


def test_deadline_guard_starts_nothing_when_time_is_short(runtime, directory):
    deadline = Deadline(remaining_ms=lambda: 2000, budget=TimeBudget(margin_ms=3000))
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
    deadline = Deadline.after(4.5, margin_ms=0)  # 1.2 s of waiting, 3.3 s kept to settle and answer
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
    assert failures(response) == ["m-0", "m-1"]


def test_event_without_records_answers_with_no_failures(runtime):
    assert process_event({"not": "sqs"}, Deadline.after(30), runtime) == {"batchItemFailures": []}
    assert process_event([], Deadline.after(30), runtime) == {"batchItemFailures": []}


def test_an_unexpected_error_in_the_token_step_retries_the_records_instead_of_failing_the_batch(runtime, directory):
    directory.token_error = ValueError("the token response was not JSON")
    response = process_event(sqs_event(body(email="a@example.com"), "garbage"), Deadline.after(30), runtime)
    assert failures(response) == ["m-0"]
    assert directory.create_calls == []


# --- failure isolation and long outages -----------------------------------------------------


def test_a_group_the_realm_lacks_goes_to_the_dlq_once_with_its_reason_and_a_warning(sqs, dlq_url, function_logs):
    directory = MemoryDirectory(groups={"/customers"})
    runtime = memory_runtime(directory, sqs, dlq_url, policy={"allowed_groups": "/customers,/partners"})
    event = sqs_event(body(email="a@example.com", groups=["/partners"]), body(email="b@example.com"))
    response = process_event(event, Deadline.after(30), runtime)
    assert failures(response) == []
    (letter,) = dead_letters(sqs, dlq_url)
    assert (letter.original_message_id, letter.outcome) == ("m-0", "unknown_group")
    assert "/partners" in letter.reason
    assert [user.email for user in directory.users] == ["b@example.com"]
    process_event(sqs_event(body(email="c@example.com", groups=["/partners"])), Deadline.after(30), runtime)
    warned = [line for line in function_logs.warnings() if line.get("group") == "/partners"]
    assert len(warned) == 1


def test_a_message_failing_on_every_delivery_does_not_defer_the_next_batch(runtime, directory):
    for _delivery in range(4):
        response = process_event(
            sqs_event(body(email="retry-me@example.com", username="retry-me")), Deadline.after(30), runtime
        )
        assert failures(response) == ["m-0"]
    good = sqs_event(*(body(email=f"g{i}@example.com") for i in range(5)))
    assert failures(process_event(good, Deadline.after(30), runtime)) == []
    assert len(directory.users) == 5


@pytest.mark.parametrize(
    ("age_seconds", "receive_count", "exhausted"),
    [(60, 3, False), (7 * 3600, 3, True), (60, 100, True)],
)
def test_a_record_out_of_time_or_receives_goes_to_the_dlq_with_its_last_reason(
    sqs, dlq_url, age_seconds, receive_count, exhausted
):
    directory = MemoryDirectory(fail_with=KeycloakUnavailable("Keycloak answered 503", status=503))
    runtime = memory_runtime(directory, sqs, dlq_url, max_receive_count=100)
    record = synthetic_record("m-0", body(email="a@example.com"), receive_count, sent_at=time.time() - age_seconds)
    response = process_event({"Records": [record]}, Deadline.after(30), runtime)
    letters = dead_letters(sqs, dlq_url)
    if exhausted:
        assert failures(response) == []
        (letter,) = letters
        assert letter.outcome == "retries_exhausted"
        assert "503" in letter.reason
    else:
        assert failures(response) == ["m-0"]
        assert letters == []


def test_an_unexpected_error_in_one_worker_is_logged_with_its_traceback_and_retried(runtime, directory, function_logs):
    original = directory.create_user

    def create(user, deadline):
        if user["email"] == "boom@example.com":
            raise ZeroDivisionError("boom")
        return original(user, deadline)

    directory.create_user = create
    response = process_event(
        sqs_event(body(email="boom@example.com"), body(email="ok@example.com")), Deadline.after(30), runtime
    )
    assert failures(response) == ["m-0"]
    (logged,) = [
        line for line in function_logs.lines() if line.get("message") == "unexpected error registering a record"
    ]
    assert logged["message_id"] == "m-0"
    assert "ZeroDivisionError" in logged["exception"]


# --- FIFO ------------------------------------------------------------------------------------


def fifo_event(*records: tuple[str, str]) -> dict:
    return {"Records": [synthetic_record(f"m-{i}", text, group=group) for i, (group, text) in enumerate(records)]}


def test_fifo_groups_keep_order_and_stop_at_their_first_failure(runtime, directory):
    event = fifo_event(
        ("g1", body(email="a1@example.com")),
        ("g1", body(email="retry-a2@example.com", username="retry-a2")),
        ("g1", body(email="a3@example.com")),
        ("g2", body(email="b1@example.com")),
        ("g2", body(email="b2@example.com")),
    )
    response = process_event(event, Deadline.after(30), runtime)
    assert failures(response) == ["m-1", "m-2"]
    created = [call["email"] for call in directory.create_calls]
    assert "a3@example.com" not in created
    assert created.index("b1@example.com") < created.index("b2@example.com")
    assert created.index("a1@example.com") < created.index("retry-a2@example.com")


def test_a_fifo_dead_letter_keeps_its_group_and_a_deduplication_id(sqs, directory):
    fifo_dlq = new_queue(sqs, "dlq", FifoQueue="true")
    runtime = memory_runtime(directory, sqs, fifo_dlq)
    response = process_event(
        fifo_event(("g7", "not json"), ("g7", body(email="x@example.com"))), Deadline.after(30), runtime
    )
    assert failures(response) == []  # a DLQ copy settles the record, so its group goes on
    (letter,) = dead_letters(sqs, fifo_dlq)
    assert letter.system["MessageGroupId"] == "g7"
    assert letter.system["MessageDeduplicationId"] == "dlq-m-0"
    assert [user.email for user in directory.users] == ["x@example.com"]


def test_a_fifo_record_behind_its_groups_first_failure_is_held_even_when_its_body_is_invalid(runtime, sqs, dlq_url):
    response = process_event(
        fifo_event(
            ("g1", body(email="retry-a1@example.com", username="retry-a1")),
            ("g1", "not json"),
            ("g2", "not json"),
        ),
        Deadline.after(30),
        runtime,
    )
    # m-1 would be dead-lettered and deleted ahead of m-0; it comes back behind it instead.
    assert failures(response) == ["m-0", "m-1"]
    assert [letter.attributes["originalMessageId"] for letter in dead_letters(sqs, dlq_url)] == ["m-2"]


def test_a_fifo_record_whose_dlq_copy_fails_takes_the_rest_of_its_group_back_with_it(runtime, directory, sqs, dlq_url):
    sqs.delete_queue(QueueUrl=dlq_url)
    response = process_event(
        fifo_event(("g1", "not json"), ("g1", body(email="a2@example.com")), ("g2", body(email="b1@example.com"))),
        Deadline.after(30),
        runtime,
    )
    # a2 ran before the copy of m-0 was refused; reported, it is not deleted ahead of m-0 (and
    # its next delivery finds the user already registered).
    assert failures(response) == ["m-0", "m-1"]
    assert sorted(user.email for user in directory.users) == ["a2@example.com", "b1@example.com"]


class DlqRefusingCopiesOf:
    """moto's SQS, except that the DLQ refuses the copies of some messages, as SQS can entry by entry."""

    def __init__(self, sqs, refused: set[str]) -> None:
        self._sqs = sqs
        self._refused = {f"dlq-{message_id}" for message_id in refused}
        self.sent_in_order: list[str] = []

    def __getattr__(self, name: str):
        return getattr(self._sqs, name)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
        kept = [entry for entry in Entries if entry["MessageDeduplicationId"] not in self._refused]
        self.sent_in_order += [entry["MessageDeduplicationId"] for entry in kept]
        response = self._sqs.send_message_batch(QueueUrl=QueueUrl, Entries=kept) if kept else {}
        refused = [entry for entry in Entries if entry not in kept]
        return {
            "Successful": response.get("Successful", []),
            "Failed": [{"Id": entry["Id"], "Code": "InternalError", "SenderFault": False} for entry in refused],
        }


def test_a_refused_dlq_copy_keeps_the_later_copies_of_its_group_out_of_the_dlq(sqs, directory):
    fifo_dlq = new_queue(sqs, "dlq", FifoQueue="true")
    refusing = DlqRefusingCopiesOf(sqs, refused={"m-0"})
    runtime = memory_runtime(directory, refusing, fifo_dlq)
    response = process_event(
        fifo_event(("g1", "not json"), ("g2", "not json"), ("g1", "{still not json"), ("g2", "nor this")),
        Deadline.after(30),
        runtime,
    )
    # m-2's copy would otherwise sit in the DLQ ahead of m-0's, which comes back; g2 is unaffected.
    assert failures(response) == ["m-0", "m-2"]
    assert refusing.sent_in_order == ["dlq-m-1", "dlq-m-3"]
    assert [letter.attributes["originalMessageId"] for letter in dead_letters(sqs, fifo_dlq)] == ["m-1", "m-3"]
