"""README's benchmark tables come from results.json; every claim renders the bound it checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench import claims, readme
from bench.claims import FAIL, PASS
from bench.cli import README as PROJECT_README
from bench.cli import RESULTS, SCRATCH_RESULTS, parse_options
from bench.figures import (
    BATCHES_SECTION,
    DATABASES_SECTION,
    OUTAGE_MODEL_SECTION,
    RECOVERY_SECTION,
    STACK_SECTION,
    all_figures,
    percentile,
)
from bench.records import SHIPPED, DatabaseTrial, Recovery, SuiteResults, load

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


def _trial(
    kind: str, rep: int, rate: float, batch_ms: float | None = None, latency: float = 0.0, password: bool = False
) -> dict[str, Any]:
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
        "with_password": password,
        "batch_ms": [],
    }


def _on(database: str, trial: dict[str, Any]) -> dict[str, Any]:
    return {**trial, "database": database}


def _databases() -> list[dict[str, Any]]:
    """The part `databases`: PostgreSQL a little faster than H2, ours 0.95 of the limit on PostgreSQL, 0.8 on H2."""
    trials = []
    for rep in range(2):
        trials += [
            _on("postgres", _trial("limit", rep, 210.0)),
            _on("postgres", _trial("ours", rep, 199.5)),
            _on("dev-file", _trial("limit", rep, 200.0)),
            _on("dev-file", _trial("ours", rep, 160.0)),
            _on("postgres", _trial("limit", rep, 13.0, password=True)),
            _on("dev-file", _trial("ours", rep, 6.5, password=True)),
        ]
    return trials


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
        "machine": {
            "cpu": "Test CPU",
            "cores": 2,
            "memory_gib": 4.0,
            "python": "3.13.0",
            "keycloak": "26.5.6",
            "keycloak_database": "postgres",
        },
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
        "databases": _databases(),
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
    # The databases part shows ours / limit against the claim's target; the main sweep alone decides it.
    assert not [row for row in rows if "H2" in row or "PostgreSQL" in row]
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
    assert results.machine.keycloak_database == "postgres"
    assert results.databases is not None
    assert {type(trial) for trial in results.databases} == {DatabaseTrial}
    assert {trial.database for trial in results.databases} == {"postgres", "dev-file"}


def test_results_without_the_databases_part_have_no_database_figures():
    sample = _sample()
    del sample["databases"], sample["machine"]["keycloak_database"]

    results = SuiteResults.from_json(sample)

    assert results.databases is None
    assert results.machine.keycloak_database == "not started"
    assert not [figure for figure in all_figures(results) if figure.section == DATABASES_SECTION]


def test_database_figures_compare_each_client_across_databases_and_skip_failing_rates():
    sample = _sample()
    sample["databases"] += [_on("dev-file", {**_trial("limit", rep, 5.0), "failures": 3}) for rep in (2, 3)]

    figures = {figure.name: figure for figure in all_figures(SuiteResults.from_json(sample))}

    assert figures["H2 (dev-file): limit, 10 in flight"].value == 200.0
    assert figures["PostgreSQL / H2 (dev-file), limit at 10 in flight"].value == pytest.approx(1.05)
    assert figures["PostgreSQL / H2 (dev-file), ours at 10 in flight"].value == pytest.approx(199.5 / 160.0)
    assert figures["PostgreSQL: limit with a password per user, 10 in flight"].value == 13.0
    assert figures["PostgreSQL: ours with a password per user, 10 in flight"].value is None
    shown = figures["H2 (dev-file): ours / limit at 10 in flight"]
    assert (shown.value, shown.target, shown.status) == (0.8, ">= 0.9", "info")


def test_a_given_keycloak_drops_the_part_that_starts_its_own_servers():
    assert "databases" in parse_options([]).parts
    assert "databases" not in parse_options(["--keycloak-url", "http://127.0.0.1:8080"]).parts
    with pytest.raises(SystemExit):
        parse_options(["--keycloak-url", "http://127.0.0.1:8080", "--only", "databases"])


def test_only_the_suite_at_its_defaults_writes_the_results_readme_shows(tmp_path: Path):
    assert parse_options([]).out == RESULTS
    for smaller in (
        ["--quick"],
        ["--reps", "2"],
        ["--latency-ms", "20"],
        ["--no-pin"],
        ["--only", "stack"],
        ["--skip", "recovery"],
        ["--keycloak-url", "http://127.0.0.1:8080"],
        ["--source", str(tmp_path)],
    ):
        assert parse_options(smaller).out == SCRATCH_RESULTS, smaller
    assert parse_options(["--quick", "--out", str(tmp_path)]).out == tmp_path


def test_the_readme_shows_the_committed_results_of_a_full_run():
    results = load(RESULTS / "results.json")
    text = PROJECT_README.read_text(encoding="utf-8")

    assert not results.settings.quick
    sections = {figure.section for figure in all_figures(results)}
    assert {STACK_SECTION, BATCHES_SECTION, DATABASES_SECTION, RECOVERY_SECTION, OUTAGE_MODEL_SECTION} <= sections
    assert readme.rewrite(text, results) == text, "README's figure tables are stale: run `python -m bench readme`"


def test_results_written_before_the_build_shipped_bytecode_name_the_variants_anew():
    sample = _sample()
    sample["imports"] = {"with bytecode": {"ours": [200.0], "naive-imports": [400.0]}}

    figures = all_figures(SuiteResults.from_json(sample))

    decisive = [figure for figure in figures if figure.claim is claims.INIT_VS_NAIVE and figure.decisive]
    assert [(figure.name, figure.value) for figure in decisive] == [("handler init / naive, as shipped", 0.5)]


def _recovery(**changes: Any) -> dict[str, Any]:
    """The part `recovery`: 2,000 sent, all created after a 60 s outage; a backlog of 1,500 at 300 users/s."""
    run = {
        "load_per_second": 20.0,
        "lead_seconds": 10.0,
        "outage_seconds": 60.0,
        "backoff_base_seconds": 1.0,
        "backoff_max_seconds": 20.0,
        "circuit_cooldown_seconds": 30.0,
        "max_receive_count": 100,
        "max_concurrency": 5,
        "sent": 2000,
        "created": 2000,
        "duplicates": 0,
        "in_dlq": 0,
        "left": 0,
        "lost": 0,
        "down_seconds": 95.0,
        "backlog_at_healthy": 1500,
        "seconds_healthy_to_empty": 25.0,
        "drained": True,
        "ceiling_rates": [250.0, 300.0, 280.0],
        "receives": 9000,
        "invocations": 1200,
    }
    return run | changes


def _recovery_figures(**changes: Any) -> dict[str, Any]:
    sample = _sample() | {"recovery": _recovery(**changes)}
    return {figure.name: figure for figure in all_figures(SuiteResults.from_json(sample))}


def test_recovery_compares_the_drain_with_the_backlog_at_the_ceiling_and_says_its_scale():
    figures = _recovery_figures()

    # The ideal is the backlog at the best ceiling repetition: 1500 / 300 = 5 s; 25 s is 5 times that.
    assert figures["healthy to empty / ideal"].value == pytest.approx(5.0)
    assert figures["healthy to empty / ideal"].status == "info"
    assert "ideal (backlog / ceiling) 5.0 s" in figures["Keycloak healthy to queue empty"].note
    assert [(figures[name].value, figures[name].status) for name in ("users lost", "copies in the DLQ")] == [
        (0, PASS),
        (0, PASS),
    ]
    assert (figures["duplicate users"].value, figures["duplicate users"].status) == (0, PASS)
    scale = figures["the run's time scale"].note
    assert "backoff 1 s doubling to 20 s" in scale
    assert "Keycloak stopped 60 s (95 s until healthy)" in scale
    recovery = [figure for figure in figures.values() if figure.section == RECOVERY_SECTION]
    assert len(recovery) == 8


def test_recovery_claims_fail_on_a_loss_a_dead_letter_a_duplicate_or_a_queue_left_full():
    failed = _recovery_figures(lost=1, in_dlq=2, duplicates=1)
    assert [failed[name].status for name in ("users lost", "copies in the DLQ", "duplicate users")] == [FAIL] * 3

    stuck = _recovery_figures(drained=False, left=40, created=1960)
    assert stuck["users lost"].value == 0
    assert (stuck["users lost"].status, stuck["copies in the DLQ"].status) == (FAIL, FAIL)
    assert "did NOT drain, 40 left" in stuck["users lost"].note


def test_recovery_claims_render_in_the_claims_table_and_survive_the_json_round_trip():
    sample = _sample() | {"recovery": _recovery()}
    results = SuiteResults.from_json(sample)

    rows = readme.rewrite(README, results).splitlines()

    assert "| a Keycloak outage under load: users lost | 0 | <= 0 | PASS |" in rows
    assert "| a Keycloak outage under load: copies in the DLQ | 0 | <= 0 | PASS |" in rows
    assert isinstance(results.recovery, Recovery)
    assert SuiteResults.from_json(json.loads(json.dumps(results.to_json()))) == results
    assert SuiteResults.from_json(_sample()).recovery is None


@pytest.mark.parametrize("claim", claims.ALL, ids=lambda claim: claim.title)
def test_each_claim_renders_the_bound_it_checks(claim: claims.Claim):
    operator, number = claim.target.text.split()
    bound = float(number)
    # A bound of 0 (nothing lost) has no 1 % either side: one unit either side instead.
    above, below = (bound * 1.01, bound * 0.99) if bound else (1.0, -1.0)

    assert bound == claim.target.bound
    assert claim.target.check(bound) == PASS
    assert claim.target.check(None) == FAIL
    if operator == ">=":
        assert (claim.target.check(above), claim.target.check(below)) == (PASS, FAIL)
    else:
        assert operator == "<="
        assert (claim.target.check(above), claim.target.check(below)) == (FAIL, PASS)


def _batches() -> list[dict[str, Any]]:
    """The part `batches`: two repetitions; ours at 10 and 100 per batch, the limit beside them, +0 and +50 ms."""
    trials = []
    for rep in range(2):
        for latency, limit in ((0.0, 200.0), (50.0, 120.0)):
            trials += [
                _trial("limit", rep, limit, latency=latency),
                {**_trial("ours", rep, 0.9 * limit, latency=latency), "batch_ms": [50.0 + rep, 60.0 + rep]},
                {
                    **_trial("ours", rep, (0.95 + rep / 100) * limit, latency=latency),
                    "batch_size": 100,
                    "batch_ms": [500.0 + 10 * rep],
                },
            ]
    return trials


def test_batch_figures_pair_each_size_with_the_limit_of_the_same_repetition_and_latency():
    sample = _sample()
    sample["batches"] = _batches()

    results = SuiteResults.from_json(sample)
    figures = {figure.name: figure for figure in all_figures(results)}

    assert results.batches is not None
    assert {trial.batch_size for trial in results.batches} == {10, 100}
    assert figures["limit, 10 threads, +50 ms"].value == 120.0
    assert figures["batch of 10, +0 ms: ours"].value == pytest.approx(180.0)
    assert figures["batch of 10, +50 ms: ours / limit"].value == pytest.approx(0.9)
    assert figures["batch of 100, +50 ms: ours / limit"].value == pytest.approx(0.955)
    assert figures["batch of 10, +0 ms: batch p50"].value == 51.0
    assert figures["batch of 10, +0 ms: batch p99"].value == 61.0
    assert figures["batch of 100, +0 ms: batch p99"].value == 510.0
    # No size measured, no figures for it; the ratios are shown against the claim's target, never decide it.
    assert not [name for name in figures if name.startswith("batch of 50")]
    shown = figures["batch of 100, +0 ms: ours / limit"]
    assert (shown.target, shown.status) == (">= 0.9", "info")
    assert not [row for row in readme.rewrite(README, results).splitlines() if "batch of 100" in row]


def test_results_without_the_batches_part_have_no_batch_figures_and_size_10_trials():
    results = SuiteResults.from_json(_sample())

    assert results.batches is None
    assert {trial.batch_size for trial in results.trials} == {10}
    assert not [figure for figure in all_figures(results) if figure.section == BATCHES_SECTION]


def test_the_percentile_is_a_measured_value_by_nearest_rank():
    values = [float(value) for value in range(1, 101)]

    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (50.0, 99.0, 100.0)
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None
