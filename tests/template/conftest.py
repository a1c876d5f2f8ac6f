"""The template suite's session fixtures: the translated template and one `sam build`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.template.sam import TEMPLATE, run_sam, translate


@pytest.fixture(scope="session")
def translated() -> dict[str, Any]:
    """The translated template with every parameter at its default."""
    return translate()


@pytest.fixture(scope="session")
def built_function(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `sam build` (no container) for the session; the function's built directory."""
    root = tmp_path_factory.mktemp("sam-build")
    result = run_sam(
        "build",
        "--template-file",
        str(TEMPLATE),
        "--build-dir",
        str(root / "build"),
        "--cache-dir",
        str(root / "cache"),
        "--no-use-container",
    )
    assert result.returncode == 0, f"sam build failed:\n{result.stdout}\n{result.stderr}"
    function_dir = root / "build" / "RegistrationFunction"
    assert (function_dir / "registrar" / "handler.py").is_file(), sorted(p.name for p in function_dir.iterdir())
    return function_dir
