"""The SAM stack, offline: the template as aws-sam-translator expands it, and one `sam build`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
SAMCONFIG = REPO / "samconfig.toml"
EVENTS = REPO / "events"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:sqs-keycloak-registrar/test/client-AbCdEf"
# The one parameter without a default.
REQUIRED_PARAMETERS = {"KeycloakClientSecretArn": SECRET_ARN}
SUBNETS = "subnet-0a1b2c3d4e5f60001,subnet-0a1b2c3d4e5f60002"
FUNCTION_SECURITY_GROUPS = "sg-0a1b2c3d4e5f60001,sg-0a1b2c3d4e5f60002"
VPC = "vpc-0a1b2c3d4e5f60001"
SOURCE_TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:user-signups"
SOURCE_EVENT_BUS = "signups"
# Every optional part of the stack, alone and together: each must lint clean and keep the invariants.
COMBINATIONS: dict[str, dict[str, str]] = {
    "vpc": {"SubnetIds": SUBNETS, "SecurityGroupIds": FUNCTION_SECURITY_GROUPS},
    "vpc-with-endpoints": {
        "SubnetIds": SUBNETS,
        "SecurityGroupIds": FUNCTION_SECURITY_GROUPS,
        "CreateVpcEndpoints": "true",
        "VpcId": VPC,
    },
    "sns-topic": {"SourceTopicArn": SOURCE_TOPIC_ARN},
    "sns-topic-raw-delivery": {"SourceTopicArn": SOURCE_TOPIC_ARN, "SourceTopicRawMessageDelivery": "true"},
    "eventbridge-rule": {
        "SourceEventBusName": SOURCE_EVENT_BUS,
        "SourceEventSources": "com.example.signup",
        "SourceEventDetailTypes": "UserSignedUp,UserRegistered",
    },
    "eventbridge-rule-any-detail-type": {
        "SourceEventBusName": SOURCE_EVENT_BUS,
        "SourceEventSources": "com.example.signup",
    },
    "both-producers": {
        "SourceTopicArn": SOURCE_TOPIC_ARN,
        "SourceEventBusName": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{SOURCE_EVENT_BUS}",
        "SourceEventSources": "com.example.signup",
    },
    "fifo": {"QueueType": "fifo", "MaximumBatchingWindowInSeconds": "0"},
    "fifo-content-based-deduplication": {
        "QueueType": "fifo",
        "ContentBasedDeduplication": "true",
        "MaximumBatchingWindowInSeconds": "0",
    },
    "fifo-with-both-producers": {
        "QueueType": "fifo",
        "ContentBasedDeduplication": "true",
        "MaximumBatchingWindowInSeconds": "0",
        "SourceTopicArn": f"{SOURCE_TOPIC_ARN}.fifo",
        "SourceEventBusName": SOURCE_EVENT_BUS,
        "SourceEventSources": "com.example.signup",
    },
    "batch-of-100": {"BatchSize": "100", "MaximumBatchingWindowInSeconds": "5"},
    "everything": {
        "SubnetIds": SUBNETS,
        "SecurityGroupIds": FUNCTION_SECURITY_GROUPS,
        "CreateVpcEndpoints": "true",
        "VpcId": VPC,
        "SourceTopicArn": SOURCE_TOPIC_ARN,
        "SourceEventBusName": SOURCE_EVENT_BUS,
        "SourceEventSources": "com.example.signup",
        "BatchSize": "50",
        "MaximumBatchingWindowInSeconds": "2",
        "RunbookUrl": "https://wiki.example.com/registrar/README.md",
    },
}
FAKE_AWS = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class OfflineManagedPolicies:
    """The translator's managed-policy loader without IAM: the template names no managed policy."""

    def __init__(self) -> None:
        self.loaded = False

    def load(self) -> dict[str, str]:
        self.loaded = True
        return {}


def sam_template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text(encoding="utf-8"))


def translate(
    parameters: Mapping[str, str] | None = None, code_uri: str = "s3://registrar-code/registrar.zip"
) -> dict[str, Any]:
    """The CloudFormation template `sam deploy` would send, for these parameter values.

    The translator only accepts an S3 CodeUri (`sam package` puts one there), so the local `src/`
    is swapped for `code_uri`.
    """
    template = sam_template()
    template["Resources"]["RegistrationFunction"]["Properties"]["CodeUri"] = code_uri
    values = {**REQUIRED_PARAMETERS, **(parameters or {})}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS.items():
            patch.setenv(name, value)
        return transform(template, dict(values), OfflineManagedPolicies())


def resources_of_type(template: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in template["Resources"].items() if body["Type"] == resource_type}


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every parameter's value as CloudFormation hands it to Ref: the default unless overridden, as a string."""
    values = {name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items() if "Default" in spec}
    values.update(REQUIRED_PARAMETERS)
    values.update(overrides or {})
    return values


def resolve(value: Any, template: Mapping[str, Any], parameters: Mapping[str, str]) -> Any:
    """Evaluate Ref to a parameter and Fn::FindInMap the way CloudFormation does; anything else is returned as is."""
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref" and argument in parameters:
            return parameters[argument]
        if function == "Fn::FindInMap":
            mapping, first, second = (resolve(part, template, parameters) for part in argument)
            return template["Mappings"][mapping][str(first)][str(second)]
    return value


NO_VALUE = object()


def is_list_parameter(template: Mapping[str, Any], name: str) -> bool:
    return template["Parameters"].get(name, {}).get("Type") == "CommaDelimitedList"


def parameter_value(template: Mapping[str, Any], parameters: Mapping[str, str], name: str) -> Any:
    """A parameter as Ref yields it: a list for CommaDelimitedList ("" gives [""]), else the string."""
    value = parameters[name]
    return value.split(",") if is_list_parameter(template, name) else value


def condition_holds(template: Mapping[str, Any], parameters: Mapping[str, str], name: str) -> bool:
    return bool(evaluate(template["Conditions"][name], template, parameters))


def evaluate(value: Any, template: Mapping[str, Any], parameters: Mapping[str, str]) -> Any:
    """The value with parameters, conditions, Fn::If and AWS::NoValue resolved as CloudFormation would.

    Also evaluates the functions of Conditions and Rules. What needs a deployed resource (GetAtt, a
    Ref to a resource, Sub) is returned as written, so tests can compare it with the reference.
    """
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


UNRESOLVED = object()


def evaluate_function(function: str, argument: Any, template: Mapping[str, Any], parameters: Mapping[str, str]) -> Any:
    """One intrinsic function, or UNRESOLVED when it needs what only a deployment knows."""
    handler = FUNCTIONS.get(function)
    return UNRESOLVED if handler is None else handler(argument, template, parameters)


def _ref(name: str, template: Mapping[str, Any], parameters: Mapping[str, str]) -> Any:
    if name == "AWS::NoValue":
        return NO_VALUE
    return parameter_value(template, parameters, name) if name in parameters else UNRESOLVED


def _if(argument: list[Any], template: Mapping[str, Any], parameters: Mapping[str, str]) -> Any:
    name, when_true, when_false = argument
    return evaluate(when_true if condition_holds(template, parameters, name) else when_false, template, parameters)


def _join(separator: str, parts: Any) -> Any:
    literal = isinstance(parts, list) and all(isinstance(part, str) for part in parts)
    return separator.join(parts) if literal else UNRESOLVED


def _split(separator: str, text: Any) -> Any:
    return text.split(separator) if isinstance(text, str) else UNRESOLVED


def _select(index: Any, items: Any) -> Any:
    return items[int(index)] if isinstance(items, list) else UNRESOLVED


RULE_AND_CONDITION_FUNCTIONS: dict[str, Any] = {
    "Fn::Equals": lambda args: args[0] == args[1],
    "Fn::Not": lambda args: not args[0],
    "Fn::And": all,
    "Fn::Or": any,
    "Fn::Contains": lambda args: args[1] in args[0],
    "Fn::EachMemberEquals": lambda args: all(member == args[1] for member in args[0]),
    "Fn::EachMemberIn": lambda args: all(member in args[1] for member in args[0]),
}
LIST_FUNCTIONS: dict[str, Any] = {"Fn::Join": _join, "Fn::Split": _split, "Fn::Select": _select}
FUNCTIONS: dict[str, Any] = {
    "Ref": _ref,
    "Condition": lambda name, template, parameters: condition_holds(template, parameters, name),
    "Fn::If": _if,
    "Fn::FindInMap": lambda argument, template, parameters: resolve({"Fn::FindInMap": argument}, template, parameters),
    **{
        name: lambda argument, template, parameters, compute=compute: compute(evaluate(argument, template, parameters))
        for name, compute in RULE_AND_CONDITION_FUNCTIONS.items()
    },
    **{
        name: lambda argument, template, parameters, compute=compute: compute(*evaluate(argument, template, parameters))
        for name, compute in LIST_FUNCTIONS.items()
    },
}


def deployed(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The template with only the resources CloudFormation would create for these parameters, evaluated."""
    values = parameter_values(template, overrides)
    created = {}
    for name, body in template["Resources"].items():
        if "Condition" in body and not condition_holds(template, values, body["Condition"]):
            continue
        created[name] = {**body, "Properties": evaluate(body.get("Properties", {}), template, values)}
    return {**template, "Resources": created}


def rule_violations(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> list[str]:
    """The AssertDescription of every Rules assertion these parameter values break."""
    values = parameter_values(template, overrides)
    broken: list[str] = []
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" in rule and not evaluate(rule["RuleCondition"], template, values):
            continue
        broken.extend(
            assertion["AssertDescription"]
            for assertion in rule["Assertions"]
            if not evaluate(assertion["Assert"], template, values)
        )
    return broken


def lint_parameters(template: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """Parameter values the way cfn-lint's deployment-file check wants them: lists as lists."""
    return {name: parameter_value(template, values, name) for name in values if name in template["Parameters"]}


def samconfig() -> dict[str, Any]:
    with SAMCONFIG.open("rb") as handle:
        return tomllib.load(handle)


def samconfig_parameters(environment: str) -> dict[str, str]:
    """A config environment's deploy parameter_overrides, parsed by SAM CLI's own parameter type."""
    from samcli.cli.types import CfnParameterOverridesType

    overrides = samconfig()[environment]["deploy"]["parameters"]["parameter_overrides"]
    return dict(CfnParameterOverridesType().convert(overrides, None, None))


def sam_executable() -> str:
    beside_python = Path(sys.executable).parent / "sam"
    found = str(beside_python) if beside_python.exists() else shutil.which("sam")
    if found is None:
        pytest.fail("the sam CLI is not installed (it is in requirements-dev.txt)")
    return found


def sam_environment() -> dict[str, str]:
    """The sam CLI's environment: fake credentials, no telemetry, the virtualenv's python3.13 first on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        **FAKE_AWS,
        "SAM_CLI_TELEMETRY": "0",
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
    }


def run_sam(*arguments: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sam_executable(), *arguments],
        cwd=REPO,
        env=sam_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def translated() -> dict[str, Any]:
    """The translated template with every parameter at its default."""
    return translate()


@pytest.fixture(scope="session")
def built_function(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `sam build` (no container) for the session; the function's built directory."""
    root = tmp_path_factory.mktemp("sam-build")
    result = run_sam(
        "build",
        "--template-file",
        str(TEMPLATE),
        "--build-dir",
        str(root / "build"),
        "--cache-dir",
        str(root / "cache"),
        "--no-use-container",
    )
    assert result.returncode == 0, f"sam build failed:\n{result.stdout}\n{result.stderr}"
    function_dir = root / "build" / "RegistrationFunction"
    assert (function_dir / "registrar" / "handler.py").is_file(), sorted(p.name for p in function_dir.iterdir())
    return function_dir


def unpacked_size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file() and not path.is_symlink())


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))
