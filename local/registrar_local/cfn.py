"""template.yaml read and evaluated offline: the one resolver of CloudFormation intrinsics.

The local stack takes its queue, mapping and function settings from here, and the template tests
evaluate conditions, rules and resources with it. It evaluates what parameter values alone decide
(Ref to a parameter, Fn::FindInMap, Fn::If and the condition and rule functions, the list
functions); what needs a deployed resource (Fn::GetAtt, a Ref to a resource, Fn::Sub) is returned
as written, so a caller can tell it apart or compare it with the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

NO_VALUE: Any = object()
"""What Ref AWS::NoValue evaluates to: the property or list item is dropped."""
UNRESOLVED: Any = object()
"""What an intrinsic evaluates to when only a deployment knows its value."""


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads the short intrinsic forms (!Ref, !GetAtt, !Sub...) as their long forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else ("Condition" if suffix == "Condition" else f"Fn::{suffix}")
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


def parameter_values(template: Mapping[str, Any], given: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every parameter's value as CloudFormation hands it to Ref: the default unless given, as a string."""
    values = {name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items() if "Default" in spec}
    values.update(given or {})
    return values


def is_list_parameter(template: Mapping[str, Any], name: str) -> bool:
    return bool(template.get("Parameters", {}).get(name, {}).get("Type") == "CommaDelimitedList")


def parameter_value(template: Mapping[str, Any], parameters: Mapping[str, str], name: str) -> Any:
    """A parameter as Ref yields it: a list for CommaDelimitedList ("" gives [""]), else the string."""
    value = parameters[name]
    return value.split(",") if is_list_parameter(template, name) else value


def condition_holds(template: Mapping[str, Any], parameters: Mapping[str, str], name: str) -> bool:
    return bool(evaluate(template["Conditions"][name], template, parameters))


def evaluate(value: Any, template: Mapping[str, Any], parameters: Mapping[str, str]) -> Any:
    """The value with parameters, conditions, Fn::If and AWS::NoValue resolved as CloudFormation would."""
    if isinstance(value, list):
        items = [evaluate(item, template, parameters) for item in value]
        return [item for item in items if item is not NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((function, argument),) = value.items()
        result = evaluate_function(function, argument, template, parameters)
        if result is not UNRESOLVED:
            return result
    fields = {key: evaluate(item, template, parameters) for key, item in value.items()}
    return {key: item for key, item in fields.items() if item is not NO_VALUE}


def evaluate_function(function: str, argument: Any, template: Mapping[str, Any], parameters: Mapping[str, str]) -> Any:
    """One intrinsic function, or UNRESOLVED when it needs what only a deployment knows."""
    handler = FUNCTIONS.get(function)
    return UNRESOLVED if handler is None else handler(argument, template, parameters)


def deployed(template: Mapping[str, Any], parameters: Mapping[str, str]) -> dict[str, Any]:
    """The template with only the resources CloudFormation would create for these values, evaluated."""
    created = {}
    for name, body in template["Resources"].items():
        if "Condition" in body and not condition_holds(template, parameters, body["Condition"]):
            continue
        created[name] = {**body, "Properties": evaluate(body.get("Properties", {}), template, parameters)}
    return {**template, "Resources": created}


def rule_violations(template: Mapping[str, Any], parameters: Mapping[str, str]) -> list[str]:
    """The AssertDescription of every Rules assertion these parameter values break."""
    broken: list[str] = []
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" in rule and not evaluate(rule["RuleCondition"], template, parameters):
            continue
        broken.extend(
            assertion["AssertDescription"]
            for assertion in rule["Assertions"]
            if not evaluate(assertion["Assert"], template, parameters)
        )
    return broken


def _ref(name: str, template: Mapping[str, Any], parameters: Mapping[str, str]) -> Any:
    if name == "AWS::NoValue":
        return NO_VALUE
    return parameter_value(template, parameters, name) if name in parameters else UNRESOLVED


def _if(argument: list[Any], template: Mapping[str, Any], parameters: Mapping[str, str]) -> Any:
    name, when_true, when_false = argument
    return evaluate(when_true if condition_holds(template, parameters, name) else when_false, template, parameters)


def _find_in_map(argument: list[Any], template: Mapping[str, Any], parameters: Mapping[str, str]) -> Any:
    mapping, first, second = (evaluate(part, template, parameters) for part in argument)
    if not all(isinstance(part, str | int) for part in (mapping, first, second)):
        return UNRESOLVED
    return template["Mappings"][str(mapping)][str(first)][str(second)]


def _join(separator: str, parts: Any) -> Any:
    literal = isinstance(parts, list) and all(isinstance(part, str) for part in parts)
    return separator.join(parts) if literal else UNRESOLVED


def _split(separator: str, text: Any) -> Any:
    return text.split(separator) if isinstance(text, str) else UNRESOLVED


def _select(index: Any, items: Any) -> Any:
    return items[int(index)] if isinstance(items, list) else UNRESOLVED


_Function = Callable[[Any, Mapping[str, Any], Mapping[str, str]], Any]

RULE_AND_CONDITION_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "Fn::Equals": lambda args: args[0] == args[1],
    "Fn::Not": lambda args: not args[0],
    "Fn::And": all,
    "Fn::Or": any,
    "Fn::Contains": lambda args: args[1] in args[0],
    "Fn::EachMemberEquals": lambda args: all(member == args[1] for member in args[0]),
    "Fn::EachMemberIn": lambda args: all(member in args[1] for member in args[0]),
}
LIST_FUNCTIONS: dict[str, Callable[..., Any]] = {"Fn::Join": _join, "Fn::Split": _split, "Fn::Select": _select}


def _on_evaluated(compute: Callable[[Any], Any]) -> _Function:
    """A condition or rule function, applied to its evaluated argument."""
    return lambda argument, template, parameters: compute(evaluate(argument, template, parameters))


def _on_evaluated_arguments(compute: Callable[..., Any]) -> _Function:
    """A list function, applied to its evaluated arguments."""
    return lambda argument, template, parameters: compute(*evaluate(argument, template, parameters))


FUNCTIONS: dict[str, _Function] = {
    "Ref": _ref,
    "Condition": lambda name, template, parameters: condition_holds(template, parameters, name),
    "Fn::If": _if,
    "Fn::FindInMap": _find_in_map,
    **{name: _on_evaluated(compute) for name, compute in RULE_AND_CONDITION_FUNCTIONS.items()},
    **{name: _on_evaluated_arguments(compute) for name, compute in LIST_FUNCTIONS.items()},
}


def resolve_literal(value: Any, template: Mapping[str, Any], parameters: Mapping[str, str]) -> str | int | float | bool:
    """A value the parameters alone decide, or ValueError: the local stack cannot deploy to learn it."""
    result = evaluate(value, template, parameters)
    if isinstance(result, str | int | float | bool):
        return result
    raise ValueError(f"cannot resolve {value!r} without deploying")


def function_environment(
    template: Mapping[str, Any], parameters: Mapping[str, str], function: str = "RegistrationFunction"
) -> dict[str, str]:
    """The function's environment variables (Globals included) that the parameter values decide.

    Variables that name a deployed resource (the DLQ's URL, say) or a parameter without a value
    are left out.
    """
    global_variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
    environment: dict[str, str] = {}
    for name, value in {**global_variables, **own}.items():
        result = evaluate(value, template, parameters)
        if isinstance(result, bool):
            environment[name] = str(result).lower()
        elif isinstance(result, str | int | float):
            environment[name] = str(result)
    return environment
