"""What the summary and the dashboard picture are computed from: EMF lines, log lines, samples (no servers)."""

from __future__ import annotations

import json

from registrar_local.dashboard import RunData, build, dashboard_widgets
from registrar_local.environments import DUPLICATE_IN_BATCH_METRIC, MetricTotals, emf_metrics, handled_line
from registrar_local.function_api import METRICS_NAMESPACE, MetricName
from registrar_local.poller import BatchReport
from registrar_local.run_report import QueueSample, percentile
from registrar_local.stack import ConsumerRun


def emf_line(**values: float) -> str:
    units = {MetricName.KEYCLOAK_LATENCY.value: "Milliseconds"}
    return json.dumps(
        {
            "_aws": {
                "Timestamp": 0,
                "CloudWatchMetrics": [
                    {
                        "Namespace": METRICS_NAMESPACE,
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": name, "Unit": units.get(name, "Count")} for name in values],
                    }
                ],
            },
            "service": "sqs-keycloak-registrar",
            **values,
        }
    )


def test_counts_are_summed_and_latencies_kept_one_by_one():
    line = emf_line(RegistrationsCreated=9, KeycloakLatency=12.5)
    parsed = emf_metrics(line)
    assert parsed is not None
    counts, samples = parsed
    assert counts == {"RegistrationsCreated": 9.0}
    assert samples == {"KeycloakLatency": [12.5]}
    assert emf_metrics('{"message": "not EMF"}') is None


def test_the_per_registration_log_line_gives_id_outcome_and_copies():
    line = json.dumps({"message": "registration handled", "message_id": "m-1", "outcome": "created", "copies": 2})
    assert handled_line(line) == ("m-1", "created", 2)
    assert handled_line(json.dumps({"message": "batch handled", "records": 10})) is None
    assert handled_line("registration handled, but not JSON") is None


def test_duplicates_come_from_the_copies_until_the_function_counts_them_itself():
    totals = MetricTotals()
    totals.record_handled("created", copies=3, latency_seconds=1.0)
    totals.record_handled("already_registered", copies=1, latency_seconds=2.0)
    assert totals.duplicates_in_batch() == 2
    assert totals.created_latencies() == [1.0]
    totals.add({DUPLICATE_IN_BATCH_METRIC: 5})
    assert totals.duplicates_in_batch() == 5


def test_percentile_is_the_nearest_rank():
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.5) is None


def test_every_widget_of_the_template_is_read_and_aws_only_lines_are_named():
    widgets = dashboard_widgets()
    titles = [widget.title for widget in widgets]
    assert len(titles) == len(set(titles)) >= 8
    run = ConsumerRun()
    start = 1_700_000_000.0
    for step in range(20):
        at = start + step
        run.metrics.add(
            dict.fromkeys((name.value for name in MetricName if name != MetricName.KEYCLOAK_LATENCY), 1), at
        )
        run.metrics.add_samples({MetricName.KEYCLOAK_LATENCY.value: [20.0, 40.0]}, at)
        run.on_batch(BatchReport(10, 10, 0, None, at, 50.0))
    samples = [QueueSample(start + step, 100 - step, 10, 0) for step in range(20)]
    drawn = {item.widget.title: item for item in build(widgets, RunData.of(run, samples))}
    for item in drawn.values():
        if item.function_metrics:
            assert item.series
            assert all(series.points for series in item.series)
            assert item.aws_only == []
    throttles = next(item for item in drawn.values() if "throttles" in item.aws_only)
    assert {series.label for series in throttles.series} == {"invocations", "errors"}
    assert any(item.widget.kind == "alarm" and item.aws_only for item in drawn.values())
