"""The same user created from two function processes at the same moment: one user, and each 409 resolved right.

Both environments are warm (token fetched) and fire at one barrier, each with the same ten
registrations in one batch, so Keycloak sees ten pairs of simultaneous creates. Whatever a lost
race returns first (409, or a 5xx when the database's unique constraint catches it), redelivery
must end every pair as one user, and each copy as `created`, `already registered` or a
`conflict` in the DLQ, as the pair's fields say.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from keycloak import KeycloakAdmin

from registrar.observability import MetricName
from registrar_local.environments import FunctionEnvironment, MetricTotals
from registrar_local.stack import LocalStack, local_stack
from tests.kit.aws import drain
from tests.kit.events import sqs_event

pytestmark = pytest.mark.keycloak

PAIRS = 10
# Redeliveries allowed for a copy that lost its race with a retryable answer.
REDELIVERIES = 4


@dataclass(frozen=True)
class PairRun:
    metrics: dict[str, float]
    dead_letters: list[dict[str, Any]]
    left_over: int


def registration(username: str, email: str) -> str:
    return json.dumps({"username": username, "email": email, "firstName": "Ada", "lastName": "Race"})


def create_from_two_processes(stack: LocalStack, batch_a: list[str], batch_b: list[str], tmp_path: Path) -> PairRun:
    """Invoke two warm environments at once, one batch each; redeliver what either reports failed."""
    metrics = MetricTotals()
    environment = {**stack.function_environment(), "MAX_WORKERS": str(PAIRS)}
    environments = [FunctionEnvironment(environment, 30, tmp_path / f"function-{side}.log", metrics) for side in "ab"]
    try:
        # A throwaway user each gets both environments their token (and imports) before the race.
        for side, env in zip("ab", environments, strict=True):
            warm_up = registration(f"warm-{uuid.uuid4().hex[:10]}", f"warm-{uuid.uuid4().hex[:10]}@example.com")
            env.invoke(sqs_event(warm_up, prefix=f"warm-{side}"))
        before = metrics.snapshot()
        pending = [sqs_event(*batch, prefix=side) for side, batch in zip("ab", (batch_a, batch_b), strict=True)]
        for receive_count in range(2, REDELIVERIES + 3):
            responses = invoke_together(environments, pending)
            pending = [
                redelivery(event, response, receive_count) for event, response in zip(pending, responses, strict=True)
            ]
            if not any(event["Records"] for event in pending):
                break
    finally:
        for env in environments:
            env.close()
    race = {name: value - before.get(name, 0) for name, value in metrics.snapshot().items()}
    left_over = sum(len(event["Records"]) for event in pending)
    return PairRun(race, drain(stack.sqs(), stack.queues.dlq_url), left_over)


def invoke_together(environments: list[FunctionEnvironment], events: list[dict[str, Any]]) -> list[Any]:
    """Each environment invokes its event (if it has records) as soon as all of them are ready."""
    active = [index for index, event in enumerate(events) if event["Records"]]
    barrier = threading.Barrier(len(active))
    responses: list[Any] = [None] * len(environments)

    def invoke(index: int) -> None:
        barrier.wait()
        responses[index] = environments[index].invoke(events[index])

    threads = [threading.Thread(target=invoke, args=(index,)) for index in active]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def redelivery(event: dict[str, Any], response: Any, receive_count: int) -> dict[str, Any]:
    """The records the function reported as failed, as SQS would deliver them again."""
    failed = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures") or []}
    records = []
    for record in event["Records"]:
        if record["messageId"] in failed:
            records.append(
                {**record, "attributes": {**record["attributes"], "ApproximateReceiveCount": str(receive_count)}}
            )
    return {"Records": records}


@pytest.fixture
def stack(keycloak_url: str) -> Any:
    with local_stack(keycloak_url=keycloak_url) as running:
        yield running


def users_named(admin: KeycloakAdmin, username: str) -> list[dict[str, Any]]:
    return list(admin.get_users({"username": username, "exact": True}))


def users_with_email(admin: KeycloakAdmin, email: str) -> list[dict[str, Any]]:
    return list(admin.get_users({"email": email, "exact": True}))


def counted(run: PairRun, name: MetricName) -> int:
    return int(run.metrics.get(name, 0))


def race_row(case: str, run: PairRun) -> str:
    """One line for the README (pytest -s prints it): how the races went on this database."""
    return "duplicate race: " + json.dumps(
        {
            "case": case,
            "created": counted(run, MetricName.CREATED),
            "already registered": counted(run, MetricName.ALREADY_REGISTERED),
            "conflict": counted(run, MetricName.CONFLICT),
            "retried": counted(run, MetricName.RETRYABLE),
        }
    )


def test_the_same_person_from_two_processes_at_once_is_one_user_created_and_one_already_registered(
    stack, admin, tag, tmp_path
):
    batch = [registration(f"{tag}-same-{i}", f"{tag}-same-{i}@example.com") for i in range(PAIRS)]
    run = create_from_two_processes(stack, batch, list(batch), tmp_path)

    print(race_row("same username and email", run))
    assert run.left_over == 0
    assert run.dead_letters == []
    assert counted(run, MetricName.CREATED) == PAIRS
    assert counted(run, MetricName.ALREADY_REGISTERED) == PAIRS
    for i in range(PAIRS):
        users = users_named(admin, f"{tag}-same-{i}")
        assert [user["email"] for user in users] == [f"{tag}-same-{i}@example.com"]


def test_one_username_with_two_emails_at_once_is_one_user_and_one_conflict_in_the_dlq(stack, admin, tag, tmp_path):
    batch_a = [registration(f"{tag}-name-{i}", f"{tag}-a-{i}@example.com") for i in range(PAIRS)]
    batch_b = [registration(f"{tag}-name-{i}", f"{tag}-b-{i}@example.com") for i in range(PAIRS)]
    run = create_from_two_processes(stack, batch_a, batch_b, tmp_path)

    print(race_row("same username, two emails", run))
    assert run.left_over == 0
    assert counted(run, MetricName.CREATED) == PAIRS
    assert counted(run, MetricName.CONFLICT) == PAIRS
    assert_conflicts_in_dlq(run)
    for i in range(PAIRS):
        users = users_named(admin, f"{tag}-name-{i}")
        assert len(users) == 1
        assert users[0]["email"] in {f"{tag}-a-{i}@example.com", f"{tag}-b-{i}@example.com"}
        loser = ({f"{tag}-a-{i}@example.com", f"{tag}-b-{i}@example.com"} - {users[0]["email"]}).pop()
        assert users_with_email(admin, loser) == []


def test_one_email_with_two_usernames_at_once_is_one_user_and_one_conflict_in_the_dlq(stack, admin, tag, tmp_path):
    batch_a = [registration(f"{tag}-a-{i}", f"{tag}-mail-{i}@example.com") for i in range(PAIRS)]
    batch_b = [registration(f"{tag}-b-{i}", f"{tag}-mail-{i}@example.com") for i in range(PAIRS)]
    run = create_from_two_processes(stack, batch_a, batch_b, tmp_path)

    print(race_row("same email, two usernames", run))
    assert run.left_over == 0
    assert counted(run, MetricName.CREATED) == PAIRS
    assert counted(run, MetricName.CONFLICT) == PAIRS
    assert_conflicts_in_dlq(run)
    for i in range(PAIRS):
        users = users_with_email(admin, f"{tag}-mail-{i}@example.com")
        assert len(users) == 1
        assert users[0]["username"] in {f"{tag}-a-{i}", f"{tag}-b-{i}"}


def assert_conflicts_in_dlq(run: PairRun) -> None:
    assert len(run.dead_letters) == PAIRS
    for letter in run.dead_letters:
        attributes = letter["MessageAttributes"]
        assert attributes["outcome"]["StringValue"] == "conflict"
        assert attributes["httpStatus"]["StringValue"] == "409"
