"""The dashboard and the alarms watch the queues, the function and every metric the function emits."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

import pytest

from registrar.observability import METRICS_NAMESPACE, SERVICE_NAME, MetricName
from tests.template.sam import REPO, resources_of_type

PLACEHOLDER = re.compile(r"\$\{([^}!]+)\}")
PSEUDO_PARAMETERS = {"AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName", "AWS::URLSuffix"}
SERVICE_DIMENSION = (("service", SERVICE_NAME),)


def dashboard_source(template: dict[str, Any]) -> str:
    body = template["Resources"]["RegistrarDashboard"]["Properties"]["DashboardBody"]
    return body["Fn::Sub"]


def dashboard(template: dict[str, Any]) -> dict[str, Any]:
    """The body with every ${...} replaced by 1, which keeps it JSON wherever it stands."""
    return json.loads(PLACEHOLDER.sub("1", dashboard_source(template)))


def dashboard_metrics(body: dict[str, Any]) -> list[tuple[str, str, tuple[tuple[str, str], ...], str]]:
    """(namespace, metric, dimensions, stat) of every metric line; "." repeats the line above, as in the console."""
    found = []
    for widget in body["widgets"]:
        if widget["type"] != "metric":
            continue
        previous: list[Any] = []
        for line in widget["properties"]["metrics"]:
            options = line[-1] if isinstance(line[-1], dict) else {}
            parts = [part for part in line if not isinstance(part, dict)]
            parts = [previous[i] if part == "." and i < len(previous) else part for i, part in enumerate(parts)]
            previous = parts
            assert "expression" not in options, "metric math hides metric names from this check"
            namespace, name, *dimensions = parts
            pairs = tuple(zip(dimensions[0::2], dimensions[1::2], strict=True))
            stat = options.get("stat", widget["properties"].get("stat", "Average"))
            found.append((namespace, name, pairs, stat))
    return found


def raw_dimension_values(template: dict[str, Any]) -> set[str]:
    """The unsubstituted dimension values of the dashboard (${RegistrationQueue.QueueName} and so on)."""
    return set(
        re.findall(r'"(?:QueueName|FunctionName|EventSourceMappingUUID)", "([^"]+)"', dashboard_source(template))
    )


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: body["Properties"] for name, body in resources_of_type(template, "AWS::CloudWatch::Alarm").items()}


def alarm_dimensions(alarm: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple((item["Name"], item["Value"]) for item in alarm.get("Dimensions", []))


# --- the dashboard -------------------------------------------------------------------------------


def test_the_dashboard_body_is_json_whose_placeholders_all_resolve(translated):
    source = dashboard_source(translated)
    body = dashboard(translated)

    assert body["widgets"]
    known = set(translated["Parameters"]) | set(translated["Resources"]) | PSEUDO_PARAMETERS
    for placeholder in PLACEHOLDER.findall(source):
        assert placeholder.split(".")[0] in known, placeholder


def test_every_metric_the_function_emits_is_on_the_dashboard_and_no_other(translated):
    custom = [line for line in dashboard_metrics(dashboard(translated)) if line[0] == METRICS_NAMESPACE]

    on_dashboard = {name for _, name, _, _ in custom}
    emitted = {metric.value for metric in MetricName}
    assert on_dashboard - emitted == set(), "the dashboard shows metrics the function does not emit"
    assert emitted - on_dashboard == set(), "metrics the function emits are missing from the dashboard"
    for _, name, dimensions, _ in custom:
        assert dimensions == SERVICE_DIMENSION, (name, dimensions)


def test_keycloak_latency_is_shown_as_p50_and_p99(translated):
    stats = {
        stat for _, name, _, stat in dashboard_metrics(dashboard(translated)) if name == MetricName.KEYCLOAK_LATENCY
    }

    assert {"p50", "p99"} <= stats


def test_the_dashboard_shows_the_queues_and_the_function(translated):
    lines = dashboard_metrics(dashboard(translated))
    by_metric: dict[tuple[str, str], set[str]] = defaultdict(set)
    for namespace, name, _, stat in lines:
        by_metric[namespace, name].add(stat)

    for metric in ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"):
        assert ("AWS/SQS", metric) in by_metric, metric
    for metric in ("Invocations", "Errors", "Throttles", "ConcurrentExecutions"):
        assert ("AWS/Lambda", metric) in by_metric, metric
    assert {"p50", "p99"} <= by_metric["AWS/Lambda", "Duration"]
    assert raw_dimension_values(translated) == {
        "${RegistrationQueue.QueueName}",
        "${RegistrationDLQ.QueueName}",
        "${RegistrationFunction}",
        "${RegistrationFunctionRegistrations}",
    }
    depth_queues = re.findall(
        r'"ApproximateNumberOfMessagesVisible", "QueueName", "\$\{(\w+)\.QueueName\}"', dashboard_source(translated)
    )
    assert set(depth_queues) == {"RegistrationQueue", "RegistrationDLQ"}


# The counts Lambda publishes for an SQS mapping with MetricsConfig EventCount, in AWS/Lambda by
# EventSourceMappingUUID (Lambda developer guide, "Event source mapping metrics").
MAPPING_METRICS = {"PolledEventCount", "InvokedEventCount", "FailedInvokeEventCount", "DeletedEventCount"}


def test_the_mappings_own_counts_are_beside_the_queue(translated):
    (mapping_name,) = resources_of_type(translated, "AWS::Lambda::EventSourceMapping")
    widgets = dashboard(translated)["widgets"]
    lines = re.findall(
        r'\["AWS/Lambda", "(\w+)", "EventSourceMappingUUID", "\$\{(\w+)\}"', dashboard_source(translated)
    )

    assert translated["Resources"][mapping_name]["Properties"]["MetricsConfig"] == {"Metrics": ["EventCount"]}
    assert {metric for metric, _ in lines} == MAPPING_METRICS
    assert {resource for _, resource in lines} == {mapping_name}, "Ref of a mapping is its UUID"
    for _, name, _, stat in dashboard_metrics(dashboard(translated)):
        if name in MAPPING_METRICS:
            assert stat == "Sum"
    titles = [widget["properties"].get("title", "") for widget in widgets]
    queue, beside = titles.index("Registration queue"), titles.index("Event source mapping (records per minute)")
    assert widgets[queue]["y"] == widgets[beside]["y"]
    assert widgets[beside]["x"] == widgets[queue]["x"] + widgets[queue]["width"]


def test_widgets_do_not_overlap(translated):
    taken: set[tuple[int, int]] = set()
    for widget in dashboard(translated)["widgets"]:
        cells = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not cells & taken, widget["properties"].get("title")
        assert widget["x"] + widget["width"] <= 24
        taken |= cells


def test_a_logs_insights_widget_lists_recent_failures(translated):
    (widget,) = [widget for widget in dashboard(translated)["widgets"] if widget["type"] == "log"]
    raw_query = re.search(r'"query": "(SOURCE [^\n]*)"', dashboard_source(translated))
    query = widget["properties"]["query"]

    assert raw_query is not None
    assert "SOURCE '${RegistrationFunctionLogGroup}'" in raw_query.group(1)
    assert re.search(r"outcome not in \[\"created\", \"already_registered\"\]", query)
    assert re.search(r"level in \[[^\]]*\"ERROR\"[^\]]*\"WARNING\"", query)
    assert "sort @timestamp desc" in query


def test_the_alarm_widget_lists_every_alarm(translated):
    (widget,) = [widget for widget in dashboard(translated)["widgets"] if widget["type"] == "alarm"]
    names = {alarm["AlarmName"]["Fn::Sub"] for alarm in alarms(translated).values()}
    listed = {
        arn.rpartition(":alarm:")[2] for arn in re.findall(r'"(arn:[^"]+:alarm:[^"]+)"', dashboard_source(translated))
    }

    assert len(widget["properties"]["alarms"]) == len(names)
    assert listed == names


# --- the alarms ----------------------------------------------------------------------------------


def test_alarms_on_the_functions_metrics_use_its_names_and_dimension(translated):
    custom = [alarm for alarm in alarms(translated).values() if alarm["Namespace"] == METRICS_NAMESPACE]

    assert custom
    for alarm in custom:
        assert alarm["MetricName"] in {metric.value for metric in MetricName}, alarm["MetricName"]
        assert alarm_dimensions(alarm) == SERVICE_DIMENSION


def find_alarm(template: dict[str, Any], namespace: str, metric: str) -> dict[str, Any]:
    matching = [a for a in alarms(template).values() if a["Namespace"] == namespace and a["MetricName"] == metric]
    assert len(matching) == 1, (namespace, metric, matching)
    return matching[0]


def test_an_alarm_fires_on_any_message_in_the_dlq(translated):
    alarm = find_alarm(translated, "AWS/SQS", "ApproximateNumberOfMessagesVisible")

    assert alarm_dimensions(alarm) == (("QueueName", {"Fn::GetAtt": ["RegistrationDLQ", "QueueName"]}),)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert float(alarm["Threshold"]) == 0


def test_an_alarm_fires_when_the_oldest_registration_waits_too_long(translated):
    alarm = find_alarm(translated, "AWS/SQS", "ApproximateAgeOfOldestMessage")

    assert alarm_dimensions(alarm) == (("QueueName", {"Fn::GetAtt": ["RegistrationQueue", "QueueName"]}),)
    assert alarm["Threshold"] == {"Ref": "QueueAgeAlarmThresholdSeconds"}
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize("metric", ["Throttles", "Errors"])
def test_an_alarm_fires_on_any_function_throttle_or_error(translated, metric):
    alarm = find_alarm(translated, "AWS/Lambda", metric)

    assert alarm_dimensions(alarm) == (("FunctionName", {"Ref": "RegistrationFunction"}),)
    assert alarm["Statistic"] == "Sum"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert float(alarm["Threshold"]) == 0


def test_an_alarm_fires_when_registrations_stay_retryable_for_several_periods(translated):
    alarm = find_alarm(translated, METRICS_NAMESPACE, MetricName.RETRYABLE)

    assert alarm["Statistic"] == "Sum"
    assert int(alarm["EvaluationPeriods"]) >= 3
    assert int(alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"])) >= 3
    assert alarm["Threshold"] == {"Ref": "RetryableAlarmThreshold"}


def test_every_alarm_notifies_the_alarm_topic_which_may_mail_someone(translated):
    for name, alarm in alarms(translated).items():
        assert {"Ref": "AlarmTopic"} in alarm["AlarmActions"], name
    (subscription,) = [
        body
        for body in resources_of_type(translated, "AWS::SNS::Subscription").values()
        if body["Properties"]["Protocol"] == "email"
    ]

    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert subscription["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"}
    assert translated["Parameters"]["AlarmEmail"]["Default"] == ""
    assert translated["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}


# --- the runbook ---------------------------------------------------------------------------------


def github_anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def runbook_entries() -> dict[str, str]:
    """The README's runbook: each entry's anchor and its text."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Runbook\n", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^### (.+)$", section, flags=re.MULTILINE)
    return {github_anchor(heading): text for heading, text in zip(parts[1::2], parts[2::2], strict=True)}


def test_every_alarm_links_its_own_runbook_entry_and_every_entry_has_an_alarm(translated):
    entries = runbook_entries()
    linked = {}
    for name, alarm in alarms(translated).items():
        description = alarm["AlarmDescription"]["Fn::Sub"]
        found = re.search(r"Runbook: \$\{RunbookUrl\}#([\w-]+)$", description)
        assert found, f"{name} does not end with its runbook link"
        anchor = found.group(1)
        assert anchor in entries, f"{name} links #{anchor}, which the README's runbook does not have"
        assert alarm["AlarmName"]["Fn::Sub"] == f"${{AWS::StackName}}-{anchor}", "the entry is named after the alarm"
        linked[anchor] = name
        assert len(description) < 1024 - 512, "AlarmDescription is at most 1024 characters, RunbookUrl 512"

    assert set(linked) == set(entries)


@pytest.mark.parametrize("anchor", sorted(runbook_entries()))
def test_each_runbook_entry_says_what_it_means_what_to_check_and_how_to_recover(anchor):
    text = runbook_entries()[anchor]

    assert "**Means**" in text
    checks = re.findall(r"^\d\. ", text.split("**Check**", 1)[1].split("**Recover**", 1)[0], flags=re.MULTILINE)
    assert len(checks) >= 3, "the first three things to check"
    assert "**Recover**" in text
    assert "`" in text, "exact commands or console places"
