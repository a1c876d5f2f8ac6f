"""The operator command line as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = ["setup-keycloak", "check", "send", "redrive"]


def test_the_module_runs_and_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "registrar_ops", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert all(command in out for command in COMMANDS), out


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_there_for_every_command(command, capsys):
    from registrar_ops.cli import main

    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert "usage: registrar-ops " + command in capsys.readouterr().out


def test_setup_refuses_to_run_without_somewhere_to_put_the_secret(capsys):
    from registrar_ops.cli import main

    assert main(["setup-keycloak", "--server-url", "http://127.0.0.1:9", "--realm", "r"]) == 2
    assert "--secret-file" in capsys.readouterr().out


def test_check_without_the_function_settings_fails_naming_them(monkeypatch, capsys):
    from registrar_ops.cli import main

    for name in ("KEYCLOAK_URL", "KEYCLOAK_REALM", "KEYCLOAK_CLIENT_ID", "KEYCLOAK_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert main(["check"]) == 1
    assert "KEYCLOAK_URL" in capsys.readouterr().out
