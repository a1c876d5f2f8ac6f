"""Each file in events/ through the path `sam local invoke -e events/<file>` takes: RIE + awslambdaric."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from registrar.domain.registration import parse_body
from registrar_local.elasticmq_server import ElasticMqServer
from registrar_local.rie import EmulatedFunction
from registrar_local.samples import EVENTS_DIR
from registrar_local.stack import create_queues, function_env
from registrar_local.stack_settings import read_stack_settings
from tests.kit.aws import dead_letters
from tests.kit.runtime import local_policy

pytestmark = pytest.mark.keycloak

EVENT_FILES = sorted(path for path in EVENTS_DIR.glob("*.json") if "Records" in json.loads(path.read_text()))


@pytest.fixture(scope="module")
def sqs_server() -> Iterator[ElasticMqServer]:
    server = ElasticMqServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def emulated(
    keycloak_url: str, sqs_server: ElasticMqServer, tmp_path_factory
) -> Iterator[tuple[EmulatedFunction, str]]:
    queues = create_queues(sqs_server.sqs(), read_stack_settings(), prefix="rie")
    function = EmulatedFunction(
        function_env(keycloak_url, queues.dlq_url, sqs_server.url),
        log_path=tmp_path_factory.mktemp("rie") / "rie.log",
    ).start()
    yield function, queues.dlq_url
    function.stop()


def test_events_directory_has_the_documented_files():
    assert {path.name for path in EVENT_FILES} >= {
        "new-users.json",
        "duplicates.json",
        "invalid.json",
        "sns-wrapped.json",
        "eventbridge-wrapped.json",
    }


@pytest.mark.parametrize("event_file", EVENT_FILES, ids=lambda path: path.name)
def test_every_event_file_ends_as_users_and_reasoned_dead_letters(emulated, sqs_server, admin, event_file: Path):
    function, dlq_url = emulated
    event = json.loads(event_file.read_text())
    bodies = {record["messageId"]: record["body"] for record in event["Records"]}

    response = function.invoke(event)

    # Against a healthy Keycloak nothing is retryable: each record is a user, an
    # "already registered", or a DLQ copy that says why.
    assert response == {"batchItemFailures": []}, response
    letters = {letter.original_message_id: letter for letter in dead_letters(sqs_server.sqs(), dlq_url)}
    assert set(letters) <= set(bodies)
    assert all(letter.reason for letter in letters.values())
    if event_file.name == "invalid.json":
        assert set(letters) == set(bodies)
    for message_id in set(bodies) - set(letters):
        # Not dead-lettered: its user must exist (created now, or already registered before).
        email = parse_body(bodies[message_id], local_policy()).registration.email
        assert admin.get_users({"email": email, "exact": True}), f"{event_file.name} {message_id}: no user {email}"
