"""SQS on this machine: the moto server in its own process, on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

from registrar_local.keycloak_server import cache_dir, free_port
from registrar_local.processes import stop_process

REGION = "us-east-1"
# moto accepts any credentials; these only keep boto3 from looking for real ones.
FAKE_ACCESS_KEY_ID = "local"
FAKE_SECRET_ACCESS_KEY = "local"  # noqa: S105


@dataclass
class MotoServer:
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> MotoServer:
        log_path = self.log_path or cache_dir() / f"moto-{self.port}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.process.returncode}; see {log_path}")
            try:
                requests.get(f"{self.url}/moto-api/", timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"moto server not up after {timeout:.0f}s; see {log_path}")

    def stop(self) -> None:
        stop_process(self.process)

    def sqs(self) -> Any:
        return sqs_client(self.url)


def sqs_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """An SQS client for moto (endpoint given) or for real SQS (the default credential chain)."""
    if endpoint_url is None:
        return boto3.client("sqs", region_name=region)
    return boto3.client(
        "sqs",
        endpoint_url=endpoint_url,
        region_name=region or REGION,
        aws_access_key_id=FAKE_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
    )
