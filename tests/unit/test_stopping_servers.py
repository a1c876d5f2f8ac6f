"""Stopping a server's whole process group leaves neither a member running nor the leader unreaped."""

from __future__ import annotations

import subprocess

from registrar_local.processes import alive, stop_process


class LeaderSeenAliveByPoll(subprocess.Popen[bytes]):
    """A leader whose every poll() comes just before it exits: only a wait() reaps it."""

    def poll(self) -> int | None:
        return None


def test_a_group_stopped_while_its_leader_exits_leaves_no_zombie() -> None:
    leader = LeaderSeenAliveByPoll(["sleep", "60"], start_new_session=True)

    stop_process(leader, timeout=10, group=True)

    assert leader.returncode is not None, "the leader was left a zombie"
    assert not alive(leader.pid)


def test_a_member_that_ignores_sigterm_is_killed_with_its_group() -> None:
    leader = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 60 & wait"], start_new_session=True)

    stop_process(leader, timeout=1, group=True)

    assert leader.returncode is not None
    assert not [pid for pid in _group_members(leader.pid) if alive(pid)]


def _group_members(pgid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True, check=False).stdout
    return [int(pid) for pid in found.split()]
