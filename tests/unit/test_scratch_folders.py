"""The servers' temporary folders: one left by a killed command is removed by the next one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from registrar_local.processes import start_time
from registrar_local.scratch import OWNER_FILE, owned_folder, remove_abandoned

PREFIX = "keycloak-db-"


def finished_pid() -> int:
    """The pid of a process that has run and been reaped: nobody owns anything under it now."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def folder_owned_by(root: Path, name: str, record: str | None) -> Path:
    folder = root / name
    (folder / "data").mkdir(parents=True)
    if record is not None:
        (folder / OWNER_FILE).write_text(record)
    return folder


def test_a_new_folder_records_this_process_as_its_owner(tmp_path: Path) -> None:
    folder = owned_folder(PREFIX, root=tmp_path)

    assert folder.parent == tmp_path
    assert folder.name.startswith(PREFIX)
    assert (folder / OWNER_FILE).read_text() == f"{os.getpid()} {start_time(os.getpid())}"


def test_making_a_folder_removes_those_whose_owner_is_gone_and_keeps_the_rest(tmp_path: Path) -> None:
    me = os.getpid()
    started = start_time(me)
    assert started is not None
    killed = folder_owned_by(tmp_path, f"{PREFIX}killed", f"{finished_pid()} 12345")
    # Same pid as a living process, another start time: the pid was reused after its owner died.
    reused = folder_owned_by(tmp_path, f"{PREFIX}reused", f"{me} {started + 1}")
    running = folder_owned_by(tmp_path, f"{PREFIX}running", f"{me} {started}")
    unrecorded = folder_owned_by(tmp_path, f"{PREFIX}unrecorded", None)
    other_kind = folder_owned_by(tmp_path, "keycloak-postgres-killed", f"{finished_pid()} 12345")

    new = owned_folder(PREFIX, root=tmp_path)

    assert not killed.exists()
    assert not reused.exists()
    assert running.exists()
    assert unrecorded.exists(), "a folder with no owner record may still be being made"
    assert other_kind.exists(), "only folders of the kind being made are swept"
    assert new.exists()


def test_a_record_that_is_not_a_pid_counts_as_abandoned(tmp_path: Path) -> None:
    garbled = folder_owned_by(tmp_path, f"{PREFIX}garbled", "")

    assert remove_abandoned(PREFIX, root=tmp_path) == [garbled]
    assert not garbled.exists()


def test_a_folder_a_living_server_still_works_in_is_kept_though_its_owner_is_gone(tmp_path: Path) -> None:
    in_use = folder_owned_by(tmp_path, f"{PREFIX}in-use", f"{finished_pid()} 12345")
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(in_use / "data")])
    try:
        assert remove_abandoned(PREFIX, root=tmp_path) == []
        assert in_use.exists()
    finally:
        server.kill()
        server.wait()
    assert remove_abandoned(PREFIX, root=tmp_path) == [in_use]
