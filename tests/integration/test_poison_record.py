"""One record that Keycloak always fails never defers anyone else (the breaker measures Keycloak)."""

from __future__ import annotations

from registrar.domain.deadline import Deadline
from registrar.domain.resilience import CircuitState
from registrar.processor import process_event
from registrar_local.fault_proxy import Faults
from tests.kit.aws import dead_letters
from tests.kit.events import body, failures, synthetic_record

MAX_RECEIVE_COUNT = 5


def test_a_record_failing_at_every_receive_defers_no_other_record(
    proxy, make_runtime, admin, tag, sqs, dlq_url, function_logs
):
    poison_name = f"{tag}-poison"
    proxy.faults = Faults(status=500, body_contains=poison_name.encode())
    runtime = make_runtime(KEYCLOAK_URL=proxy.url, MAX_RECEIVE_COUNT=str(MAX_RECEIVE_COUNT))
    poison = body(email=f"{poison_name}@example.com", username=poison_name)
    healthy = 0
    for receive in range(1, MAX_RECEIVE_COUNT + 1):
        alone = {"Records": [synthetic_record("poison", poison, receive)]}
        process_event(alone, Deadline.after(30, 2000), runtime)
        records = [synthetic_record("poison", poison, receive)] + [
            synthetic_record(f"h{receive}-{i}", body(email=f"{tag}-{receive}-{i}@example.com"), 1) for i in range(9)
        ]
        healthy += 9
        response = process_event({"Records": records}, Deadline.after(30, 2000), runtime)
        assert set(failures(response)) <= {"poison"}
        assert runtime.breaker.state is CircuitState.CLOSED

    handled = function_logs.named("registration handled")
    others = [line for line in handled if line["message_id"] != "poison"]
    assert len(others) == healthy
    assert {line["outcome"] for line in others} == {"created"}
    assert not [line for line in handled if line["outcome"] == "deferred"]
    assert proxy.injected > 0
    assert len(admin.get_users({"search": tag})) == healthy
    # At the last receive the poison came alone and inside a batch: each delivery sent its copy.
    assert [letter.outcome for letter in dead_letters(sqs, dlq_url)] == ["retries_exhausted"] * 2
