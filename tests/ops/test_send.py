"""send checks every line the way the function will, and sends nothing while a line is bad."""

from __future__ import annotations

import hashlib
import json

import pytest

from registrar_ops.cli import main
from tests.kit.aws import drain, new_queue

GOOD = {"email": "ada@example.com", "registrationId": "reg-1"}


def write(tmp_path, *lines: str):
    path = tmp_path / "registrations.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(autouse=True)
def policy(monkeypatch):
    monkeypatch.setenv("ALLOWED_GROUPS", "/customers")
    for name in ("ALLOWED_ATTRIBUTES", "ALLOWED_REQUIRED_ACTIONS", "ALLOW_PASSWORDS", "REGISTRATION_ID_ATTRIBUTE"):
        monkeypatch.delenv(name, raising=False)


def test_a_bad_line_is_reported_by_number_and_nothing_is_sent(sqs, tmp_path, capsys):
    queue = new_queue(sqs, "source")
    lines = write(
        tmp_path,
        json.dumps(GOOD),
        "{not json",
        json.dumps({"email": "bob@example.com", "groups": ["/admins"]}),
        json.dumps({"email": "eve@example.com", "password": "hunter2-secret"}),
    )
    assert main(["send", str(lines), "--queue-url", queue]) == 1
    out = capsys.readouterr().out
    assert "line 2: body is not JSON" in out
    assert "line 3: groups: Value error, groups not allowed: /admins" in out
    assert "line 4: password: Value error, passwords are not accepted" in out
    assert "hunter2-secret" not in out
    assert "line 1" not in out
    assert "nothing sent" in out
    assert drain(sqs, queue) == []


def test_skip_invalid_sends_the_valid_lines_in_batches(sqs, tmp_path, capsys):
    queue = new_queue(sqs, "source")
    good = [json.dumps({"email": f"u{i}@example.com"}) for i in range(23)]
    lines = write(tmp_path, *good[:12], "[]", *good[12:])
    assert main(["send", str(lines), "--queue-url", queue, "--skip-invalid"]) == 0
    out = capsys.readouterr().out
    assert "line 13: registration must be a JSON object, got list" in out
    assert "sent 23 of 23 valid lines" in out
    assert sorted(m["Body"] for m in drain(sqs, queue)) == sorted(good)


def test_the_deployment_policy_can_be_given_as_options(sqs, tmp_path):
    queue = new_queue(sqs, "source")
    lines = write(tmp_path, json.dumps({"email": "ada@example.com", "groups": ["/vip"]}))
    assert main(["send", str(lines), "--queue-url", queue]) == 1
    assert main(["send", str(lines), "--queue-url", queue, "--allowed-groups", "/vip"]) == 0
    assert len(drain(sqs, queue)) == 1


def test_fifo_gets_a_group_per_person_and_the_registration_id_or_a_hash_for_deduplication(sqs, tmp_path):
    queue = new_queue(sqs, "source", FifoQueue="true")
    without_id = json.dumps({"email": "bob@example.com"})
    lines = write(tmp_path, json.dumps(GOOD), without_id, json.dumps({"email": "ADA@example.com"}))
    assert main(["send", str(lines), "--queue-url", queue]) == 0
    by_body = {m["Body"]: m["Attributes"] for m in drain(sqs, queue)}
    assert by_body[json.dumps(GOOD)]["MessageDeduplicationId"] == "reg-1"
    assert by_body[without_id]["MessageDeduplicationId"] == hashlib.sha256(without_id.encode()).hexdigest()
    groups = {body: attributes["MessageGroupId"] for body, attributes in by_body.items()}
    # The same person (emails compare lower-cased) shares a group; another person does not.
    assert groups[json.dumps(GOOD)] == groups[json.dumps({"email": "ADA@example.com"})]
    assert groups[json.dumps(GOOD)] != groups[without_id]
    assert "ada@example.com" not in groups.values()


def test_a_fixed_group_id_applies_to_every_line(sqs, tmp_path):
    queue = new_queue(sqs, "source", FifoQueue="true")
    lines = write(tmp_path, json.dumps(GOOD), json.dumps({"email": "bob@example.com"}))
    assert main(["send", str(lines), "--queue-url", queue, "--group-id", "import-7"]) == 0
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])[
        "Messages"
    ]
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"import-7"}
