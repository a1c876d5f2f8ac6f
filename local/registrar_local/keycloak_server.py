"""A real Keycloak on this machine: fetched from Maven once, cached, started without Docker."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal, get_args

import requests
from keycloak import KeycloakAdmin, KeycloakOpenIDConnection

from registrar.config import ENVIRONMENT_VARIABLES
from registrar_local.java import java_home_for, version_tuple
from registrar_local.ports import free_port
from registrar_local.postgres_server import PostgresServer
from registrar_local.processes import run_quietly, stop_process, wait_until_ready
from registrar_local.scratch import owned_folder
from registrar_local.stack_settings import template_function_environment

__all__ = ["KEYCLOAK_VERSION", "KeycloakServer", "cache_dir", "free_port", "function_environment", "master_admin"]

KEYCLOAK_VERSION = os.environ.get("KEYCLOAK_VERSION", "26.5.6")
# Keycloak's database: a throwaway PostgreSQL cluster (what production runs), or the H2 file
# of development mode, which starts faster.
Database = Literal["postgres", "dev-file"]
DATABASES: tuple[Database, ...] = get_args(Database)
REALM_FILE = Path(__file__).with_name("realm.json")
REALM = "registrar"
CLIENT_ID = "registrar"
# The local realm's own throwaway secret; a deployed realm's secret lives in Secrets Manager.
CLIENT_SECRET = "local-registrar-secret-change-me"  # noqa: S105
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "local-admin-password"  # noqa: S105 - the bootstrap admin of a throwaway local server
# What template.yaml sets that describes the deployment rather than the function's behaviour:
# the local stack supplies these itself (its Keycloak, its secret, its queues).
DEPLOYMENT_VARIABLES = frozenset(
    {
        "KEYCLOAK_URL",
        "KEYCLOAK_REALM",
        "KEYCLOAK_CLIENT_ID",
        "KEYCLOAK_CLIENT_SECRET_ARN",
        "KEYCLOAK_CLIENT_SECRET",
        "KEYCLOAK_CA_BUNDLE",
        "DLQ_URL",
        "MAX_RECEIVE_COUNT",
        "QUEUE_RETENTION_SECONDS",
    }
)


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "sqs-keycloak-registrar"


def default_database() -> Database:
    """KEYCLOAK_DATABASE when set (postgres or dev-file), else postgres."""
    chosen = os.environ.get("KEYCLOAK_DATABASE", "postgres")
    for database in DATABASES:
        if chosen == database:
            return database
    raise ValueError(f"KEYCLOAK_DATABASE={chosen!r}: choose one of {', '.join(DATABASES)}")


def install(version: str = KEYCLOAK_VERSION, database: Database = "dev-file") -> Path:
    """The unpacked distribution, fetched with Maven on first use and cached after.

    Each database vendor gets its own copy: the vendor is a build option, and start-dev rebuilds
    the distribution in place, which must never happen under a running server of the other vendor.
    """
    suffix = "" if database == "dev-file" else f"-{database}"
    home = cache_dir() / f"keycloak-{version}{suffix}"
    if (home / "bin" / "kc.sh").exists():
        return home
    downloads = cache_dir() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = downloads / f"keycloak-quarkus-dist-{version}.zip"
    if not archive.exists():
        # Into a folder of this process, then renamed: a concurrent first run never sees half a zip.
        partial = downloads / f".partial-{os.getpid()}"
        run_quietly(
            [
                "mvn",
                "-q",
                "-B",
                "dependency:copy",
                f"-Dartifact=org.keycloak:keycloak-quarkus-dist:{version}:zip",
                f"-DoutputDirectory={partial}",
            ]
        )
        (partial / archive.name).replace(archive)
        shutil.rmtree(partial, ignore_errors=True)
    staging = cache_dir() / f".unpacking-{version}{suffix}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(staging)
    unpacked = staging / f"keycloak-{version}"
    for script in (unpacked / "bin").glob("*.sh"):
        script.chmod(0o755)
    if not home.exists():
        unpacked.rename(home)
    shutil.rmtree(staging, ignore_errors=True)
    return home


@dataclass
class KeycloakServer:
    """One Keycloak process with the project's realm imported.

    `database` is "postgres" (the default: a throwaway cluster started with the server) or
    "dev-file" (an H2 file in `database_dir`, a temporary folder when not given). Either survives
    `stop(keep_data=True)` and a new `start()`, which fault-injection runs need; a plain `stop()`
    removes it.
    """

    http_port: int = field(default_factory=free_port)
    management_port: int = field(default_factory=free_port)
    http_host: str = "127.0.0.1"  # 0.0.0.0 lets a Docker container (sam local invoke on Linux) reach it
    log_path: Path | None = None
    database: Database = field(default_factory=default_database)
    version: str = KEYCLOAK_VERSION
    database_dir: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    postgres: PostgresServer | None = None
    _temporary_database: bool = False
    https_certificate: tuple[Path, Path] | None = None
    """(certificate PEM, private key PEM): also serve HTTPS, on `https_port`, with them."""
    https_port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def _https_options(self) -> list[str]:
        if self.https_certificate is None:
            return []
        certificate, key = self.https_certificate
        return [
            f"--https-port={self.https_port}",
            f"--https-certificate-file={certificate}",
            f"--https-certificate-key-file={key}",
            # The management interface would inherit HTTPS; wait_ready polls it over plain HTTP (loopback).
            "--http-management-scheme=http",
        ]

    @property
    def management_url(self) -> str:
        """Health and metrics: their own port from Keycloak 25 on, the HTTP port before."""
        if self._has_management_interface:
            return f"http://127.0.0.1:{self.management_port}"
        return self.url

    @property
    def metrics_url(self) -> str:
        return f"{self.management_url}/metrics"

    @property
    def _has_management_interface(self) -> bool:
        return version_tuple(self.version) >= (25,)

    def start(self, timeout: float = 240.0) -> KeycloakServer:
        home = install(self.version, self.database)
        imports = home / "data" / "import"
        imports.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REALM_FILE, imports / "registrar-realm.json")
        # Keycloak 26 renamed the bootstrap admin's variables.
        admin_variables = (
            ("KC_BOOTSTRAP_ADMIN_USERNAME", "KC_BOOTSTRAP_ADMIN_PASSWORD")
            if version_tuple(self.version) >= (26,)
            else ("KEYCLOAK_ADMIN", "KEYCLOAK_ADMIN_PASSWORD")
        )
        env = {
            **os.environ,
            "JAVA_HOME": str(java_home_for(self.version)),
            admin_variables[0]: ADMIN_USERNAME,
            admin_variables[1]: ADMIN_PASSWORD,
        }
        log_path = self.log_path or cache_dir() / f"keycloak-{self.http_port}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        try:
            self._launch(home, env, log_path)
            self.wait_ready(timeout)
        except BaseException:
            # A failed start (Ctrl-C included) leaves nothing running: Keycloak nor its database.
            self.stop()
            raise
        return self

    def _launch(self, home: Path, env: dict[str, str], log_path: Path) -> None:
        management = [f"--http-management-port={self.management_port}"] if self._has_management_interface else []
        database = self._database_options()
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(home / "bin" / "kc.sh"),
                    "start-dev",
                    *database,
                    "--import-realm",
                    f"--http-host={self.http_host}",
                    f"--http-port={self.http_port}",
                    *management,
                    "--health-enabled=true",
                    "--metrics-enabled=true",
                    *self._https_options(),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def _database_options(self) -> list[str]:
        """Keycloak's --db options; starts the PostgreSQL cluster unless it is already up."""
        if self.database == "postgres":
            if self.postgres is None or not self.postgres.running:
                assert self.log_path is not None
                self.postgres = PostgresServer(log_path=self.log_path.with_suffix(".postgres.log")).start()
            return self.postgres.keycloak_options()
        if self.database_dir is None:
            self.database_dir = owned_folder("keycloak-db-")
            self._temporary_database = True
        return ["--db=dev-file", f"--db-url=jdbc:h2:file:{self.database_dir}/keycloakdb;NON_KEYWORDS=VALUE"]

    def server_pids(self) -> dict[str, int]:
        """The running server's processes by name: kc.sh (java under it), and its PostgreSQL if any."""
        pids = {"keycloak": self.process.pid} if self.process is not None else {}
        if self.postgres is not None and self.postgres.process is not None:
            pids["postgres"] = self.postgres.process.pid
        return pids

    def wait_ready(self, timeout: float) -> None:
        wait_until_ready(self.process, self._healthy, "Keycloak", self.log_path, timeout, interval=1)

    def _healthy(self) -> bool:
        try:
            return requests.get(f"{self.management_url}/health/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self, keep_data: bool = False) -> None:
        """Stop the server; a temporary database is removed unless `keep_data` (for a restart)."""
        try:
            stop_process(self.process, timeout=30, group=True)
        finally:
            if not keep_data:
                self._remove_database()

    def _remove_database(self) -> None:
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
        if self._temporary_database and self.database_dir is not None:
            shutil.rmtree(self.database_dir, ignore_errors=True)
            self.database_dir = None


@cache
def template_settings() -> dict[str, str]:
    """The allowlists and worker settings template.yaml gives the function by default."""
    return {
        name: value
        for name, value in template_function_environment().items()
        if name in ENVIRONMENT_VARIABLES and name not in DEPLOYMENT_VARIABLES
    }


def function_environment(keycloak_url: str, dlq_url: str | None = None) -> dict[str, str]:
    """The function's environment variables for the local realm (what template.yaml sets when deployed)."""
    environment = {
        **template_settings(),
        "KEYCLOAK_URL": keycloak_url,
        "KEYCLOAK_REALM": REALM,
        "KEYCLOAK_CLIENT_ID": CLIENT_ID,
        "KEYCLOAK_CLIENT_SECRET": CLIENT_SECRET,
    }
    if dlq_url is not None:
        environment["DLQ_URL"] = dlq_url
    return environment


def master_admin(keycloak_url: str) -> KeycloakAdmin:
    """An admin of the local server, for tests and the demo's summary (never used by the function)."""
    connection = KeycloakOpenIDConnection(
        server_url=keycloak_url,
        username=ADMIN_USERNAME,
        password=ADMIN_PASSWORD,
        realm_name=REALM,
        user_realm_name="master",
        client_id="admin-cli",
    )
    return KeycloakAdmin(connection=connection)
