"""Where setup-keycloak puts the client secret: a Secrets Manager secret or a file only its owner reads.

The secret never goes to stdout. Each sink first says whether it already holds the value, so
a second run of setup-keycloak writes nothing.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Protocol

_OWNER_ONLY = 0o600


class SecretSink(Protocol):
    def holds(self, secret: str) -> bool: ...

    def store(self, secret: str) -> str:
        """Writes the secret; returns where it went (a path or an ARN), never the value."""
        ...


class SecretFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def holds(self, secret: str) -> bool:
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
            return mode == _OWNER_ONLY and self.path.read_text() == secret
        except FileNotFoundError:
            return False

    def store(self, secret: str) -> str:
        # mkstemp creates the file with mode 0600 before any byte is written, and the rename
        # replaces the old file whole, so no reader ever sees a partial or world-readable secret.
        directory = self.path.parent.resolve()
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secret)
            os.chmod(temporary, _OWNER_ONLY)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return f"{self.path} (mode 0600)"


class SecretsManagerSecret:
    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    def holds(self, secret: str) -> bool:
        try:
            return bool(self.client.get_secret_value(SecretId=self.name).get("SecretString") == secret)
        except self.client.exceptions.ResourceNotFoundException:
            return False

    def store(self, secret: str) -> str:
        try:
            answer = self.client.put_secret_value(SecretId=self.name, SecretString=secret)
        except self.client.exceptions.ResourceNotFoundException:
            answer = self.client.create_secret(
                Name=self.name,
                SecretString=secret,
                Description="sqs-keycloak-registrar: the Keycloak client secret (KEYCLOAK_CLIENT_SECRET_ARN)",
            )
        return str(answer["ARN"])
