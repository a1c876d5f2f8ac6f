"""Passwords carried by messages and the client secret never leave the function.

Not in its log lines, not in any library's log, not in an exception (raised anywhere, chained
or not), not in the EMF metrics, not in a DLQ copy (body or attributes), not in the answer.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from keycloak import KeycloakAdmin

from registrar import handler
from registrar.domain.registration import REDACTED, InvalidMessage, RegistrationPolicy, parse_body, redact_body
from registrar.runtime import Runtime
from registrar_local.keycloak_server import CLIENT_SECRET
from tests.kit.aws import Letter, dead_letters
from tests.kit.events import eventbridge_body, failures, lambda_context, registrations_event, sns_body, synthetic_record
from tests.kit.logs import LogCapture
from tests.kit.secrecy import every_exception, exception_texts


class Secrets:
    """Distinct secret values, each carrying a marker that is searched for in every output."""

    def __init__(self) -> None:
        self.markers: list[str] = []

    def new(self, shape: Callable[[str], str], length: int = 10, digits: bool = False) -> str:
        marker = str(uuid.uuid4().int)[:length] if digits else uuid.uuid4().hex[:length]
        self.markers.append(marker)
        return shape(marker)

    def found_in(self, text: str) -> list[str]:
        return [marker for marker in self.markers if marker in text]


@pytest.mark.parametrize(
    "body",
    [
        sns_body({"email": "a@x.io", "password": "hunter2-secret-1"}, padding=" \n"),
        sns_body({"email": "a@x.io", "password": "hunter2-secret-1"}, padding="\t"),
        sns_body(json.dumps({"password": "hunter2-secret-1"})),
        sns_body([{"password": "hunter2-secret-1"}]),
        eventbridge_body({"email": "a@x.io", "password": "hunter2-secret-1", "emial": "typo"}),
        json.dumps({"email": "a@x.io", "Password": "hunter2-secret-1"}),
        '{"email": "a@x.io", "password": 12345678901234567890' + "1" * 5000 + "}",
    ],
    ids=["sns-padded", "sns-tab", "sns-double-encoded", "sns-array", "eventbridge", "capitalised", "huge-number"],
)
def test_redaction_finds_the_password_behind_any_envelope(body: str) -> None:
    redacted = redact_body(body)
    assert "hunter2" not in redacted
    assert "12345678901234567890" not in redacted
    assert REDACTED in redacted


def test_a_refused_password_is_not_chained_to_the_refusal() -> None:
    # parse_body raises `from None`, but the schema error stays reachable as __context__.
    body = json.dumps({"email": "a@example.com", "password": "hunter2-chained", "realmRoles": ["admin"]})
    with pytest.raises(InvalidMessage) as refused:
        parse_body(body, RegistrationPolicy())
    assert "hunter2" not in exception_texts([refused.value])
    body = json.dumps({"email": "a@example.com", "credentials": [{"type": "password", "value": "hunter2-blob"}]})
    with pytest.raises(InvalidMessage) as refused:
        parse_body(body, RegistrationPolicy(allow_passwords=True))
    assert "hunter2" not in exception_texts([refused.value])


def invoke(runtime: Runtime, event: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Through the Lambda entry point, so the EMF metrics are written as in Lambda."""
    monkeypatch.setattr(handler, "current_runtime", lambda: runtime)
    response: dict[str, Any] = handler.lambda_handler(event, lambda_context())
    return response


def everything_let_out(
    response: Any,
    logs: LogCapture,
    library: io.StringIO,
    raised: list[BaseException],
    printed: str,
    letters: list[Letter],
) -> dict[str, str]:
    return {
        "answer": json.dumps(response),
        "function log": logs.text(),
        "library log": library.getvalue(),
        "exceptions": exception_texts(raised),
        "stdout/stderr (EMF)": printed,
        "DLQ copies": "\n".join(letter.text() for letter in letters),
    }


@pytest.mark.keycloak
@pytest.mark.parametrize("allow_passwords", [True, False], ids=["passwords-allowed", "passwords-refused"])
def test_passwords_and_the_client_secret_never_leave_the_function(
    allow_passwords: bool,
    make_runtime: Callable[..., Runtime],
    admin: KeycloakAdmin,
    tag: str,
    sqs: Any,
    dlq_url: str,
    function_logs: LogCapture,
    library_logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = Secrets()
    good = f"{tag}-good@example.com"
    short = f"{tag}-short@example.com"
    wrapped = f"{tag}-wrapped@example.com"
    bodies = {
        # Long enough for the realm's length(12) policy.
        "good": json.dumps({"email": good, "password": secrets.new(lambda m: f"Long-{m}-Pw")}),
        # Too short: Keycloak answers 400 when passwords are allowed.
        "short": json.dumps({"email": short, "password": secrets.new(str, length=9)}),
        "sns-short": sns_body({"email": wrapped, "password": secrets.new(str, length=9)}, padding=" "),
        "eventbridge": eventbridge_body(
            {"email": f"{tag}-eb@example.com", "password": secrets.new(lambda m: f"E-{m}-pw")}
        ),
        "credentials": json.dumps(
            {
                "email": f"{tag}-cred@example.com",
                "credentials": [{"type": "password", "value": secrets.new(lambda m: f"C-{m}-pw")}],
            }
        ),
        "typo": json.dumps(
            {"email": f"{tag}-typo@example.com", "emial": "x", "password": secrets.new(lambda m: f'Q"\\é-{m}-pw')}
        ),
        "number": f'{{"email": "{tag}-n@example.com", "password": 7{secrets.new(str, length=14, digits=True)}}}',
        "broken": f'{{"email": "{tag}-b@example.com", "password": "{secrets.new(lambda m: f"B-{m}")}", ',
    }
    event = {"Records": [synthetic_record(name, body) for name, body in bodies.items()]}
    runtime = make_runtime(ALLOW_PASSWORDS="true" if allow_passwords else "false")

    with every_exception() as raised:
        response = invoke(runtime, event, monkeypatch)
    printed = capsys.readouterr()
    letters = dead_letters(sqs, dlq_url)

    outputs = everything_let_out(response, function_logs, library_logs, raised, printed.out + printed.err, letters)
    for name, text in outputs.items():
        assert not secrets.found_in(text), f"a password in the {name}"
        assert CLIENT_SECRET not in text, f"the client secret in the {name}"
    assert '"_aws"' in printed.out, "the EMF metrics were not written"

    assert failures(response) == []
    by_record = {letter.original_message_id: letter for letter in letters}
    if allow_passwords:
        assert set(by_record) == set(bodies) - {"good", "eventbridge"}
        assert len(admin.get_users({"email": good, "exact": True})) == 1
        assert len(admin.get_users({"email": f"{tag}-eb@example.com", "exact": True})) == 1
        for name in ("short", "sns-short"):
            refused = by_record[name]
            assert refused.attributes["httpStatus"] == "400"
            assert "password" in refused.reason.lower(), refused.reason
        # A refused password leaves no half-made user behind.
        assert admin.get_users({"email": short, "exact": True}) == []
        assert admin.get_users({"email": wrapped, "exact": True}) == []
    else:
        assert set(by_record) == set(bodies)
        for name in ("good", "short", "sns-short"):
            assert "passwords are not accepted" in by_record[name].reason
        assert admin.get_users({"search": tag}) == []
    for letter in letters:
        assert REDACTED in letter.body


@pytest.mark.keycloak
def test_a_refused_client_secret_is_never_echoed(
    make_runtime: Callable[..., Runtime],
    sqs: Any,
    dlq_url: str,
    tag: str,
    function_logs: LogCapture,
    library_logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    runtime = make_runtime(KEYCLOAK_CLIENT_SECRET=wrong)
    event = registrations_event(tag, 3)

    with every_exception() as raised:
        response = invoke(runtime, event, monkeypatch)
    printed = capsys.readouterr()
    letters = dead_letters(sqs, dlq_url)

    assert sorted(failures(response)) == ["m-0", "m-1", "m-2"]
    assert any("401" in str(error) for error in raised), "the token request was not refused"
    outputs = everything_let_out(response, function_logs, library_logs, raised, printed.out + printed.err, letters)
    for name, text in outputs.items():
        assert wrong not in text, f"the refused client secret in the {name}"
    assert any(line["level"] in {"WARNING", "ERROR"} and "token" in line["message"] for line in function_logs.lines())
