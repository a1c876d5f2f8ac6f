"""The Keycloak under test: started here (on its own CPUs) or given, and its request counters."""

from __future__ import annotations

import contextlib
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import requests

if TYPE_CHECKING:
    from registrar_local.keycloak_server import Database

# Label values hold braces themselves (uri="/admin/realms/{realm}/users"): match up to the last one.
_COUNT_LINE = re.compile(r"^http_server_requests_seconds_count\{(?P<labels>.*)\}\s+(?P<value>[0-9.eE+-]+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
# Requests to the management interface itself are counted too; they are not Keycloak's work.
_MANAGEMENT_PATHS = ("/health", "/metrics")


@dataclass(frozen=True)
class KeycloakTarget:
    url: str
    metrics_url: str | None
    version: str
    started_here: bool
    cpus: tuple[int, ...]
    database: str = "unknown"
    server_pids: dict[str, int] = field(default_factory=dict)
    """Keycloak's processes (and its database's) when started here, for memory figures."""

    @property
    def port(self) -> int:
        parsed = urlparse(self.url)
        return parsed.port or (443 if parsed.scheme == "https" else 80)

    @property
    def host(self) -> str:
        return urlparse(self.url).hostname or "127.0.0.1"


def split_cpus(pin: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(Keycloak's CPUs, the clients' CPUs): disjoint halves when pinning, else all for both."""
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    if not pin or len(cpus) < 2:
        return cpus, cpus
    half = len(cpus) // 2
    return cpus[:half], cpus[half:]


@contextlib.contextmanager
def keycloak_under_test(
    url: str | None, metrics_url: str | None, server_cpus: tuple[int, ...], database: Database | None = None
) -> Iterator[KeycloakTarget]:
    """A running Keycloak with the project's realm: the one at `url`, or a new one stopped afterwards.

    A new one runs on `database` (default: KEYCLOAK_DATABASE, else PostgreSQL), which shares
    Keycloak's CPUs: the server side is Keycloak and its database together.
    """
    if url is not None:
        yield KeycloakTarget(
            url=url.rstrip("/"),
            metrics_url=metrics_url,
            version=server_version(url) or "unknown",
            started_here=False,
            cpus=(),
        )
        return
    from registrar_local.keycloak_server import KEYCLOAK_VERSION, KeycloakServer, default_database

    chosen = database or default_database()
    own = os.sched_getaffinity(0)
    # The JVM and PostgreSQL inherit the affinity of the process that starts them; the JVM sizes its pools by it.
    os.sched_setaffinity(0, server_cpus)
    try:
        server = KeycloakServer(database=chosen).start()
    finally:
        os.sched_setaffinity(0, own)
    try:
        yield KeycloakTarget(
            url=server.url,
            metrics_url=server.metrics_url,
            version=server_version(server.url) or KEYCLOAK_VERSION,
            started_here=True,
            cpus=server_cpus,
            database=chosen,
            server_pids=server.server_pids(),
        )
    finally:
        server.stop()


def server_version(url: str) -> str | None:
    """Keycloak's version from its server info (needs the local bootstrap admin), or None."""
    try:
        from registrar_local.keycloak_server import master_admin

        info = master_admin(url).get_server_info()
    except Exception:  # noqa: BLE001 - a server we do not administer: the version stays unknown
        return None
    version = (info or {}).get("systemInfo", {}).get("version")
    return str(version) if version else None


def request_counts(metrics_url: str) -> Counter[str]:
    """Keycloak's own count of HTTP requests served, keyed "METHOD uri-template status"."""
    response = requests.get(metrics_url, timeout=10)
    response.raise_for_status()
    counts: Counter[str] = Counter()
    for line in response.text.splitlines():
        match = _COUNT_LINE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        uri = labels.get("uri", "")
        if uri.startswith(_MANAGEMENT_PATHS):
            continue
        counts[f"{labels.get('method', '?')} {uri} {labels.get('status', '?')}"] += round(float(match["value"]))
    return counts
