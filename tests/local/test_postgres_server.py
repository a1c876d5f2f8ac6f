"""The throwaway PostgreSQL cluster Keycloak runs on: usable, and never left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from registrar_local.postgres_server import BINARIES, DATABASE, PostgresServer
from registrar_local.processes import processes_naming


def psql(server: PostgresServer, query: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BINARIES / "psql"),
            "-tA",
            "-h",
            "127.0.0.1",
            "-p",
            str(server.port),
            "-U",
            server.username,
            "-d",
            DATABASE,
        ],
        input=query,
        env={**os.environ, "PGPASSWORD": password if password is not None else server.password},
        capture_output=True,
        text=True,
        check=False,
    )


def postgres_processes_in(folder: Path) -> list[int]:
    """The servers whose command line names the cluster's folder (`postgres -D FOLDER/data`)."""
    return processes_naming(str(folder / "data"))


def wait_until(predicate, timeout: float = 60) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_keycloak_gets_a_database_on_loopback_that_asks_for_the_password():
    server = PostgresServer().start()
    folder = server.folder
    assert folder is not None
    try:
        assert "127.0.0.1" in server.jdbc_url
        assert f"--db-password={server.password}" in server.keycloak_options()
        answer = psql(server, "select current_user, current_database();")
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.strip() == f"{server.username}|{DATABASE}"
        refused = psql(server, "select 1;", password="not-the-password")
        assert refused.returncode != 0
        assert "password authentication failed" in refused.stderr
    finally:
        server.stop()
    assert postgres_processes_in(folder) == []
    assert not folder.exists(), "the cluster's folder was left behind"


@pytest.mark.skipif(os.geteuid() != 0, reason="the safety net is armed where root hands the server to postgres")
def test_a_killed_owner_takes_its_cluster_with_it_and_the_next_start_its_folder():
    # The owner cannot clean up after SIGKILL; the server must notice on its own.
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from registrar_local.postgres_server import PostgresServer; "
            "print(PostgresServer().start().folder, flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    folder: Path | None = None
    try:
        assert owner.stdout is not None
        folder = Path(owner.stdout.readline().strip())
        assert len(postgres_processes_in(folder)) == 1
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert wait_until(lambda: postgres_processes_in(folder) == [])
        assert folder.exists(), "nobody was left to remove the folder"
        next_server = PostgresServer().start()
        next_server.stop()
        assert not folder.exists(), "the next cluster's start removes the one a killed command left"
    finally:
        owner.kill()
        owner.wait()
        if folder is not None and folder.name.startswith("keycloak-postgres-"):
            shutil.rmtree(folder, ignore_errors=True)  # nobody was left to remove it
