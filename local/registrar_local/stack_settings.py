"""The queue and mapping settings of template.yaml, so the local stack has no copy of its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


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


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads the short intrinsic forms (!Ref, !GetAtt, !Sub...) as their long forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(document, dict):
        raise ValueError(f"{path} is not a CloudFormation template")
    return document


def read_stack_settings(path: Path = TEMPLATE) -> StackSettings:
    template = load_template(path)
    parameters = template.get("Parameters", {})
    resources = template["Resources"]

    mappings = template.get("Mappings", {})

    def resolve_any(value: Any) -> Any:
        """Literals, parameter defaults and Fn::FindInMap: what the template can say before a deploy."""
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
            return parameters[value["Ref"]]["Default"]
        if isinstance(value, dict) and set(value) == {"Fn::FindInMap"}:
            name, top, second = (str(resolve_any(part)) for part in value["Fn::FindInMap"])
            return mappings[name][top][second]
        if isinstance(value, int | str):
            return value
        raise ValueError(f"{path}: cannot resolve {value!r} without deploying")

    def resolve(value: Any) -> int:
        return int(resolve_any(value))

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
