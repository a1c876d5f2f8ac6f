"""Whatever a producer puts on the queue, the function answers, and every record is accounted for.

A record ends as a user (created or already registered), in `batchItemFailures`, or as a DLQ
copy with a reason: never lost, never an exception that fails the whole batch. Bodies are what
SQS can deliver: XML-valid unicode; anything else (NUL, lone surrogates, U+FFFF) only arrives
escaped inside JSON.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registrar.domain.deadline import Deadline
from registrar.domain.registration import InvalidMessage, RegistrationPolicy, parse_body
from registrar.processor import process_event
from tests.kit.aws import SQS_FORBIDDEN, Letter, dead_letters, new_queue, sqs_can_carry
from tests.kit.directory import MemoryDirectory
from tests.kit.events import (
    EXAMPLE_QUEUE_ARN,
    eventbridge_event,
    failures,
    sns_notification,
    sqs_event,
    synthetic_record,
)
from tests.kit.runtime import UNIT_SETTINGS, memory_runtime

# --- strategies -----------------------------------------------------------------------------

sqs_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters=SQS_FORBIDDEN), max_size=60)
"""Text the real SQS can deliver as a body."""

any_text = st.text(max_size=30)
"""Any code points at all (NUL, lone surrogates, U+FFFF): only ever sent escaped inside JSON."""

LOOKALIKES = [
    "\u0430dmin@example.com",  # Cyrillic a
    "admin@ex\u0430mple.com",
    "admin\uff20example.com",  # fullwidth at sign
    "\u212aate@example.com",  # Kelvin sign
    "\u0130nfo@example.com",  # dotted capital I: lowercases to two code points
    "a\u200bdmin",  # zero-width space
    "evil\u202egnp.exe",  # right-to-left override
    "\ufeffadmin",
    "/realm-admins",
    "/realm-admins/",
    "/Realm-Admins",
    "/customers/../realm-admins",
    "/re\u0430lm-admins",
    "service-account-registrar",
    "admin",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "%00",
    "\x00",
    "\ud800",
    "\uffff",
    "a" * 300,
    "",
    " ",
]
tricky_text = st.sampled_from(LOOKALIKES) | any_text

json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | tricky_text
)
json_value = st.recursive(
    json_scalar,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4),
    max_leaves=10,
)

emails = st.sampled_from(["ok@example.com", "OK@Example.COM", "a@b.co"]) | st.emails() | tricky_text
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "email": emails | json_value,
    "username": tricky_text | st.sampled_from(["retry-me", "bad!name", "ab", "x" * 256]) | json_value,
    "firstName": tricky_text | json_value,
    "lastName": tricky_text | json_value,
    "enabled": st.booleans() | json_value,
    "emailVerified": st.booleans() | json_value,
    "attributes": st.dictionaries(
        st.sampled_from(["signupSource", "isAdmin", "registrationId"]) | tricky_text,
        st.lists(tricky_text, max_size=3) | json_value,
        max_size=3,
    )
    | json_value,
    "groups": st.lists(st.sampled_from(["/customers", "/realm-admins"]) | tricky_text, max_size=3) | json_value,
    "requiredActions": st.lists(st.sampled_from(["VERIFY_EMAIL", "CONFIGURE_TOTP"]) | tricky_text, max_size=3)
    | json_value,
    "registrationId": st.sampled_from(["reg-1", "r" * 129, "a b"]) | tricky_text | json_value,
    "password": tricky_text | json_value,
    # Never fields of a registration: privilege, identity, the realm, typos.
    "realmRoles": json_value,
    "clientRoles": json_value,
    "credentials": json_value,
    "id": json_value,
    "federatedIdentities": json_value,
    "realm": json_value,
    "emial": json_value,
}
registration_like = st.builds(
    lambda fixed, extra: {**extra, **fixed},
    st.fixed_dictionaries({}, optional=FIELDS),
    st.dictionaries(tricky_text, json_value, max_size=2),
)


@st.composite
def enveloped(draw: st.DrawFn) -> Any:
    """A registration-like document, bare or inside an SNS or EventBridge envelope (or a broken one)."""
    document: Any = draw(registration_like | json_value)
    wrap = draw(st.sampled_from(["plain", "plain", "sns", "sns-padded", "sns-not-string", "eventbridge", "both"]))
    if wrap in {"sns", "sns-padded"}:
        inner = json.dumps(document)
        return sns_notification((" \n" + inner) if wrap == "sns-padded" else inner)
    if wrap == "sns-not-string":
        return sns_notification(document)
    if wrap == "eventbridge":
        return eventbridge_event(document)
    if wrap == "both":
        return sns_notification(json.dumps({"detail-type": "x", "detail": document}))
    return document


@st.composite
def hostile_body(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["json", "json", "json", "mangled", "raw", "nested", "number"]))
    if kind == "raw":
        return draw(sqs_text)
    if kind == "nested":
        depth = draw(st.integers(min_value=1, max_value=50_000))
        opener = draw(st.sampled_from(["[", '{"a":', '{"Type":"Notification","Message":']))
        return opener * depth
    if kind == "number":
        return '{"email": ' + "9" * draw(st.integers(min_value=1, max_value=6000)) + "}"
    document = draw(enveloped())
    text = json.dumps(document, ensure_ascii=draw(st.booleans()))
    if not sqs_can_carry(text):
        text = json.dumps(document)  # escaped: what a producer's JSON encoder sends
    if kind == "mangled":
        cut = draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:cut] + draw(st.sampled_from(["", "}", "\ufeff", ",", "NaN", '"', "\\"]))
    return text


_GOOD_COUNTER = itertools.count()


def good_body() -> str:
    """A valid registration no other record of any example can collide with."""
    return json.dumps({"email": f"good-{next(_GOOD_COUNTER)}@example.com", "groups": ["/customers"]})


@st.composite
def hostile_record(draw: st.DrawFn, message_id: str) -> Any:
    """A record as the event source mapping delivers it, or a broken one."""
    body: Any = draw(hostile_body())
    record: dict[str, Any] = {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": draw(st.sampled_from(["1", "2", "5", "10"]))},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": EXAMPLE_QUEUE_ARN,
    }
    damage = draw(
        st.sampled_from(
            ["none"] * 6
            + ["no-body", "body-null", "body-object", "no-attributes", "attributes-list", "arn-garbage", "no-id"]
            + ["id-empty", "id-number", "not-an-object", "extra-fields"]
        )
    )
    match damage:
        case "no-body":
            del record["body"]
        case "body-null":
            record["body"] = None
        case "body-object":
            record["body"] = {"email": "x@example.com"}
        case "no-attributes":
            del record["attributes"]
        case "attributes-list":
            record["attributes"] = ["ApproximateReceiveCount", "1"]
        case "arn-garbage":
            record["eventSourceARN"] = draw(sqs_text)
        case "no-id":
            del record["messageId"]
        case "id-empty":
            record["messageId"] = ""
        case "id-number":
            record["messageId"] = 7
        case "not-an-object":
            return draw(json_value)
        case "extra-fields":
            record.update(draw(st.dictionaries(tricky_text, json_value, max_size=3)))
    return record


@st.composite
def hostile_event(draw: st.DrawFn) -> tuple[Any, list[str]]:
    """An event and the good bodies planted in it."""
    shape = draw(st.sampled_from(["records"] * 8 + ["not-a-dict", "no-records", "records-not-list"]))
    if shape == "not-a-dict":
        return draw(json_value), []
    if shape == "no-records":
        return draw(st.dictionaries(tricky_text, json_value, max_size=3)), []
    if shape == "records-not-list":
        return {"Records": draw(st.dictionaries(tricky_text, json_value, max_size=3) | json_scalar)}, []
    count = draw(st.integers(min_value=0, max_value=10))
    ids = [f"m-{index}" for index in range(count)]
    # The same messageId twice: one answer for both.
    ids = [draw(st.sampled_from([*ids[:index], message_id])) for index, message_id in enumerate(ids)]
    records = [draw(hostile_record(message_id)) for message_id in ids]
    goods = [good_body() for _ in range(draw(st.integers(min_value=0, max_value=3)))]
    for index, good in enumerate(goods):
        records.insert(draw(st.integers(min_value=0, max_value=len(records))), synthetic_record(f"good-{index}", good))
    return {"Records": records}, goods


# --- the properties -------------------------------------------------------------------------


def delivered(event: Any) -> dict[str, str]:
    """messageId -> body of the records that can be answered for (the last copy of each id wins)."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        return {}
    answerable: dict[str, str] = {}
    for record in records:
        message_id = record.get("messageId") if isinstance(record, dict) else None
        if isinstance(message_id, str) and message_id:
            body = record.get("body")
            answerable[message_id] = body if isinstance(body, str) else ""
    return answerable


def assert_every_record_accounted_for(
    event: Any, response: Any, letters: list[Letter], directory: MemoryDirectory, policy: RegistrationPolicy
) -> None:
    bodies = delivered(event)
    assert isinstance(response, dict)
    assert set(response) == {"batchItemFailures"}
    json.dumps(response)  # Lambda must be able to serialise the answer
    reported = failures(response)
    assert all(isinstance(item, str) and item for item in reported)
    assert set(reported) <= set(bodies), "an itemIdentifier that is not a messageId of the batch"
    assert len(reported) == len(set(reported))

    copies = [letter.original_message_id for letter in letters]
    assert len(copies) == len(set(copies)), "a record dead-lettered twice"
    assert set(copies) <= set(bodies)
    assert not set(copies) & set(reported), "a record both dead-lettered and reported for retry"
    for letter in letters:
        assert letter.reason.strip(), f"DLQ copy without a reason: {letter}"
        assert letter.attributes["outcome"] in {"invalid", "conflict"}
        assert sqs_can_carry(letter.text()), "a DLQ copy the real SQS would refuse"

    for message_id in set(bodies) - set(copies) - set(reported):
        # Neither retried nor dead-lettered: it must have become a user.
        try:
            registration = parse_body(bodies[message_id], policy).registration
        except InvalidMessage as refused:
            pytest.fail(f"{message_id} was refused ({refused.reason}) but neither dead-lettered nor retried")
        assert directory.holds(registration.login, registration.email), f"{message_id} acknowledged but no user"


def run(event: Any, directory: MemoryDirectory, sqs: Any, dlq_url: str) -> tuple[Any, list[Letter]]:
    runtime = memory_runtime(directory, sqs, dlq_url, circuit_failure_threshold=1_000_000)
    response = process_event(event, Deadline.after(300), runtime)
    return response, dead_letters(sqs, dlq_url)


POLICY = RegistrationPolicy.model_validate(UNIT_SETTINGS["policy"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=hostile_event())
def test_any_event_is_answered_and_every_record_accounted_for(case: tuple[Any, list[str]], sqs: Any) -> None:
    event, goods = case
    directory = MemoryDirectory()
    dlq_url = new_queue(sqs)
    runtime = memory_runtime(directory, sqs, dlq_url, circuit_failure_threshold=1_000_000)

    response = process_event(event, Deadline.after(300), runtime)

    letters = dead_letters(sqs, dlq_url)
    assert_every_record_accounted_for(event, response, letters, directory, runtime.settings.policy)
    for good in goods:
        email = json.loads(good)["email"]
        assert directory.holds(email, email), f"a good record next to hostile ones was not created: {email}"
    assert not {letter.original_message_id for letter in letters} & {
        m for m in delivered(event) if m.startswith("good-")
    }


@pytest.mark.parametrize(
    "body",
    [
        '{"email": ' + "1" * 5000 + "}",
        '{"Type": "Notification", "Message": "{\\"email\\": ' + "7" * 4500 + '}"}',
        '{"email": "a@example.com", "attributes": {"signupSource": [' + "2" * 4400 + "]}}",
    ],
    ids=["plain", "sns", "nested"],
)
def test_an_integer_too_long_for_python_is_invalid_not_a_crash(body: str, sqs: Any, dlq_url: str) -> None:
    # Python refuses to convert integers of more than 4300 digits (a ValueError, not a JSONDecodeError).
    directory = MemoryDirectory()
    event = sqs_event(body, good_body())
    response, letters = run(event, directory, sqs, dlq_url)

    assert failures(response) == []
    (letter,) = letters
    assert letter.original_message_id == "m-0"
    assert letter.attributes["errorClass"] == "NotJson"
    assert_every_record_accounted_for(event, response, letters, directory, POLICY)


@pytest.mark.parametrize(
    "body",
    [
        # Escaped in the body (valid for SQS); decoded they are characters SQS refuses.
        '{"email": "a@example.com", "firstName": "\\ud800", "password": "p"}',
        '{"email": "a@example.com", "firstName": "\\uffff", "password": "p"}',
        '{"email": "a@example.com", "firstName": "\\u0000", "credentials": []}',
    ],
    ids=["lone-surrogate", "u-ffff", "nul"],
)
def test_a_redacted_copy_stays_sendable(body: str, sqs: Any, dlq_url: str) -> None:
    directory = MemoryDirectory()
    event = sqs_event(body)
    response, letters = run(event, directory, sqs, dlq_url)

    assert failures(response) == []
    (letter,) = letters
    assert sqs_can_carry(letter.text())
    assert json.loads(letter.body)["password" if "password" in body else "credentials"] == "[redacted]"


@pytest.mark.parametrize(
    "username",
    ["admin\u200b", "\u200dadmin", "evil\u202egnp.exe", "ad\u2066min", "\ufeffadmin", "ad\u00admin"],
    ids=["zero-width-space", "zero-width-joiner", "rtl-override", "bidi-isolate", "bom", "soft-hyphen"],
)
def test_a_username_with_invisible_characters_is_refused(username: str, sqs: Any, dlq_url: str) -> None:
    # Keycloak 26 accepts these, and "admin\u200b" then looks like "admin" in every console and log.
    directory = MemoryDirectory()
    event = sqs_event(json.dumps({"email": "look@example.com", "username": username}))
    response, letters = run(event, directory, sqs, dlq_url)

    assert failures(response) == []
    (letter,) = letters
    assert "username" in letter.reason
    assert directory.by_username == {}


def test_a_batch_of_ten_thousand_records_is_answered_record_by_record(sqs: Any, dlq_url: str) -> None:
    # Mostly good records, with every kind of failure spread through them, 40 of each. (Few dead
    # letters: moto's SQS slows down quadratically with the queue's length.)
    special: dict[int, Callable[[int], str]] = {
        0: lambda i: json.dumps({"email": f"bulk-{i}@example.com", "username": f"bad!{i}"}),
        1: lambda i: json.dumps({"email": f"bulk-{i}@example.com", "username": f"retry-{i}"}),
        2: lambda i: f"not json {i}",
        3: lambda i: json.dumps({"email": f"bulk-{i}@example.com", "realmRoles": ["admin"]}),
        4: lambda i: json.dumps({"email": f"bulk-{i}@example.com", "groups": ["/realm-admins"]}),
        5: lambda i: json.dumps({"email": f"bulk-{i - 1}@example.com"}),  # the previous record again
        6: lambda i: json.dumps({"Type": "Notification", "Message": json.dumps({"email": f"bulk-{i}@example.com"})}),
    }
    kinds = [i % 250 for i in range(10_000)]
    bodies = [
        special[kind](i) if kind in special else json.dumps({"email": f"bulk-{i}@example.com"})
        for i, kind in enumerate(kinds)
    ]
    event = sqs_event(*bodies)
    directory = MemoryDirectory()

    response, letters = run(event, directory, sqs, dlq_url)

    assert_every_record_accounted_for(event, response, letters, directory, POLICY)
    assert sorted(failures(response), key=_index) == [f"m-{i}" for i, kind in enumerate(kinds) if kind == 1]
    dead = {letter.original_message_id for letter in letters}
    assert dead == {f"m-{i}" for i, kind in enumerate(kinds) if kind in {0, 2, 3, 4}}
    assert len(directory.by_email) == sum(1 for kind in kinds if kind not in {0, 1, 2, 3, 4})


@pytest.mark.parametrize("size", [256 * 1024 + 1, 300 * 1024])
def test_a_body_over_256_kib_is_refused_and_its_neighbours_created(size: int, sqs: Any, dlq_url: str) -> None:
    big = json.dumps({"email": "big@example.com", "firstName": "x" * size})
    event = sqs_event(big, good_body())
    directory = MemoryDirectory()

    response, letters = run(event, directory, sqs, dlq_url)

    assert failures(response) == []
    (letter,) = letters
    assert letter.attributes["errorClass"] == "BodyTooLarge"
    assert_every_record_accounted_for(event, response, letters, directory, POLICY)


def test_ten_large_poison_bodies_all_reach_the_dlq(sqs: Any, dlq_url: str) -> None:
    bodies = [json.dumps({"email": f"large-{i}@example.com", "emial": "typo", "pad": "x" * 200_000}) for i in range(10)]
    response, letters = run(sqs_event(*bodies), MemoryDirectory(), sqs, dlq_url)
    assert failures(response) == []
    assert len(letters) == 10


def test_a_very_high_receive_count_does_not_fail_the_batch(sqs: Any, dlq_url: str) -> None:
    event = sqs_event(json.dumps({"email": "r@example.com", "username": "retry-forever"}), good_body())
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "1025"
    directory = MemoryDirectory()
    response, _ = run(event, directory, sqs, dlq_url)
    assert failures(response) == ["m-0"]


def _index(message_id: str) -> int:
    return int(message_id.removeprefix("m-"))
