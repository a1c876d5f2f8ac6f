"""`sam validate --lint` and samconfig.toml: both config environments are deployable as written."""

from __future__ import annotations

import json
import re
from typing import Any

import cfnlint.api
import pytest
from cfnlint.api import ManualArgs

from tests.template.sam import REGION, run_sam, sam_template, samconfig, samconfig_parameters, translate

ENVIRONMENTS = ("default", "prod")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_sam_validate_lint_is_clean(environment):
    result = run_sam("validate", "--lint", "--config-env", environment, timeout=300)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "is a valid SAM Template" in output


def test_samconfig_has_a_dev_default_and_a_prod_environment():
    config = samconfig()

    assert config["version"] == 0.1
    stacks = {env: config[env]["global"]["parameters"]["stack_name"] for env in ENVIRONMENTS}
    assert stacks["default"] != stacks["prod"]
    for environment in ENVIRONMENTS:
        deploy = config[environment]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        assert deploy["resolve_s3"] is True
        assert re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", deploy["region"])
        assert config[environment]["validate"]["parameters"]["lint"] is True
    assert config["prod"]["deploy"]["parameters"]["confirm_changeset"] is True


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_samconfig_parameters_satisfy_the_template_constraints(environment):
    """cfn-lint checks AllowedValues and names only, so MinValue, patterns and lengths are checked here."""
    parameters = samconfig_parameters(environment)
    declared = sam_template()["Parameters"]

    assert set(parameters) <= set(declared), set(parameters) - set(declared)
    missing = {name for name, spec in declared.items() if "Default" not in spec} - set(parameters)
    assert not missing, f"{environment} leaves parameters without a value: {missing}"
    problems = [problem for name, value in parameters.items() if (problem := constraint_problem(declared[name], value))]
    assert problems == [], f"{environment}: {problems}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_translated_template_with_each_environments_parameters_is_cfn_lint_clean(environment):
    parameters = samconfig_parameters(environment)
    template = translate(parameters)

    matches = cfnlint.api.lint(
        json.dumps(template), config=ManualArgs(regions=[REGION], include_checks=["I"], parameters=[parameters])
    )

    assert [str(match) for match in matches] == []


def test_the_constraint_check_refuses_what_cloudformation_would_refuse():
    declared = sam_template()["Parameters"]

    assert constraint_problem(declared["MaxReceiveCount"], "3")
    assert constraint_problem(declared["MaxConcurrency"], "1")
    assert constraint_problem(declared["FunctionTimeout"], "61")
    assert constraint_problem(declared["KeycloakUrl"], "http://keycloak.example.com")
    assert constraint_problem(declared["KeycloakClientSecretArn"], "arn:aws:secretsmanager:eu-west-1:1:secret:x")
    assert constraint_problem(declared["AlarmEmail"], "not an address")
    assert not constraint_problem(declared["AlarmEmail"], "")


def constraint_problem(spec: dict[str, Any], value: str) -> str | None:
    """Why CloudFormation would refuse `value` for a parameter declared as `spec`, or None."""
    problems = []
    if spec["Type"] == "Number":
        try:
            number = float(value)
        except ValueError:
            return f"{value!r} is not a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            problems.append(f"{value} < MinValue {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            problems.append(f"{value} > MaxValue {spec['MaxValue']}")
    if "AllowedValues" in spec and value not in {str(allowed) for allowed in spec["AllowedValues"]}:
        problems.append(f"{value!r} not in AllowedValues")
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        problems.append(f"{value!r} does not match {spec['AllowedPattern']}")
    if not int(spec.get("MinLength", 0)) <= len(value) <= int(spec.get("MaxLength", 4096)):
        problems.append(f"{value!r} has a length outside MinLength/MaxLength")
    return "; ".join(problems) or None
