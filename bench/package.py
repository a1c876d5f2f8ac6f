"""What `sam build` packages: its size unpacked and zipped, and which distributions make it up."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FUNCTION = "RegistrationFunction"
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class PackageReport:
    unpacked_bytes: int
    zipped_bytes: int
    build_seconds: float
    files: int
    bytecode_files: int
    distributions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def unpacked_mb(self) -> float:
        return self.unpacked_bytes / 1_000_000


def sam_build(source: Path = REPO / "src", function: str = FUNCTION, timeout: float = 600) -> PackageReport:
    """`sam build` into a temporary directory (nothing is written to the checkout), then measure.

    With another `source` than src/, template.yaml and that directory are copied side by side
    into the temporary directory first, so a proposed change builds without touching the checkout.
    """
    venv_bin = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"
    sam = shutil.which("sam", path=str(venv_bin)) or shutil.which("sam")
    if sam is None:
        raise RuntimeError("sam not found (install aws-sam-cli into .venv)")
    with tempfile.TemporaryDirectory(prefix="bench-sam-") as scratch:
        build_dir = Path(scratch) / "build"
        project = REPO
        if source.resolve() != (REPO / "src").resolve():
            project = Path(scratch) / "project"
            shutil.copytree(source, project / "src", ignore=shutil.ignore_patterns("__pycache__"))
            shutil.copy2(REPO / "template.yaml", project / "template.yaml")
        environment = {
            **os.environ,
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "SAM_CLI_TELEMETRY": "0",
        }
        started = time.monotonic()
        completed = subprocess.run(
            [
                sam,
                "build",
                "--template-file",
                str(project / "template.yaml"),
                "--build-dir",
                str(build_dir),
                "--cache-dir",
                str(Path(scratch) / "cache"),
                "--no-cached",
                function,
            ],
            cwd=project,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        seconds = time.monotonic() - started
        if completed.returncode != 0:
            raise RuntimeError(f"sam build failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
        return measure(build_dir / function, seconds)


def measure(root: Path, build_seconds: float = 0.0) -> PackageReport:
    sizes: dict[str, int] = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            sizes[path.relative_to(root).as_posix()] = path.lstat().st_size
    with tempfile.TemporaryDirectory(prefix="bench-zip-") as scratch:
        archive = Path(scratch) / "function.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for relative in sorted(sizes):
                bundle.write(root / relative, relative)
        zipped = archive.stat().st_size
    return PackageReport(
        unpacked_bytes=sum(sizes.values()),
        zipped_bytes=zipped,
        build_seconds=build_seconds,
        files=len(sizes),
        bytecode_files=sum(1 for name in sizes if name.endswith(".pyc")),
        distributions=_distributions(root, sizes),
    )


def _distributions(root: Path, sizes: dict[str, int]) -> list[dict[str, Any]]:
    """Bytes per installed distribution (from each RECORD), and which distributions require it."""
    owner: dict[str, str] = {}
    requires: dict[str, set[str]] = defaultdict(set)
    display: dict[str, str] = {}
    for info in root.glob("*.dist-info"):
        metadata = (
            (info / "METADATA").read_text(encoding="utf-8", errors="replace") if (info / "METADATA").exists() else ""
        )
        name = next((line[6:].strip() for line in metadata.splitlines() if line.startswith("Name: ")), info.name)
        key = _normalise(name)
        display[key] = name
        for line in metadata.splitlines():
            if line.startswith("Requires-Dist: ") and "extra ==" not in line:
                match = _REQUIREMENT_NAME.match(line[len("Requires-Dist: ") :])
                if match:
                    requires[_normalise(match[1])].add(key)
        record = info / "RECORD"
        if record.exists():
            for row in record.read_text(encoding="utf-8", errors="replace").splitlines():
                path = os.path.normpath(row.split(",", 1)[0]).replace(os.sep, "/")
                owner.setdefault(path, key)
        for member in info.rglob("*"):
            if member.is_file():
                owner.setdefault(member.relative_to(root).as_posix(), key)
    totals: dict[str, int] = defaultdict(int)
    for path, size in sizes.items():
        totals[owner.get(path, "(function code and unrecorded files)")] += size
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)
    return [
        {
            "distribution": display.get(key, key),
            "mb": round(size / 1_000_000, 2),
            "required_by": sorted(display.get(parent, parent) for parent in requires.get(key, set())),
        }
        for key, size in ranked
    ]
