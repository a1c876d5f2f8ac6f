"""The command line as a user runs it: send + poll, the operator's validating send, a poller stopped by a signal."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from registrar_local.keycloak_server import master_admin, template_settings
from registrar_local.samples import generated_registrations
from registrar_local.stack import create_queues, function_env, queue_depth
from registrar_local.stack_settings import read_stack_settings

pytestmark = pytest.mark.keycloak

ANY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def cli(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "registrar_local", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def test_help_is_there_for_every_command():
    for command in ("send", "poll", "demo"):
        out = subprocess.run(
            [sys.executable, "-m", "registrar_local", command, "--help"], capture_output=True, text=True, check=True
        ).stdout
        assert "usage: registrar-local " + command in out


def test_a_poller_stopped_by_sigterm_loses_nothing(keycloak_url, elasticmq, tmp_path):
    run_id = f"sig{int(time.time()) % 100000}"
    registrations = list(generated_registrations(300, run_id))
    lines = tmp_path / "registrations.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in registrations) + "\n")
    sqs = elasticmq.sqs()
    queues = create_queues(sqs, read_stack_settings(), prefix=run_id)
    env = function_env(keycloak_url, queues.dlq_url, elasticmq.url)
    sent = cli("send", str(lines), "--queue-url", queues.source_url, "--endpoint-url", elasticmq.url)
    assert sent.wait(timeout=120) == 0
    poll_args = ("poll", "--queue-url", queues.source_url, "--endpoint-url", elasticmq.url, "--until-drained")
    log = ("--log-file", str(tmp_path / "function.log"))
    admin = master_admin(keycloak_url)

    poller = cli(*poll_args, *log, env=env)
    deadline = time.monotonic() + 300
    while admin.users_count({"search": f"*{run_id}*"}) < 30 and time.monotonic() < deadline:
        time.sleep(0.2)
    poller.send_signal(signal.SIGTERM)
    out, _ = poller.communicate(timeout=120)
    assert poller.returncode == 0, out
    assert "SIGTERM" in out
    assert queue_depth(sqs, queues.source_url) > 0, "stopped too late to show anything"

    again = cli(*poll_args, *log, env=env)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
    assert queue_depth(sqs, queues.source_url) == 0
    assert queue_depth(sqs, queues.dlq_url) == 0
    users = admin.get_users({"search": f"*{run_id}*"})
    usernames = [user["username"] for user in users]
    assert len(usernames) == 300
    assert len(set(usernames)) == 300


def test_ctrl_c_on_a_demo_with_its_own_keycloak_leaves_no_server_behind():
    # Its own TMPDIR (open to the postgres user) tells this demo's cluster apart from others.
    scratch = Path(tempfile.mkdtemp(prefix="demo-scratch-"))
    scratch.chmod(0o755)
    try:
        demo = cli("demo", "--count", "5", "--keep-running", "--database", "postgres", env={"TMPDIR": str(scratch)})
        assert demo.stdout is not None
        seen: list[str] = []
        for line in demo.stdout:
            seen.append(line)
            if "Ctrl-C stops them" in line:
                break
        port = next(line.split(":")[2].split()[0] for line in seen if line.startswith("Keycloak http://"))
        assert process_lines(str(scratch)), "the demo's PostgreSQL was not running"
        demo.send_signal(signal.SIGINT)
        out, _ = demo.communicate(timeout=120)
        assert demo.returncode == 0, "".join(seen) + out
        assert process_lines(f"--http-port={port}") == []
        assert process_lines(str(scratch)) == []
        assert list(scratch.iterdir()) == [], "the cluster's folder was left behind"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def process_lines(text: str) -> list[str]:
    """Command lines of running processes that contain `text`."""
    found = subprocess.run(["pgrep", "-af", "--", text], capture_output=True, text=True, check=False).stdout
    return [line for line in found.splitlines() if "pgrep" not in line]


def test_the_operators_send_refuses_a_file_with_one_bad_line_and_sends_nothing_to_elasticmq(elasticmq, tmp_path):
    good = [json.dumps(registration) for registration in generated_registrations(24, "opsend")]
    lines = tmp_path / "registrations.jsonl"
    lines.write_text("\n".join([*good[:12], '{"email": "not an address"}', *good[12:]]) + "\n")
    sqs = elasticmq.sqs()
    queues = create_queues(sqs, read_stack_settings(), prefix="opsend")

    def ops_send(*extra: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "registrar_ops", "send", str(lines), "--queue-url", queues.source_url]
        return subprocess.run(
            [*command, "--endpoint-url", elasticmq.url, "--region", "us-east-1", *extra],
            # The deployment's allowlists as an operator has them; any credentials do for ElasticMQ.
            env={**os.environ, **template_settings(), **ANY_CREDENTIALS},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    refused = ops_send()
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert [line for line in refused.stdout.splitlines() if line.startswith("line ")] == [
        line for line in refused.stdout.splitlines() if line.startswith("line 13: email:")
    ]
    assert "line 13: email:" in refused.stdout
    assert "nothing sent" in refused.stdout
    assert queue_depth(sqs, queues.source_url) == 0

    skipped = ops_send("--skip-invalid")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert queue_depth(sqs, queues.source_url) == 24
