"""A throwaway PostgreSQL cluster for Keycloak: a temporary folder, a free loopback port, stopped with its owner.

`initdb` and `postgres` refuse to run as root, so both run as the `postgres` system user (which the
Debian package creates) whenever this process is root. The server runs in the foreground as our
child, not daemonised by `pg_ctl`, so that stopping it is the same as stopping any other server
here. It is also told to shut down if the thread that started it dies without stopping it
(SIGKILL included), so no `postgres -D` outlives the command or test that needed it; the folder
such a command leaves behind is removed by the next one that starts a cluster.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from registrar_local.ports import free_port
from registrar_local.processes import ServerNotReady, stop_process, wait_until_ready
from registrar_local.scratch import owned_folder

POSTGRES_MAJOR = 15
BINARIES = Path(f"/usr/lib/postgresql/{POSTGRES_MAJOR}/bin")
SYSTEM_USER = "postgres"
DATABASE = "keycloak"
USERNAME = "keycloak"
FOLDER_PREFIX = "keycloak-postgres-"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be installed or started here; the message says what to do."""


def binaries() -> Path:
    """The PostgreSQL binaries, installed with apt-get on first use when missing and we may."""
    if (BINARIES / "initdb").exists():
        return BINARIES
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgresUnavailable(
            f"PostgreSQL {POSTGRES_MAJOR} is not installed ({BINARIES} is missing): install the "
            "`postgresql` package, or run Keycloak on its dev file database with --database dev-file"
        )
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=environment)
    subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True, env=environment)
    if not (BINARIES / "initdb").exists():
        raise PostgresUnavailable(f"apt-get installed postgresql but not version {POSTGRES_MAJOR} ({BINARIES})")
    return BINARIES


def _run_as() -> list[str]:
    """Prefix that drops root to the postgres user; nothing when we are not root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError as missing:
        raise PostgresUnavailable(f"no `{SYSTEM_USER}` system user: reinstall the postgresql package") from missing
    return ["setpriv", f"--reuid={SYSTEM_USER}", f"--regid={SYSTEM_USER}", "--init-groups"]


def _give_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class PostgresServer:
    """One cluster with one database and one password user for Keycloak; removed on stop."""

    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    # Hex: Keycloak 24 reads a --db-password=VALUE that starts with '-' as a missing value, and
    # token_urlsafe starts one password in 32 with it.
    password: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    process: subprocess.Popen[bytes] | None = None
    folder: Path | None = None

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://127.0.0.1:{self.port}/{DATABASE}"

    @property
    def username(self) -> str:
        return USERNAME

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def keycloak_options(self) -> list[str]:
        """Keycloak's command-line options for this database."""
        return [
            "--db=postgres",
            f"--db-url={self.jdbc_url}",
            f"--db-username={self.username}",
            f"--db-password={self.password}",
        ]

    def start(self, timeout: float = 60.0) -> PostgresServer:
        bin_dir = binaries()
        self.folder = owned_folder(FOLDER_PREFIX)
        try:
            self._initdb(bin_dir)
            self._serve(bin_dir, timeout)
            self._create_database(bin_dir)
        except BaseException:
            self.stop()
            raise
        return self

    def _initdb(self, bin_dir: Path) -> None:
        assert self.folder is not None
        _give_to_postgres(self.folder)
        password_file = self.folder / "password"
        password_file.write_text(self.password)
        password_file.chmod(0o600)
        _give_to_postgres(password_file)
        result = subprocess.run(
            [
                *_run_as(),
                str(bin_dir / "initdb"),
                f"--pgdata={self.folder / 'data'}",
                f"--username={USERNAME}",
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        password_file.unlink()
        if result.returncode != 0:
            raise PostgresUnavailable(f"initdb failed ({result.returncode}): {result.stderr.strip()[-2000:]}")

    def _serve(self, bin_dir: Path, timeout: float) -> None:
        assert self.folder is not None
        log_path = self.log_path or self.folder / "postgres.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        # The safety net fires when the *thread* that started us ends, so only the main thread,
        # which outlives every server, may arm it.
        guard = ["--pdeathsig=INT"] if _run_as() and threading.current_thread() is threading.main_thread() else []
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *_run_as(),
                    *guard,
                    str(bin_dir / "postgres"),
                    "-D",
                    str(self.folder / "data"),
                    "-p",
                    str(self.port),
                    "-h",
                    "127.0.0.1",
                    "-k",
                    str(self.folder),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pg_isready = [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        try:
            wait_until_ready(
                self.process,
                lambda: subprocess.run(pg_isready, check=False).returncode == 0,
                "postgres",
                log_path,
                timeout,
            )
        except ServerNotReady as error:
            raise PostgresUnavailable(str(error)) from error

    def _create_database(self, bin_dir: Path) -> None:
        result = subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USERNAME, DATABASE],
            env={**os.environ, "PGPASSWORD": self.password},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresUnavailable(f"createdb failed: {result.stderr.strip()}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, then exit), then remove the cluster."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                stop_process(self.process, timeout=5)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
