"""Registrations to feed the queue: the bodies of events/ and generated ones."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"

_FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim")
_LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Lee")


def event_bodies(events_dir: Path = EVENTS_DIR) -> list[str]:
    """Every record body of every SQS event file in events/ (env files are skipped)."""
    bodies: list[str] = []
    for path in sorted(events_dir.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and isinstance(document.get("Records"), list):
            bodies.extend(record["body"] for record in document["Records"])
    return bodies


def generated_registrations(count: int, run_id: str | None = None) -> Iterator[dict[str, object]]:
    """Distinct, valid registrations; `run_id` keeps runs against the same Keycloak apart."""
    run_id = run_id or uuid.uuid4().hex[:6]
    for index in range(count):
        first, last = _FIRST[index % len(_FIRST)], _LAST[(index // len(_FIRST)) % len(_LAST)]
        yield {
            "email": f"{first.lower()}.{last.lower()}.{run_id}.{index}@example.com",
            "username": f"{first.lower()}-{run_id}-{index}",
            "firstName": first,
            "lastName": last,
            "groups": ["/customers"],
            "attributes": {"signupSource": ["local-demo"]},
            "registrationId": f"{run_id}-{index}",
        }


def read_json_lines(path: Path) -> list[str]:
    """The non-blank lines of a JSON-lines file, each kept as sent (invalid JSON included)."""
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
