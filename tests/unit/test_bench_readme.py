"""README's benchmark tables come from results.json; every claim renders the bound it checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench import claims, readme
from bench.claims import FAIL, PASS
from bench.figures import all_figures
from bench.records import SHIPPED, SuiteResults

README = """# Project

Intro text stays.

<!-- bench:claims -->
stale claims
<!-- /bench:claims -->

Between the tables.

<!-- bench:stack -->
stale stack
<!-- /bench:stack -->

Closing text stays.
"""


def _trial(kind: str, rep: int, rate: float, batch_ms: float | None = None, latency: float = 0.0) -> dict[str, Any]:
    return {
        "rep": rep,
        "kind": kind,
        "processes": 1,
        "in_flight_per_process": 10,
        "latency_ms": latency,
        "users": 200,
        "failures": 0,
        "seconds": 200 / rate,
        "users_per_second": rate,
        "median_batch_ms": batch_ms,
        "client_cpu_ms_per_user": 0.5,
        "with_password": False,
        "batch_ms": [],
    }


def _sample() -> dict[str, Any]:
    """A small run: one level, two repetitions, every part with data, as results.json holds it."""
    trials = []
    for rep in range(2):
        trials += [
            _trial("limit", rep, 200.0),
            _trial("ours", rep, 190.0, batch_ms=50.0),
            _trial("naive", rep, 100.0, batch_ms=100.0),
            _trial("limit_batched", rep, 180.0),
            _trial("ours", rep, 120.0, batch_ms=80.0, latency=50.0),
            _trial("naive", rep, 15.0, batch_ms=560.0, latency=50.0),
            _trial("limit", rep, 130.0, latency=50.0),
        ]
    return {
        "machine": {"cpu": "Test CPU", "cores": 2, "memory_gib": 4.0, "python": "3.13.0", "keycloak": "26.5.6"},
        "settings": {"levels": [1], "latency_ms": 50.0, "parts": [], "run_id": "r1"},
        "provenance": {"commit": "abc1234", "source": "/src", "src_changes": "none"},
        "seconds": 600.0,
        "trials": trials,
        "requests": {"users": 1000, "failures": 0, "proxy": {}, "proxy_total": 1002, "proxy_unframed_connections": 0},
        "imports": {SHIPPED: {"ours": [200.0, 210.0], "naive-imports": [280.0, 300.0]}},
        "package": {
            "unpacked_bytes": 44_300_000,
            "zipped_bytes": 15_400_000,
            "build_seconds": 3.0,
            "files": 2300,
            "bytecode_files": 1000,
            "distributions": [{"distribution": "cryptography", "mb": 14.1, "required_by": ["jwcrypto"]}],
        },
        "local_stack": {
            "ceiling_rates": [376.0],
            "ceiling_measured_here": False,
            "runs": [
                {
                    "count": 50000,
                    "sent": 50050,
                    "created": 50039,
                    "in_dlq": 11,
                    "left": 0,
                    "drained": True,
                    "seconds_first_send_to_empty": 145.0,
                    "users_per_second": 345.0,
                    "peak_queue_depth": 40330,
                    "latency_p50_s": 51.4,
                    "latency_p99_s": 102.5,
                    "duplicates_in_batch": 0,
                    "peak_rss_bytes": {"elasticmq": 324 * 2**20},
                    "exit_code": 0,
                }
            ],
        },
    }


def test_the_generator_renders_each_claim_into_the_marked_tables():
    rendered = readme.rewrite(README, SuiteResults.from_json(_sample()))

    assert rendered.startswith("# Project\n\nIntro text stays.\n")
    assert "Between the tables." in rendered
    assert rendered.endswith("Closing text stays.\n")
    assert "stale" not in rendered
    assert "commit abc1234; Test CPU, 2 cores" in rendered
    rows = [line for line in rendered.splitlines() if line.startswith("| ")]
    assert "| ours / limit, the same requests in flight | 0.950 x | >= 0.9 | PASS |" in rows
    assert "| speedup per batch of 10 over the naive BatchProcessor, +0 ms | 2.00 x | >= 5 | FAIL |" in rows
    assert "| speedup per batch of 10 over the naive BatchProcessor, +50 ms | 7.00 x | >= 5 | PASS |" in rows
    assert "| Keycloak requests per new user, tokens included | 1.00 | <= 1.02 | PASS |" in rows
    assert "| handler import / naive Powertools + python-keycloak + pydantic import | 0.707 x | <= 0.6 | FAIL |" in rows
    assert "| `sam build` package, unpacked (MB) | 44.3 MB | <= 25 | FAIL |" in rows
    assert "| 50000 registrations: / Keycloak's ceiling | 0.918 x | >= 0.8 | PASS |  |" in rows
    # Rendering again from the same results changes nothing.
    assert readme.rewrite(rendered, SuiteResults.from_json(_sample())) == rendered


def test_a_stack_that_did_not_drain_fails_its_claim_whatever_the_ratio():
    sample = _sample()
    sample["local_stack"]["runs"][0]["drained"] = False

    rows = readme.rewrite(README, SuiteResults.from_json(sample)).splitlines()

    assert "| 50000 registrations: / Keycloak's ceiling | 0.918 x | >= 0.8 | FAIL |  |" in rows


def test_a_readme_without_markers_is_refused():
    with pytest.raises(readme.MarkersMissing, match="bench:claims"):
        readme.rewrite("# no tables here\n", SuiteResults.from_json(_sample()))


def test_the_command_rewrites_the_readme_and_check_tells_stale_from_fresh(tmp_path: Path):
    results, target = tmp_path / "results.json", tmp_path / "README.md"
    results.write_text(json.dumps(_sample()), encoding="utf-8")
    target.write_text(README, encoding="utf-8")

    assert readme.command(results, target, check=True) == 1
    assert target.read_text(encoding="utf-8") == README
    assert readme.command(results, target) == 0
    assert readme.command(results, target, check=True) == 0
    assert "| ours / limit, the same requests in flight | 0.950 x |" in target.read_text(encoding="utf-8")


def test_typed_results_survive_the_json_round_trip():
    results = SuiteResults.from_json(_sample())

    assert SuiteResults.from_json(json.loads(json.dumps(results.to_json()))) == results


def test_results_written_before_the_build_shipped_bytecode_name_the_variants_anew():
    sample = _sample()
    sample["imports"] = {"with bytecode": {"ours": [200.0], "naive-imports": [400.0]}}

    figures = all_figures(SuiteResults.from_json(sample))

    decisive = [figure for figure in figures if figure.claim is claims.INIT_VS_NAIVE and figure.decisive]
    assert [(figure.name, figure.value) for figure in decisive] == [("handler init / naive, as shipped", 0.5)]


@pytest.mark.parametrize("claim", claims.ALL, ids=lambda claim: claim.title)
def test_each_claim_renders_the_bound_it_checks(claim: claims.Claim):
    operator, number = claim.target.text.split()
    bound = float(number)
    above, below = bound * 1.01, bound * 0.99

    assert bound == claim.target.bound
    assert claim.target.check(bound) == PASS
    assert claim.target.check(None) == FAIL
    if operator == ">=":
        assert (claim.target.check(above), claim.target.check(below)) == (PASS, FAIL)
    else:
        assert operator == "<="
        assert (claim.target.check(above), claim.target.check(below)) == (FAIL, PASS)
