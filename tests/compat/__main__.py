"""Run the suites that speak to Keycloak against each supported version, each on PostgreSQL.

    python -m tests.compat [--versions 24.0.5 26.7.3] [--database postgres]

For each version: start Keycloak (the Java it needs is chosen by version), probe how it treats
the requests the function sends, run the suites against it (KEYCLOAK_TEST_URL), stop it. The
results go to tests/compat/results.json and a Markdown table for the README is printed. The exit
code is non-zero when any version fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from registrar_local.java import java_home_for, java_major
from registrar_local.keycloak_server import (
    DATABASES,
    KEYCLOAK_VERSION,
    Database,
    KeycloakServer,
    cache_dir,
    master_admin,
)
from tests.compat.probe import probe

VERSIONS = ("24.0.5", "25.0.6", "26.0.8", "26.5.6", "26.7.3")
# Integration (the 409 cases among them), privilege, service account, the concurrent duplicates,
# and the operator's setup-keycloak and check, which users run against their own version.
SUITES = (
    "tests/integration",
    "tests/security/test_privilege.py",
    "tests/security/test_service_account.py",
    "tests/resilience/test_concurrent_duplicates.py",
    "tests/ops/test_keycloak_setup.py",
)
# The private-CA test starts its own Keycloak with HTTPS options of recent 26.x releases
# (--http-management-scheme), so it runs with `make test` on the default version only.
LEFT_OUT = ("tests/integration/test_private_ca.py",)
ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).with_name("results.json")


def run_suites(url: str, version: str, report: Path) -> dict[str, Any]:
    """pytest on the suites against the server at `url`; counts and the names of failing tests."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            *(f"--ignore={path}" for path in LEFT_OUT),
            *SUITES,
        ],
        cwd=ROOT,
        env={**os.environ, "KEYCLOAK_TEST_URL": url, "KEYCLOAK_VERSION": version},
        capture_output=True,
        text=True,
        check=False,
    )
    if not report.exists():
        return {"passed": 0, "total": 0, "failed": [f"pytest did not run: {completed.stdout[-2000:]}"]}
    suite = ET.parse(report).getroot()
    failed: list[str] = []
    total = 0
    skipped = 0
    for case in suite.iter("testcase"):
        total += 1
        if case.find("skipped") is not None:
            skipped += 1
        elif case.find("failure") is not None or case.find("error") is not None:
            problem = case.find("failure") if case.find("failure") is not None else case.find("error")
            message = (problem.get("message") if problem is not None else "") or ""
            failed.append(f"{case.get('name')}: {message.splitlines()[0][:200] if message else ''}")
    return {"passed": total - skipped - len(failed), "skipped": skipped, "total": total, "failed": failed}


def check_version(version: str, database: Database, reports: Path) -> dict[str, Any]:
    started = time.monotonic()
    entry: dict[str, Any] = {"version": version, "database": database}
    try:
        java = java_home_for(version)
    except RuntimeError as missing:
        return {**entry, "result": "not run", "error": str(missing)}
    entry["java"] = java_major(java)
    log_path = cache_dir() / "logs" / f"compat-keycloak-{version}.log"
    log_path.unlink(missing_ok=True)
    server = KeycloakServer(version=version, database=database, log_path=log_path)
    try:
        server.start()
        entry["server"] = master_admin(server.url).get_server_info()["systemInfo"]["version"]
        entry["behaviour"] = probe(master_admin(server.url), server.url)
        entry |= run_suites(server.url, version, reports / f"{version}.xml")
    except Exception as error:  # noqa: BLE001 - a version that does not start is a result, not a crash
        entry["error"] = f"{type(error).__name__}: {error}; Keycloak log: {log_path}"
    finally:
        server.stop()
    clean = not entry.get("error") and not entry.get("failed") and entry.get("total")
    entry["result"] = "passed" if clean else "failed"
    entry["seconds"] = round(time.monotonic() - started)
    return entry


def differences(entry: dict[str, Any], baseline: dict[str, Any] | None) -> list[str]:
    """The probes where this version answers differently from the default version."""
    mine = entry.get("behaviour", {})
    theirs = (baseline or {}).get("behaviour", {})
    found: list[str] = []
    for name, value in mine.items():
        if isinstance(value, dict):
            for key, inner in value.items():
                if theirs.get(name, {}).get(key) != inner:
                    found.append(f"{name} ({key}): {inner}")
        elif theirs.get(name) != value:
            found.append(f"{name}: {value}")
    return found


def table(results: list[dict[str, Any]]) -> str:
    baseline = next((entry for entry in results if entry["version"] == KEYCLOAK_VERSION), None)
    lines = [
        "| Keycloak | Java | result | tests passed | behaviour differences from the default version |",
        "| --- | --- | --- | --- | --- |",
    ]
    for entry in results:
        found = differences(entry, baseline)
        notes = "the default version" if entry is baseline else "; ".join(found) or "none found"
        if entry.get("error"):
            notes = f"{entry['error']}; {notes}"
        if entry.get("failed"):
            notes = f"failing: {'; '.join(entry['failed'])}; {notes}"
        tests = f"{entry.get('passed', 0)}/{entry.get('total', 0)}"
        lines.append(f"| {entry['version']} | {entry.get('java', '-')} | {entry['result']} | {tests} | {notes} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.compat", description=__doc__.splitlines()[0])
    parser.add_argument("--versions", nargs="+", default=list(VERSIONS))
    parser.add_argument("--database", choices=DATABASES, default="postgres")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args(argv)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="compat-") as reports:
        for version in args.versions:
            print(f"Keycloak {version} on {args.database}...", flush=True)
            entry = check_version(version, args.database, Path(reports))
            print(f"  {entry['result']}: {entry.get('passed', 0)}/{entry.get('total', 0)} in {entry.get('seconds')}s")
            for problem in [*entry.get("failed", []), *([entry["error"]] if entry.get("error") else [])]:
                print(f"  {problem}")
            results.append(entry)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    document = {
        "commit": commit.stdout.strip(),
        "date": time.strftime("%Y-%m-%d"),
        "database": args.database,
        "suites": list(SUITES),
        "left_out": list(LEFT_OUT),
        "versions": results,
    }
    args.results.write_text(json.dumps(document, indent=2) + "\n")
    print(table(results))
    return 0 if all(entry["result"] == "passed" for entry in results) else 1


if __name__ == "__main__":
    sys.exit(main())
