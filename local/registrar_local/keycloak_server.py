"""A real Keycloak on this machine: fetched from Maven once, cached, started without Docker."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import requests
from keycloak import KeycloakAdmin, KeycloakOpenIDConnection

from registrar.config import ENVIRONMENT_VARIABLES
from registrar_local.processes import run_quietly, stop_process
from registrar_local.stack_settings import template_function_environment

KEYCLOAK_VERSION = os.environ.get("KEYCLOAK_VERSION", "26.5.6")
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def install(version: str = KEYCLOAK_VERSION) -> Path:
    """The unpacked distribution, fetched with Maven on first use and cached after."""
    home = cache_dir() / f"keycloak-{version}"
    if (home / "bin" / "kc.sh").exists():
        return home
    downloads = cache_dir() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = downloads / f"keycloak-quarkus-dist-{version}.zip"
    if not archive.exists():
        run_quietly(
            [
                "mvn",
                "-q",
                "-B",
                "dependency:copy",
                f"-Dartifact=org.keycloak:keycloak-quarkus-dist:{version}:zip",
                f"-DoutputDirectory={downloads}",
            ]
        )
    staging = cache_dir() / f".unpacking-{version}-{os.getpid()}"
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

    The database is an H2 file in `database_dir` (a temporary folder, removed on stop, when not
    given), so a server survives a restart, which fault-injection runs need. Every server uses
    the same database vendor, so starting one never rebuilds the distribution under another.
    """

    http_port: int = field(default_factory=free_port)
    management_port: int = field(default_factory=free_port)
    http_host: str = "127.0.0.1"  # 0.0.0.0 lets a Docker container (sam local invoke on Linux) reach it
    log_path: Path | None = None
    database_dir: Path | None = None
    process: subprocess.Popen[bytes] | None = None
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

    def start(self, timeout: float = 240.0) -> KeycloakServer:
        home = install()
        imports = home / "data" / "import"
        imports.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REALM_FILE, imports / "registrar-realm.json")
        env = {
            **os.environ,
            "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USERNAME,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
        log_path = self.log_path or cache_dir() / f"keycloak-{self.http_port}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        if self.database_dir is None:
            self.database_dir = Path(tempfile.mkdtemp(prefix="keycloak-db-"))
            self._temporary_database = True
        database = ["--db=dev-file", f"--db-url=jdbc:h2:file:{self.database_dir}/keycloakdb;NON_KEYWORDS=VALUE"]
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(home / "bin" / "kc.sh"),
                    "start-dev",
                    *database,
                    "--import-realm",
                    f"--http-host={self.http_host}",
                    f"--http-port={self.http_port}",
                    f"--http-management-port={self.management_port}",
                    "--health-enabled=true",
                    "--metrics-enabled=true",
                    *self._https_options(),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"Keycloak exited with {self.process.returncode}; see {self.log_path}")
            try:
                ready = requests.get(f"http://127.0.0.1:{self.management_port}/health/ready", timeout=2)
                if ready.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        self.stop()
        raise TimeoutError(f"Keycloak not ready after {timeout:.0f}s; see {self.log_path}")

    def stop(self, keep_data: bool = False) -> None:
        """Stop the server; a temporary database is removed unless `keep_data` (for a restart)."""
        stop_process(self.process, timeout=30, group=True)
        if self._temporary_database and not keep_data and self.database_dir is not None:
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
