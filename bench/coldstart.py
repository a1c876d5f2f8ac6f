"""Cold start: import times in fresh interpreters, what dominates them, first invocations, memory.

The probes run on a copy of what Lambda would load, not on the development virtualenv (whose
extra packages, awscrt and rich among them, would be imported too): the pins of
src/requirements.txt installed into a directory without boto3/botocore/s3transfer, as
src/Makefile builds the package, with src/registrar copied in, and boto3 in a second directory
standing for the runtime's own copy; the naive baseline gets its own directory with its own
dependencies (Powertools with the tracer extra, python-keycloak, pydantic, pinned to the
versions installed here). The interpreter runs with -S (no site-packages) and that path; the
probes that build events (first invocations, the function's own cost) also get local/, for the
test kit's events and the local stack's stdlib-only modules they import. Two
variants of each directory:

- ``as shipped``: what `sam build` ships, bytecode included: src/Makefile runs
  `compileall --invalidation-mode unchecked-hash` (a .pyc that stays valid whatever the zip does
  to file times). The figures that make claims are measured on this variant;
- ``without bytecode``: the same files without any .pyc, as `pip install --no-compile` leaves
  them; Lambda's /var/task is read-only, so such a package compiles every module it imports at
  every cold start. Shown for comparison: what the bytecode saves.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.records import NO_BYTECODE, SHIPPED, VARIANTS
from bench.trials import function_environment

REPO = Path(__file__).resolve().parent.parent
_IMPORTTIME = re.compile(r"^import time:\s+(?P<self>\d+)\s+\|\s+(?P<cumulative>\d+)\s+\|\s+(?P<name>\S+)")
_RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
_NO_KEYCLOAK = "http://127.0.0.1:9"


@dataclass(frozen=True)
class FunctionTrees:
    """Directories to put on the path: the function's, the naive baseline's, the runtime's boto3."""

    function: dict[str, Path]
    naive: dict[str, Path]
    runtime: Path

    def path_for(self, variant: str, which: str) -> str:
        tree = self.naive if which.startswith("naive") else self.function
        return os.pathsep.join([str(tree[variant]), str(self.runtime)])


def naive_requirements() -> list[str]:
    """The naive baseline's dependencies, pinned to the versions installed here."""
    from importlib.metadata import version

    return [
        f"aws-lambda-powertools[tracer]=={version('aws-lambda-powertools')}",
        f"python-keycloak=={version('python-keycloak')}",
        f"pydantic=={version('pydantic')}",
    ]


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
        check=True,
        capture_output=True,
        timeout=600,
    )


def _variants(root: Path, requirements: list[str], code: Path | None) -> dict[str, Path]:
    """`requirements` as src/Makefile installs them (no runtime-provided packages), with and without bytecode."""
    packaged, compiled = root / "without-bytecode", root / "shipped"
    _pip("--no-compile", "--target", str(packaged), *requirements)
    for name in _RUNTIME_PROVIDED:
        shutil.rmtree(packaged / name, ignore_errors=True)
        for info in packaged.glob(f"{name}-*.dist-info"):
            shutil.rmtree(info)
    if code is not None:
        shutil.copytree(code, packaged / code.name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(packaged, compiled)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j0", "--invalidation-mode", "unchecked-hash", str(compiled)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return {SHIPPED: compiled, NO_BYTECODE: packaged}


@contextlib.contextmanager
def function_trees(source: Path = REPO / "src") -> Iterator[FunctionTrees]:
    """The package's files from `source` (laid out like src/) and the naive baseline's, in two variants each."""
    with tempfile.TemporaryDirectory(prefix="bench-function-") as scratch:
        root = Path(scratch)
        function = _variants(root / "function", ["-r", str(source / "requirements.txt")], source / "registrar")
        naive = _variants(root / "naive", naive_requirements(), None)
        _pip("--target", str(root / "runtime"), "boto3")
        yield FunctionTrees(function=function, naive=naive, runtime=root / "runtime")


def _command(arguments: list[str], cpus: tuple[int, ...]) -> list[str]:
    command = [sys.executable, "-S", *arguments]
    return ["taskset", "-c", ",".join(map(str, cpus)), *command] if cpus else command


def _environment(
    trees: FunctionTrees, variant: str, which: str, keycloak_url: str, *, kit: bool = False
) -> dict[str, str]:
    """`kit`: the probe builds events with the test kit, which needs the local stack's stdlib-only
    modules on the path too (left off where only an import is timed: Lambda has no such entry)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    path = [trees.path_for(variant, which), *([str(REPO / "local")] if kit else [])]
    return {
        **environment,
        **function_environment(keycloak_url, 10),
        "PYTHONPATH": os.pathsep.join(path),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _probe(args: list[str], environment: Mapping[str, str], cpus: tuple[int, ...], timeout: float = 120) -> Any:
    completed = subprocess.run(
        _command(["-m", "bench.probe", *args], cpus),
        env=dict(environment),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"probe {args} failed: {completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


@dataclass
class ImportTimes:
    runs: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def median(self, variant: str, which: str) -> float:
        return statistics.median(self.runs[variant][which])


def import_times(trees: FunctionTrees, runs: int, cpus: tuple[int, ...]) -> ImportTimes:
    """Interleaved fresh-interpreter imports, so drift in the machine's load hits all alike."""
    result = ImportTimes()
    for variant in VARIANTS:
        timings = result.runs.setdefault(variant, {})
        for _ in range(runs):
            for which in ("ours", "naive-imports", "naive-module"):
                environment = _environment(trees, variant, which, _NO_KEYCLOAK)
                timings.setdefault(which, []).append(_probe(["import", which], environment, cpus)["import_ms"])
    return result


def import_breakdown(
    trees: FunctionTrees, variant: str, module: str, cpus: tuple[int, ...], top: int = 10
) -> list[dict[str, Any]]:
    """`python -X importtime`: self time summed by top-level package, biggest first."""
    completed = subprocess.run(
        _command(["-X", "importtime", "-c", f"import {module}"], cpus),
        env=_environment(trees, variant, "naive" if module == "bench.naive" else "ours", _NO_KEYCLOAK),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    by_package: dict[str, int] = defaultdict(int)
    total = 0
    for line in completed.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match is None:
            continue
        microseconds = int(match["self"])
        by_package[match["name"].split(".")[0]] += microseconds
        total += microseconds
    ranked = sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:top]
    return [
        {"package": name, "self_ms": round(value / 1000, 1), "share": round(value / total, 3) if total else 0.0}
        for name, value in ranked
    ]


def first_invocations(
    trees: FunctionTrees, variant: str, keycloak_url: str, run_id: str, runs: int, cpus: tuple[int, ...]
) -> dict[str, list[dict[str, Any]]]:
    """Cold then warm invocation with a batch of ten new users, in a fresh process each run."""
    results: dict[str, list[dict[str, Any]]] = {"ours": [], "naive": []}
    for run in range(runs):
        for which in ("ours", "naive"):
            environment = _environment(trees, variant, which, keycloak_url, kit=True)
            results[which].append(_probe(["invoke", which, run_id, f"cold{which[0]}{run}"], environment, cpus))
    return results


def client_overhead(trees: FunctionTrees, cpus: tuple[int, ...], batches: int = 200) -> dict[str, dict[str, Any]]:
    """The function's own time per batch of ten with an instant Keycloak, logging at INFO and at WARNING."""
    environment = _environment(trees, SHIPPED, "ours", _NO_KEYCLOAK, kit=True)
    return {level: _probe(["overhead", level, str(batches)], environment, cpus) for level in ("INFO", "WARNING")}
