"""The SAM stack, offline: the template as aws-sam-translator expands it, the sam CLI, and the values tests share."""

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

from registrar_local import cfn

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = cfn.TEMPLATE
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
# The network-interface actions Lambda needs in a VPC (as AWSLambdaVPCAccessExecutionRole), and no more.
VPC_ACTIONS = frozenset(
    {
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    }
)
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
    return cfn.parameter_values(template, {**REQUIRED_PARAMETERS, **(overrides or {})})


def deployed(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The template with only the resources CloudFormation would create for these parameters, evaluated."""
    return cfn.deployed(template, parameter_values(template, overrides))


def rule_violations(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> list[str]:
    """The AssertDescription of every Rules assertion these parameter values break."""
    return cfn.rule_violations(template, parameter_values(template, overrides))


def lint_parameters(template: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """Parameter values the way cfn-lint's deployment-file check wants them: lists as lists."""
    return {name: cfn.parameter_value(template, values, name) for name in values if name in template["Parameters"]}


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


def unpacked_size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file() and not path.is_symlink())


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))
