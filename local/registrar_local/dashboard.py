"""A local run drawn as template.yaml's CloudWatch dashboard: same widgets, same metrics, local data.

The widgets and their metrics come from the template's DashboardBody. A metric is drawn from
what the run saw: the EMF metrics the function printed, the queue and DLQ depth sampled during
the run, and the invocations the pollers made (Lambda's Invocations, Errors, Duration,
ConcurrentExecutions, and the event source mapping's event counts). What only AWS has
(throttles, the age of the oldest message, alarms, Logs Insights) is named as AWS-only, never
drawn as an empty line.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registrar_local.cfn import TEMPLATE, load_template
from registrar_local.function_api import METRICS_NAMESPACE
from registrar_local.poller import BatchReport
from registrar_local.run_report import QueueSample, percentile
from registrar_local.stack import ConsumerRun

_BUCKETS = 60  # points per line, whatever the run's length (CloudWatch draws per minute)
_CONCURRENCY_STEP_SECONDS = 0.1


@dataclass(frozen=True)
class MetricLine:
    namespace: str
    name: str
    dimensions: tuple[str, ...]
    stat: str
    label: str
    right_axis: bool = False


@dataclass(frozen=True)
class Widget:
    title: str
    kind: str  # metric, alarm, log
    x: int
    y: int
    width: int
    height: int
    lines: tuple[MetricLine, ...] = ()
    annotations: tuple[tuple[str, float, bool], ...] = ()  # (label, value, on the right axis)


@dataclass
class Series:
    label: str
    points: list[tuple[float, float]]  # (seconds since the run started, value)
    right_axis: bool = False


@dataclass
class DrawnWidget:
    widget: Widget
    series: list[Series] = field(default_factory=list)
    aws_only: list[str] = field(default_factory=list)  # labels of the lines only AWS can draw

    @property
    def function_metrics(self) -> bool:
        return any(line.namespace == METRICS_NAMESPACE for line in self.widget.lines)


def dashboard_widgets(template_path: Path = TEMPLATE) -> list[Widget]:
    """The widgets of the template's dashboard, with parameters at their defaults."""
    template = load_template(template_path)
    parameters = template.get("Parameters", {})
    (body,) = [
        resource["Properties"]["DashboardBody"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    text = body["Fn::Sub"] if isinstance(body, dict) else body
    if isinstance(text, list):  # the long form: [text, {name: value}]
        text = text[0]

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in parameters and "Default" in parameters[name]:
            return str(parameters[name]["Default"])
        return f"local-{name.replace('::', '-').replace('.', '-')}"  # names and ARNs: any text will do

    document = json.loads(re.sub(r"\$\{([^}]+)\}", substitute, text))
    return [_widget(raw) for raw in document["widgets"]]


def _widget(raw: dict[str, Any]) -> Widget:
    properties = raw.get("properties", {})
    lines = []
    for metric in properties.get("metrics", []):
        options = metric[-1] if isinstance(metric[-1], dict) else {}
        names = [part for part in metric if isinstance(part, str)]
        lines.append(
            MetricLine(
                namespace=names[0],
                name=names[1],
                dimensions=tuple(names[2:]),
                stat=str(options.get("stat", "Average")),
                label=str(options.get("label", names[1])),
                right_axis=options.get("yAxis") == "right",
            )
        )
    annotations = tuple(
        (str(item.get("label", "")), float(item["value"]), item.get("yAxis") == "right")
        for item in properties.get("annotations", {}).get("horizontal", [])
    )
    return Widget(
        title=str(properties.get("title", "")),
        kind=str(raw["type"]),
        x=int(raw["x"]),
        y=int(raw["y"]),
        width=int(raw["width"]),
        height=int(raw["height"]),
        lines=tuple(lines),
        annotations=annotations,
    )


@dataclass
class RunData:
    """What a local run observed, as (wall time, value) events per source."""

    start: float
    end: float
    function_metrics: dict[str, list[tuple[float, float]]]
    queue_samples: Sequence[QueueSample]
    invocations: Sequence[BatchReport]

    @classmethod
    def of(cls, run: ConsumerRun, samples: Sequence[QueueSample]) -> RunData:
        metrics: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for at, name, value in run.metrics.timeline():
            metrics[name].append((at, value))
        times = [at for events in metrics.values() for at, _ in events] + [sample.at for sample in samples]
        times += [report.invoked_at for report in run.invocations]
        start, end = (min(times), max(times)) if times else (0.0, 1.0)
        return cls(start, max(end, start + 1), dict(metrics), list(samples), list(run.invocations))

    @property
    def period(self) -> float:
        return max(1.0, math.ceil((self.end - self.start) / _BUCKETS))


def _aggregate(events: Sequence[tuple[float, float]], stat: str, data: RunData) -> list[tuple[float, float]]:
    buckets: dict[int, list[float]] = defaultdict(list)
    for at, value in events:
        buckets[int((at - data.start) // data.period)].append(value)
    points = []
    for index in sorted(buckets):
        values = buckets[index]
        points.append((index * data.period, _statistic(values, stat)))
    return points


def _statistic(values: Sequence[float], stat: str) -> float:
    if stat == "Sum":
        return float(sum(values))
    if stat == "Maximum":
        return float(max(values))
    if stat == "Minimum":
        return float(min(values))
    if stat.startswith("p") and stat[1:].replace(".", "").isdigit():
        return float(percentile(values, float(stat[1:]) / 100) or 0.0)
    return float(sum(values) / len(values))  # Average


def _queue_events(data: RunData, pick: Callable[[QueueSample], int]) -> list[tuple[float, float]]:
    return [(sample.at, float(pick(sample))) for sample in data.queue_samples]


def _concurrency_events(data: RunData) -> list[tuple[float, float]]:
    """How many invocations ran at each step of the run (Maximum per period is ConcurrentExecutions)."""
    spans = [(r.invoked_at, r.invoked_at + r.duration_ms / 1000) for r in data.invocations]
    events = []
    steps = int((data.end - data.start) / _CONCURRENCY_STEP_SECONDS) + 1
    for step in range(steps):
        at = data.start + step * _CONCURRENCY_STEP_SECONDS
        events.append((at, float(sum(1 for begin, end in spans if begin <= at < end))))
    return events


_LAMBDA_METRICS: dict[str, Callable[[RunData], list[tuple[float, float]]]] = {
    "Invocations": lambda data: [(r.invoked_at, 1.0) for r in data.invocations],
    "Errors": lambda data: [(r.invoked_at, 1.0 if r.error else 0.0) for r in data.invocations],
    "Duration": lambda data: [(r.invoked_at, r.duration_ms) for r in data.invocations],
    "ConcurrentExecutions": _concurrency_events,
    # The event source mapping's own counts (MetricsConfig EventCount), as the pollers saw them.
    "PolledEventCount": lambda data: [(r.invoked_at, float(r.received)) for r in data.invocations],
    "InvokedEventCount": lambda data: [(r.invoked_at, float(r.received)) for r in data.invocations],
    "FailedInvokeEventCount": lambda data: [
        (r.invoked_at, float(r.received if r.error else 0)) for r in data.invocations
    ],
    "DeletedEventCount": lambda data: [(r.invoked_at, float(r.deleted)) for r in data.invocations],
}


def _sqs_events(line: MetricLine, data: RunData) -> list[tuple[float, float]] | None:
    dlq = any("DLQ" in dimension for dimension in line.dimensions)
    if line.name == "ApproximateNumberOfMessagesVisible":
        return _queue_events(data, (lambda s: s.dlq_visible) if dlq else (lambda s: s.visible))
    if line.name == "ApproximateNumberOfMessagesNotVisible" and not dlq:
        return _queue_events(data, lambda s: s.in_flight)
    return None  # the age of the oldest message: ElasticMQ does not report it


def _local_events(line: MetricLine, data: RunData) -> list[tuple[float, float]] | None:
    """The run's events for one dashboard line; None when only AWS has them."""
    if line.namespace == METRICS_NAMESPACE:
        return data.function_metrics.get(line.name, [])
    if line.namespace == "AWS/SQS":
        return _sqs_events(line, data)
    if line.namespace == "AWS/Lambda" and line.name in _LAMBDA_METRICS:
        return _LAMBDA_METRICS[line.name](data)
    return None  # Throttles and anything else only Lambda itself counts


def build(widgets: Sequence[Widget], data: RunData) -> list[DrawnWidget]:
    drawn = []
    for widget in widgets:
        result = DrawnWidget(widget)
        if widget.kind != "metric":
            result.aws_only.append(widget.title)
        for line in widget.lines:
            events = _local_events(line, data)
            if events is None:
                result.aws_only.append(line.label)
            else:
                result.series.append(Series(line.label, _aggregate(events, line.stat, data), line.right_axis))
        drawn.append(result)
    return drawn


def _aws_only_reason(drawn: DrawnWidget) -> str:
    kind = drawn.widget.kind
    if kind == "alarm":
        return "CloudWatch alarms: AWS only"
    if kind == "log":
        return "CloudWatch Logs Insights: AWS only; locally, see function.log next to this picture"
    return "AWS only: " + ", ".join(drawn.aws_only)


def draw(path: Path, drawn: Sequence[DrawnWidget], data: RunData) -> None:
    import matplotlib  # noqa: PLC0415 - only when a picture is asked for

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = max(w.widget.y + w.widget.height for w in drawn)
    figure = plt.figure(figsize=(24, rows * 0.75))
    figure.suptitle(f"sqs-keycloak-registrar: local run, one point per {data.period:.0f} s", fontsize=14)
    for item in drawn:
        widget = item.widget
        left, bottom = widget.x / 24 + 0.01, 1 - (widget.y + widget.height) / rows + 0.04
        axes = figure.add_axes((left, bottom, widget.width / 24 - 0.03, widget.height / rows - 0.09))
        axes.set_title(widget.title, fontsize=10, loc="left")
        if not item.series:
            axes.set_axis_off()
            axes.text(0.5, 0.5, _aws_only_reason(item), ha="center", va="center", wrap=True, color="grey")
            continue
        right = axes.twinx() if any(s.right_axis for s in item.series) else None
        for series in item.series:
            target = right if series.right_axis and right is not None else axes
            xs = [x for x, _ in series.points]
            ys = [y for _, y in series.points]
            target.plot(xs, ys, marker=".", label=series.label)
        for label, value, on_right in widget.annotations:
            annotated = right if on_right else axes
            if annotated is None:  # its axis holds only AWS-only lines: the threshold would mislead
                continue
            annotated.axhline(value, linestyle="--", color="red", linewidth=0.8)
            annotated.annotate(label, xy=(0, value), fontsize=7, color="red")
        labels = [s.label for s in item.series] + [f"{label} (AWS only)" for label in item.aws_only]
        handles = [line for ax in (axes, right) if ax is not None for line in ax.get_lines()][: len(item.series)]
        axes.legend(handles, labels[: len(handles)], fontsize=7, loc="upper left")
        if item.aws_only:
            axes.text(
                1.0,
                -0.12,
                "AWS only: " + ", ".join(item.aws_only),
                transform=axes.transAxes,
                ha="right",
                fontsize=7,
                color="grey",
            )
        axes.set_xlabel("seconds since the run started", fontsize=7)
        axes.tick_params(labelsize=7)
    figure.savefig(path, dpi=80)
    plt.close(figure)


def summary(drawn: Sequence[DrawnWidget]) -> dict[str, Any]:
    """What the picture shows, as data: widget title -> points per line, and what is AWS-only."""
    return {
        item.widget.title: {
            "function_metrics": item.function_metrics,
            "series": {series.label: len(series.points) for series in item.series},
            "aws_only": item.aws_only,
        }
        for item in drawn
    }


def draw_run(path: Path, run: ConsumerRun, samples: Sequence[QueueSample]) -> dict[str, Any]:
    """The dashboard picture of a run at `path`, and its data next to it (same name, .json)."""
    data = RunData.of(run, samples)
    drawn = build(dashboard_widgets(), data)
    draw(path, drawn, data)
    shown = summary(drawn)
    path.with_suffix(".json").write_text(json.dumps(shown, indent=2) + "\n", encoding="utf-8")
    return shown
