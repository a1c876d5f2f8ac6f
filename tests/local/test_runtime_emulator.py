"""Each file in events/ through the path `sam local invoke -e events/<file>` takes: RIE + awslambdaric."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from registrar.domain.registration import InvalidMessage, parse_body
from registrar_local.elasticmq_server import ElasticMqServer
from registrar_local.rie import EmulatedFunction
from registrar_local.samples import EVENTS_DIR
from registrar_local.stack import create_queues, function_env
from registrar_local.stack_settings import read_stack_settings
from tests.kit.aws import letters_by_message
from tests.kit.keycloak import delete_users
from tests.kit.runtime import local_policy

pytestmark = pytest.mark.keycloak

EVENT_FILES = sorted(path for path in EVENTS_DIR.glob("*.json") if "Records" in json.loads(path.read_text()))


@pytest.fixture(scope="module")
def emulated(keycloak_url: str, elasticmq: ElasticMqServer, tmp_path_factory) -> Iterator[tuple[EmulatedFunction, str]]:
    queues = create_queues(elasticmq.sqs(), read_stack_settings(), prefix="rie")
    function = EmulatedFunction(
        function_env(keycloak_url, queues.dlq_url, elasticmq.url),
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
def test_every_event_file_ends_as_users_and_reasoned_dead_letters(emulated, elasticmq, admin, event_file: Path):
    function, dlq_url = emulated
    event = json.loads(event_file.read_text())
    bodies = {record["messageId"]: record["body"] for record in event["Records"]}
    policy = local_policy()
    # Other tests of the session register the same people: were they left in place, a handler that
    # did nothing would still find its users below.
    for body in bodies.values():
        try:
            registration = parse_body(body, policy).registration
        except InvalidMessage:
            continue
        delete_users(admin, registration.login, registration.email)

    response = function.invoke(event)

    # Against a healthy Keycloak nothing is retryable: each record is a user, an
    # "already registered", or a DLQ copy that says why.
    assert response == {"batchItemFailures": []}, response
    letters = letters_by_message(elasticmq.sqs(), dlq_url)
    assert set(letters) <= set(bodies)
    assert all(letter.reason for letter in letters.values())
    if event_file.name == "invalid.json":
        assert set(letters) == set(bodies)
    for message_id in set(bodies) - set(letters):
        # Not dead-lettered: its user, deleted above, can only have come back from this invocation.
        registration = parse_body(bodies[message_id], policy).registration
        found = admin.get_users({"username": registration.login, "exact": True})
        assert found, f"{event_file.name} {message_id}: no user {registration.login}"
        (user,) = found
        expected = registration.to_user_representation(policy.registration_id_attribute)
        fields = ("username", "email", "firstName", "lastName")
        assert {name: user.get(name) for name in fields} == {name: expected.get(name) for name in fields}, message_id
        if registration.registrationId is not None:
            attribute = user.get("attributes", {}).get(policy.registration_id_attribute)
            assert attribute == [registration.registrationId], message_id
