"""The function under the AWS Lambda Runtime Interface Emulator and awslambdaric, as in its container.

`sam local invoke` runs the same pair inside a Docker image; here they run as plain processes.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from registrar_local.keycloak_server import cache_dir, free_port
from registrar_local.processes import stop_process, wait_until_ready

RIE_MODULE = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
RIE_VERSION = os.environ.get("RIE_VERSION", "v0.0.0-20261030222936-bef5c4ba774d")
SOURCE_DIR = Path(__file__).resolve().parents[2] / "src"


def install_rie() -> Path:
    """The emulator binary, built with `go install` on first use and cached after."""
    bin_dir = cache_dir() / "bin"
    binary = bin_dir / "aws-lambda-rie"
    if binary.exists():
        return binary
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("the Go toolchain is needed to build the Runtime Interface Emulator (go install)")
    bin_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [go, "install", f"{RIE_MODULE}@{RIE_VERSION}"], check=True, env={**os.environ, "GOBIN": str(bin_dir)}
    )
    return binary


@dataclass
class EmulatedFunction:
    """One execution environment: RIE in front of awslambdaric running the handler."""

    environment: Mapping[str, str]
    timeout_seconds: int = 30
    handler: str = "registrar.handler.lambda_handler"
    port: int = field(default_factory=free_port)
    runtime_api_port: int = field(default_factory=free_port)
    log_path: Path = field(default_factory=lambda: cache_dir() / "logs" / "rie.log")
    process: subprocess.Popen[bytes] | None = None

    @property
    def invocation_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations"

    def start(self) -> EmulatedFunction:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        environment = {
            **os.environ,
            **self.environment,
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(self.timeout_seconds),
            "AWS_LAMBDA_FUNCTION_NAME": "RegistrationFunction",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "PYTHONPATH": str(SOURCE_DIR),
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(install_rie()),
                    f"--runtime-api-address=127.0.0.1:{self.runtime_api_port}",
                    f"--runtime-interface-emulator-address=127.0.0.1:{self.port}",
                    sys.executable,
                    "-m",
                    "awslambdaric",
                    self.handler,
                ],
                cwd=SOURCE_DIR,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_listening()
        return self

    def invoke(self, event: Any) -> Any:
        response = requests.post(self.invocation_url, json=event, timeout=self.timeout_seconds + 10)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        stop_process(self.process)

    def _wait_listening(self, timeout: float = 30) -> None:
        wait_until_ready(self.process, self._listening, "the emulator", self.log_path, timeout)

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False
