"""The queue and mapping settings of template.yaml, so the local stack has no copy of its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registrar_local.cfn import TEMPLATE, function_environment, load_template, parameter_values, resolve_literal


@dataclass(frozen=True)
class StackSettings:
    function_timeout: int
    visibility_timeout: int
    max_receive_count: int
    retention_seconds: int
    dlq_retention_seconds: int
    batch_size: int
    max_concurrency: int
    batching_window_seconds: int


def read_stack_settings(path: Path = TEMPLATE) -> StackSettings:
    template = load_template(path)
    parameters = parameter_values(template)
    resources = template["Resources"]

    def resolve(value: Any) -> int:
        try:
            return int(resolve_literal(value, template, parameters))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    def globals_or(properties: dict[str, Any], name: str) -> Any:
        return properties.get(name, template.get("Globals", {}).get("Function", {}).get(name))

    function = resources["RegistrationFunction"]["Properties"]
    source = resources["RegistrationQueue"]["Properties"]
    dlq = resources["RegistrationDLQ"]["Properties"]
    (event,) = [e["Properties"] for e in function.get("Events", {}).values() if e["Type"] == "SQS"]
    return StackSettings(
        function_timeout=resolve(globals_or(function, "Timeout")),
        visibility_timeout=resolve(source["VisibilityTimeout"]),
        max_receive_count=resolve(source["RedrivePolicy"]["maxReceiveCount"]),
        retention_seconds=resolve(source.get("MessageRetentionPeriod", 345600)),
        dlq_retention_seconds=resolve(dlq["MessageRetentionPeriod"]),
        batch_size=resolve(event.get("BatchSize", 10)),
        max_concurrency=resolve(event["ScalingConfig"]["MaximumConcurrency"]),
        batching_window_seconds=resolve(event.get("MaximumBatchingWindowInSeconds", 0)),
    )


def template_function_environment(path: Path = TEMPLATE) -> dict[str, str]:
    """The function's environment variables as template.yaml sets them with every parameter at its default."""
    template = load_template(path)
    return function_environment(template, parameter_values(template))
