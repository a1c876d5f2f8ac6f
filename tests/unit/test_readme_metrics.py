"""README's Observability section names every metric the function emits."""

from __future__ import annotations

from pathlib import Path

from registrar.observability import METRICS_NAMESPACE, MetricName

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_metric_the_function_emits_is_named_in_the_observability_section() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Observability") :]
    section = section[: section.index("\n## ", 1)]

    assert f"`{METRICS_NAMESPACE}`" in section
    assert [name.value for name in MetricName if f"`{name.value}`" not in section] == []
