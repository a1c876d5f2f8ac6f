"""An operator command without an AWS region or credentials says how to give them, without a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registrar_ops.cli import main


def test_send_without_a_region_names_the_option_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    lines = tmp_path / "registrations.jsonl"
    lines.write_text(json.dumps({"email": "ada@example.com"}) + "\n", encoding="utf-8")

    code = main(["send", str(lines), "--queue-url", "http://127.0.0.1:9/q", "--endpoint-url", "http://127.0.0.1:9"])

    assert code == 2
    out = capsys.readouterr().out
    assert "error: You must specify a region" in out
    assert "pass --region or set AWS_REGION" in out
