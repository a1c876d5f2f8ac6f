"""What Keycloak's certificate is checked against: python-keycloak's `verify` (requests' meaning).

A private CA's PEM bundle is a file shipped with the function (a path; a relative one is under
the function's root) or a Secrets Manager secret (an ARN). requests takes only a path, so a
secret's PEM text is written once per execution environment to a file in the temporary folder.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import ssl
import tempfile
from pathlib import Path

from registrar.config import ConfigurationError

PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def tls_verify(*, verify_tls: bool, ca_bundle: str | None, task_root: str | None = None) -> bool | str:
    """False (development only), True (the public CAs) or the path of the PEM bundle to trust."""
    if not verify_tls:
        return False
    if ca_bundle is None:
        return True
    if ca_bundle.startswith("arn:"):
        return _bundle_from_secret(ca_bundle)
    return _shipped_bundle(ca_bundle, task_root if task_root is not None else os.environ.get("LAMBDA_TASK_ROOT"))


def _shipped_bundle(path: str, task_root: str | None) -> str:
    bundle = Path(path)
    if not bundle.is_absolute() and task_root:
        bundle = Path(task_root) / bundle
    try:
        content = bundle.read_bytes()
    except OSError as error:
        raise ConfigurationError(f"KEYCLOAK_CA_BUNDLE: cannot read {bundle}: {error.strerror}") from None
    _check_pem(content, str(bundle), where=str(bundle))
    return str(bundle)


@functools.cache  # once per environment and secret; a failed read raises and is not cached
def _bundle_from_secret(arn: str) -> str:
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - only deployed functions need it

    value = parameters.get_secret(arn)
    content = value.encode() if isinstance(value, str) else bytes(value)
    # mkstemp: a new file only this process's user can read, never one another process chose.
    handle, path = tempfile.mkstemp(prefix="keycloak-ca-", suffix=".pem")
    with os.fdopen(handle, "wb") as file:
        file.write(content)
    atexit.register(_remove, path)
    try:
        _check_pem(content, path, where="the secret")
    except ConfigurationError:
        _remove(path)
        raise
    return path


def _check_pem(content: bytes, path: str, *, where: str) -> None:
    """A bundle requests cannot load would fail every request; say so once, at cold start."""
    if PEM_CERTIFICATE not in content:
        raise ConfigurationError(f"KEYCLOAK_CA_BUNDLE: {where} holds no PEM certificate")
    try:
        ssl.create_default_context(cafile=path)
    except ssl.SSLError as error:
        raise ConfigurationError(f"KEYCLOAK_CA_BUNDLE: {where} is not a valid PEM bundle ({error.reason})") from None


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        Path(path).unlink()
