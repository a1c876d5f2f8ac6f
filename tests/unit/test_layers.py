"""The domain depends on nothing but pydantic: no HTTP client, no AWS SDK, no Lambda toolkit.

And the test kit's events, which the benchmarks' probes import, need nothing but the standard library.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FORBIDDEN = ("keycloak", "requests", "boto3", "botocore", "aws_lambda_powertools")


@pytest.mark.parametrize(
    "module",
    [
        "registrar.domain.registration",
        "registrar.domain.registrar",
        "registrar.domain.fanout",
        "registrar.domain.outcomes",
        "registrar.domain.resilience",
        "registrar.domain.backoff",
        "registrar.domain.groups",
        "registrar.domain.settlement",
    ],
)
def test_importing_the_domain_loads_no_adapter_library(module: str) -> None:
    # A fresh interpreter: this test session has long since imported all of them.
    probe = f"import sys, {module}; print(','.join(sys.modules))"
    run = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    loaded = set(run.stdout.strip().split(","))
    assert module in loaded  # the probe sees what was imported
    packages = {name.split(".")[0] for name in loaded}
    assert packages.isdisjoint(FORBIDDEN), f"{module} loads {sorted(packages & set(FORBIDDEN))}"


def test_the_kit_events_import_beside_the_built_package_alone() -> None:
    # The benchmarks' cold-start probes run with `python -S` and only the function's package and
    # local/ on the path; a third-party import in the kit's events would break them there.
    repo = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            "import tests.kit.events as e; print(e.sqs_event('{}')['Records'][0]['messageId'])",
        ],
        cwd=repo,
        env={"PYTHONPATH": str(repo / "local")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (run.returncode, run.stdout.strip()) == (0, "m-0"), run.stderr
