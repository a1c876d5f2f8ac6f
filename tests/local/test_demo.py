"""`demo` as a user runs it: the report, its first lines, and the dashboard picture of the run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from registrar_local.dashboard import dashboard_widgets
from registrar_local.function_api import METRICS_NAMESPACE
from tests.kit.report import report_row

pytestmark = pytest.mark.keycloak


@pytest.fixture(scope="module")
def demo(keycloak_url, tmp_path_factory) -> tuple[str, Path]:
    log_dir = tmp_path_factory.mktemp("demo-logs")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "registrar_local",
            "demo",
            "--count",
            "30",
            "--keycloak-url",
            keycloak_url,
            "--timeout",
            "300",
            "--log-dir",
            str(log_dir),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "COLUMNS": "60"},  # a narrow terminal: long lines must not be wrapped
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, log_dir


def test_the_report_has_every_outcome_and_the_run_figures(demo):
    out, _ = demo
    lines = out.splitlines()
    for name in ("created", "already registered", "duplicate in batch", "conflict", "invalid", "in the DLQ"):
        report_row(lines, name)
    assert report_row(lines, "left in the queue") == "0"
    assert int(report_row(lines, "peak queue depth")) > 0
    assert re.fullmatch(r"\d+\.\d\d s", report_row(lines, "enqueue to user created, p50"))
    assert re.fullmatch(r"\d+\.\d\d s", report_row(lines, "enqueue to user created, p99"))
    assert "peak memory per process" in out
    assert "elasticmq" in out


def test_the_first_lines_are_plain_and_the_queue_url_is_whole(demo):
    out, _ = demo
    assert "\x1b" not in out
    (queue_line,) = [line for line in out.splitlines() if line.startswith("queue ")]
    assert re.fullmatch(r"queue http://127\.0\.0\.1:\d+/\d+/registrations", queue_line)


def test_the_dashboard_picture_is_written_next_to_the_function_log(demo):
    out, log_dir = demo
    picture = log_dir / "dashboard.png"
    assert f"dashboard: {picture}" in out
    assert f"function log: {log_dir / 'function.log'}" in out
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_widget_of_the_functions_metrics_is_drawn_with_data(demo):
    _, log_dir = demo
    shown = json.loads((log_dir / "dashboard.json").read_text())
    function_widgets = [
        widget.title
        for widget in dashboard_widgets()
        if any(line.namespace == METRICS_NAMESPACE for line in widget.lines)
    ]
    assert len(function_widgets) >= 3
    for title in function_widgets:
        assert shown[title]["series"], title
        assert all(points > 0 for points in shown[title]["series"].values()), (title, shown[title])
        assert shown[title]["aws_only"] == []


def test_what_only_aws_has_is_named_not_drawn(demo):
    _, log_dir = demo
    shown = json.loads((log_dir / "dashboard.json").read_text())
    aws_only = {label for widget in shown.values() for label in widget["aws_only"]}
    assert {"throttles", "age of oldest (s)", "Alarms"} <= aws_only
    drawn = {label for widget in shown.values() for label in widget["series"]}
    assert not aws_only & drawn
    assert shown["Registration queue"]["series"]["waiting"] > 0
    assert shown["Invocations, errors, throttles"]["series"]["invocations"] > 0
