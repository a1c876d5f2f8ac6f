"""The domain depends on nothing but pydantic: no HTTP client, no AWS SDK, no Lambda toolkit."""

from __future__ import annotations

import subprocess
import sys

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
