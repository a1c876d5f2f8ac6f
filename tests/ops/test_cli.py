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
    # argparse's list of subcommands, not the description, which names them too.
    assert "{" + ",".join(COMMANDS) + "}" in out, out


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


@pytest.mark.parametrize(("content", "why"), [(None, "cannot read"), ("not a certificate", "holds no PEM certificate")])
def test_a_ca_bundle_that_cannot_serve_is_refused_before_keycloak_is_asked(tmp_path, capsys, content, why):
    from registrar_ops.cli import main

    bundle = tmp_path / "ca.pem"
    if content is not None:
        bundle.write_text(content)
    secret_file = tmp_path / "secret"
    setup = ["setup-keycloak", "--server-url", "https://127.0.0.1:9", "--realm", "r", "--secret-file", str(secret_file)]

    assert main([*setup, "--ca-bundle", str(bundle)]) == 2

    out = capsys.readouterr().out
    assert out.startswith("error: --ca-bundle: ")
    assert why in out
    assert str(bundle) in out
    assert not secret_file.exists()
