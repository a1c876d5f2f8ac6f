"""`python -m registrar_local keycloak`: a Keycloak for `sam local invoke`, started and stopped by one command."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from registrar_local.keycloak_command import DOCKER_HOST_NAME
from registrar_local.keycloak_server import free_port, master_admin
from registrar_local.processes import alive, command_line, descendants
from registrar_local.rie import EmulatedFunction
from registrar_local.samples import EVENTS_DIR


def read_printed_environment(command: subprocess.Popen[str]) -> dict[str, str]:
    """The JSON the command prints on stdout once Keycloak is ready."""
    assert command.stdout is not None
    text = ""
    for line in command.stdout:
        text += line
        if line.rstrip() == "}":
            break
    (variables,) = json.loads(text).values()
    return variables


def test_one_command_serves_sam_local_invoke_and_ctrl_c_leaves_nothing(tmp_path):
    port = free_port()
    command = subprocess.Popen(
        [sys.executable, "-m", "registrar_local", "keycloak", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        printed = read_printed_environment(command)
        assert printed["KEYCLOAK_URL"] == f"http://{DOCKER_HOST_NAME}:{port}"
        # This test is the Docker host: the container's host name is this machine's loopback here.
        keycloak_url = printed["KEYCLOAK_URL"].replace(DOCKER_HOST_NAME, "127.0.0.1")
        tree = descendants(command.pid)
        assert any("java" in command_line(pid) for pid in tree)

        event = json.loads((EVENTS_DIR / "new-users.json").read_text())
        function = EmulatedFunction(
            {**printed, "KEYCLOAK_URL": keycloak_url, "AWS_DEFAULT_REGION": "eu-west-1"},
            log_path=tmp_path / "rie.log",
        ).start()
        try:
            response = function.invoke(event)
        finally:
            function.stop()

        assert response == {"batchItemFailures": []}, response
        admin = master_admin(keycloak_url)
        for record in event["Records"]:
            email = json.loads(record["body"])["email"]
            assert admin.get_users({"email": email, "exact": True}), email

        command.send_signal(signal.SIGINT)
        assert command.wait(timeout=60) == 0
        assert not [pid for pid in tree if alive(pid)], "Keycloak outlived the command"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        if command.poll() is None:
            os.kill(command.pid, signal.SIGTERM)
            command.wait(timeout=60)
