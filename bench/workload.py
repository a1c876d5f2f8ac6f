"""What the benchmarks send: unique registrations in SQS-shaped batches of ten."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

BATCH_SIZE = 10
EMAIL_DOMAIN = "bench.example"


def new_run_id() -> str:
    """Short, sortable and unique enough that reruns against the same Keycloak never collide."""
    return f"{time.strftime('%m%d%H%M%S')}{secrets.token_hex(2)}"


@dataclass(frozen=True)
class Names:
    """Usernames for one run: every trial, process, batch and record gets its own."""

    run_id: str

    def username(self, trial: str, index: int) -> str:
        return f"b{self.run_id}-{trial}-{index}"

    def body(self, trial: str, index: int) -> str:
        username = self.username(trial, index)
        return json.dumps(
            {
                "email": f"{username}@{EMAIL_DOMAIN}",
                "username": username,
                "firstName": "Bench",
                "lastName": f"User {index}",
            }
        )

    def bodies(self, trial: str, start: int, count: int) -> list[str]:
        return [self.body(trial, index) for index in range(start, start + count)]


BENCH_PASSWORD = "bench-password-" + "x" * 12


def user_representation(body: str, with_password: bool = False) -> dict[str, Any]:
    """What the function POSTs for this body (Registration.to_user_representation, defaults made explicit)."""
    fields = json.loads(body)
    user: dict[str, Any] = {
        "username": fields["username"],
        "email": fields["email"],
        "enabled": True,
        "emailVerified": False,
        "firstName": fields["firstName"],
        "lastName": fields["lastName"],
    }
    if with_password:
        user["credentials"] = [{"type": "password", "value": BENCH_PASSWORD, "temporary": False}]
    return user
