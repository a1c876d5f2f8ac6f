"""What aws-sam-translator makes of template.yaml: lint-clean, with the properties the design relies on."""

from __future__ import annotations

import importlib
import json
import re
import sys
from typing import Any

import cfnlint.api
import pytest
from cfnlint.api import ManualArgs
from samtranslator.translator.transform import transform

from registrar.config import ENVIRONMENT_VARIABLES, ConfigurationError, Settings
from registrar.observability import METRICS_NAMESPACE, SERVICE_NAME
from registrar_local.cfn import evaluate
from tests.template.sam import (
    ACCOUNT,
    COMBINATIONS,
    REGION,
    REPO,
    TEMPLATE,
    VPC_ACTIONS,
    OfflineManagedPolicies,
    deployed,
    lint_parameters,
    parameter_values,
    resources_of_type,
    sam_template,
    samconfig_parameters,
    translate,
)

FOURTEEN_DAYS = 14 * 24 * 3600
# X-Ray's trace-writing actions have no resource-level permissions: AWS requires "*". So do the
# network-interface actions Lambda needs in a VPC (as the AWSLambdaVPCAccessExecutionRole policy).
ACTIONS_THAT_NEED_STAR = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})
SOURCE_QUEUE_ARN = {"Fn::GetAtt": ["RegistrationQueue", "Arn"]}
DLQ_ARN = {"Fn::GetAtt": ["RegistrationDLQ", "Arn"]}

# Parameter sets beyond the defaults: each config environment and a few edges.
OVERRIDES = [
    pytest.param({}, id="defaults"),
    pytest.param(samconfig_parameters("default"), id="samconfig-default"),
    pytest.param(samconfig_parameters("prod"), id="samconfig-prod"),
    pytest.param({"FunctionTimeout": "900", "MaxConcurrency": "2", "MaxReceiveCount": "5"}, id="longest-timeout"),
    pytest.param({"FunctionTimeout": "10", "MaxConcurrency": "1000", "BatchSize": "1"}, id="shortest-timeout"),
    *(pytest.param(overrides, id=name) for name, overrides in COMBINATIONS.items()),
]


def function(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["RegistrationFunction"]["Properties"]


def mapping(template: dict[str, Any]) -> dict[str, Any]:
    (body,) = resources_of_type(template, "AWS::Lambda::EventSourceMapping").values()
    return body["Properties"]


def queue(template: dict[str, Any], name: str) -> dict[str, Any]:
    return template["Resources"][name]["Properties"]


# --- lint -------------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", OVERRIDES)
def test_cfn_lint_is_clean_on_the_translated_template(overrides):
    template = translate(overrides)
    values = lint_parameters(template, parameter_values(template, overrides))

    matches = cfnlint.api.lint(
        json.dumps(template), config=ManualArgs(regions=[REGION], include_checks=["I"], parameters=[values])
    )

    assert [str(match) for match in matches] == []


def test_translation_needs_no_aws():
    loader = OfflineManagedPolicies()
    template = sam_template()
    template["Resources"]["RegistrationFunction"]["Properties"]["CodeUri"] = "s3://bucket/key.zip"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        translated = transform(template, {"KeycloakClientSecretArn": "x"}, loader)

    assert "RegistrationFunction" in translated["Resources"]
    assert loader.loaded is False, "the template names a managed policy: the translator would ask IAM for it"


# --- queues, visibility, redrive ----------------------------------------------------------------


@pytest.mark.parametrize("overrides", OVERRIDES)
def test_visibility_timeout_is_at_least_six_function_timeouts(overrides):
    template = translate(overrides)
    values = parameter_values(template, overrides)

    timeout = int(evaluate(function(template)["Timeout"], template, values))
    visibility = int(evaluate(queue(template, "RegistrationQueue")["VisibilityTimeout"], template, values))

    assert visibility >= 6 * timeout
    assert visibility <= 43200


def test_every_allowed_function_timeout_has_a_visibility_timeout_of_six_times_it(translated):
    allowed = translated["Parameters"]["FunctionTimeout"]["AllowedValues"]
    assert str(translated["Parameters"]["FunctionTimeout"]["Default"]) == "30"

    for timeout in allowed:
        values = parameter_values(translated, {"FunctionTimeout": str(timeout)})
        visibility = evaluate(queue(translated, "RegistrationQueue")["VisibilityTimeout"], translated, values)
        assert int(visibility) >= 6 * int(timeout), timeout
    assert int(max(allowed)) <= 900


@pytest.mark.parametrize("overrides", OVERRIDES)
def test_redrive_to_the_dlq_after_at_least_five_receives(overrides):
    template = translate(overrides)
    values = parameter_values(template, overrides)
    redrive = queue(template, "RegistrationQueue")["RedrivePolicy"]

    assert redrive["deadLetterTargetArn"] == DLQ_ARN
    assert int(evaluate(redrive["maxReceiveCount"], template, values)) >= 5
    assert int(template["Parameters"]["MaxReceiveCount"]["MinValue"]) >= 5


@pytest.mark.parametrize("queue_type", ["standard", "fifo"])
def test_the_dlq_keeps_messages_14_days_the_function_knows_the_source_retention_and_only_it_may_redrive(queue_type):
    overrides = {"QueueType": queue_type, "MaximumBatchingWindowInSeconds": "0"}
    resources = deployed(translate(overrides), overrides)["Resources"]
    dlq = resources["RegistrationDLQ"]["Properties"]
    source = resources["RegistrationQueue"]["Properties"]

    assert int(dlq["MessageRetentionPeriod"]) == FOURTEEN_DAYS
    assert int(source["MessageRetentionPeriod"]) < FOURTEEN_DAYS
    # The function refuses a retry window longer than the retention it is told: it must be the queue's.
    told = resources["RegistrationFunction"]["Properties"]["Environment"]["Variables"]["QUEUE_RETENTION_SECONDS"]
    assert int(told) == int(source["MessageRetentionPeriod"])
    allow = dlq["RedriveAllowPolicy"]
    assert allow["redrivePermission"] == "byQueue"
    (source_arn,) = allow["sourceQueueArns"]
    # The ARN is spelled out (a GetAtt would be circular): it must be the source queue's.
    stack = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": "st"}
    queue_name = substitute(source["QueueName"], stack)
    assert substitute(source_arn, stack) == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}"


def test_both_queues_are_encrypted_at_rest(translated):
    for name in ("RegistrationQueue", "RegistrationDLQ"):
        properties = queue(translated, name)
        assert properties.get("SqsManagedSseEnabled") is True or properties.get("KmsMasterKeyId"), name


@pytest.mark.parametrize("overrides", OVERRIDES)
def test_the_queues_refuse_requests_without_tls(overrides):
    template = translate(overrides)
    policies = resources_of_type(deployed(template, overrides), "AWS::SQS::QueuePolicy").values()
    by_queue = {policy["Properties"]["Queues"][0]["Ref"]: policy["Properties"] for policy in policies}

    assert set(by_queue) == {"RegistrationQueue", "RegistrationDLQ"}
    for name, policy in by_queue.items():
        assert policy["Queues"] == [{"Ref": name}], "a queue has one policy: each policy is for one queue"
        deny = [statement for statement in policy["PolicyDocument"]["Statement"] if statement["Effect"] == "Deny"]
        assert deny == [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": {"Fn::GetAtt": [name, "Arn"]},
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]


# --- the function and its event source mapping -------------------------------------------------


def test_the_function_runs_the_handler_on_python_313_arm64_with_tracing(translated):
    properties = function(translated)

    assert properties["Runtime"] == "python3.13"
    assert properties["Architectures"] == ["arm64"]
    assert properties["Handler"] == "registrar.handler.lambda_handler"
    assert properties["TracingConfig"] == {"Mode": {"Ref": "TracingMode"}}
    assert translated["Parameters"]["TracingMode"]["Default"] == "Active"
    assert properties["Timeout"] == {"Ref": "FunctionTimeout"}
    assert properties["MemorySize"] == {"Ref": "FunctionMemorySize"}
    module, _, attribute = properties["Handler"].rpartition(".")
    sys.path.insert(0, str(REPO / "src"))
    try:
        assert callable(getattr(importlib.import_module(module), attribute))
    finally:
        sys.path.remove(str(REPO / "src"))
    assert sam_template()["Resources"]["RegistrationFunction"]["Properties"]["CodeUri"] == "src/"


def test_the_function_logs_to_its_own_log_group_with_a_retention(translated):
    properties = function(translated)
    (name,) = resources_of_type(translated, "AWS::Logs::LogGroup")

    assert properties["LoggingConfig"]["LogGroup"] == {"Ref": name}
    assert translated["Resources"][name]["Properties"]["RetentionInDays"]


@pytest.mark.parametrize("overrides", OVERRIDES)
def test_reserved_concurrency_and_maximum_concurrency_are_one_parameter(overrides):
    template = translate(overrides)
    values = parameter_values(template, overrides)
    reserved = function(template)["ReservedConcurrentExecutions"]
    maximum = mapping(template)["ScalingConfig"]["MaximumConcurrency"]

    assert reserved == maximum == {"Ref": "MaxConcurrency"}
    assert 2 <= int(evaluate(maximum, template, values)) <= 1000
    assert int(template["Parameters"]["MaxConcurrency"]["MinValue"]) >= 2
    assert int(template["Parameters"]["MaxConcurrency"]["MaxValue"]) <= 1000


def test_the_mapping_reads_the_source_queue_in_batches_of_ten_with_partial_failures(translated):
    properties = mapping(translated)
    values = parameter_values(translated)

    assert properties["EventSourceArn"] == SOURCE_QUEUE_ARN
    assert properties["FunctionName"] == {"Ref": "RegistrationFunction"}
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert int(evaluate(properties["BatchSize"], translated, values)) == 10
    # Up to 100, with the batching window the mapping then demands (see test_deployment_options).
    assert int(translated["Parameters"]["BatchSize"]["MaxValue"]) == 100
    assert properties["MaximumBatchingWindowInSeconds"] == {"Ref": "MaximumBatchingWindowInSeconds"}


def test_the_mapping_publishes_its_own_event_counts(translated):
    assert mapping(translated)["MetricsConfig"] == {"Metrics": ["EventCount"]}


# --- environment ---------------------------------------------------------------------------------


def test_environment_variable_names_are_the_functions_own(translated):
    names = set(function(translated)["Environment"]["Variables"])
    application = {name for name in names if not name.startswith("POWERTOOLS_")}

    assert application <= set(ENVIRONMENT_VARIABLES), application - set(ENVIRONMENT_VARIABLES)
    assert {"KEYCLOAK_URL", "KEYCLOAK_REALM", "KEYCLOAK_CLIENT_ID", "KEYCLOAK_CLIENT_SECRET_ARN", "DLQ_URL"} <= names
    assert {"ALLOWED_GROUPS", "ALLOWED_ATTRIBUTES", "ALLOWED_REQUIRED_ACTIONS", "MAX_WORKERS"} <= names
    assert names - application == {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}


def test_the_client_secret_itself_is_never_in_the_template(translated):
    variables = function(translated)["Environment"]["Variables"]

    # Declared empty only so that `sam local invoke --env-vars` may set it; deployed, it is the ARN.
    assert variables.get("KEYCLOAK_CLIENT_SECRET", "") == ""
    assert variables["KEYCLOAK_CLIENT_SECRET_ARN"] == {"Ref": "KeycloakClientSecretArn"}
    assert re.findall(r"KEYCLOAK_CLIENT_SECRET(?!_ARN).*", TEMPLATE.read_text(encoding="utf-8")) == [
        'KEYCLOAK_CLIENT_SECRET: ""'
    ]


def test_powertools_names_match_the_code(translated):
    variables = function(translated)["Environment"]["Variables"]

    assert variables["POWERTOOLS_SERVICE_NAME"] == SERVICE_NAME
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == METRICS_NAMESPACE
    assert variables["DLQ_URL"] == {"Ref": "RegistrationDLQ"}


@pytest.mark.parametrize("overrides", OVERRIDES)
def test_the_deployed_environment_is_a_valid_configuration(overrides):
    template = translate(overrides)
    values = parameter_values(template, overrides)
    dlq_url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/st-registrations-dlq"
    environment = {}
    for name, value in function(template)["Environment"]["Variables"].items():
        environment[name] = dlq_url if value == {"Ref": "RegistrationDLQ"} else str(evaluate(value, template, values))

    try:
        settings = Settings.from_environment(environment)
    except ConfigurationError as error:
        pytest.fail(str(error))
    assert settings.client_secret_arn == values["KeycloakClientSecretArn"]
    assert settings.client_secret is None
    assert settings.verify_tls is True
    assert settings.dlq_url == dlq_url


# --- IAM -----------------------------------------------------------------------------------------


def statements(
    template: dict[str, Any], types: frozenset[str] = frozenset({"AWS::IAM::Role", "AWS::IAM::Policy"})
) -> list[dict[str, Any]]:
    """Identity-policy statements; by default the function's (the producers' policy is tested on its own)."""
    found = []
    for body in deployed(template)["Resources"].values():
        if body["Type"] not in types:
            continue
        if body["Type"] == "AWS::IAM::Role":
            for policy in body["Properties"].get("Policies", []):
                found.extend(policy["PolicyDocument"]["Statement"])
        else:
            found.extend(body["Properties"]["PolicyDocument"]["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resources_for(template: dict[str, Any], action: str) -> list[Any]:
    return [
        resource
        for statement in statements(template)
        if statement["Effect"] == "Allow" and action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]


def test_the_function_uses_the_written_out_role_and_no_managed_policy(translated):
    roles = resources_of_type(translated, "AWS::IAM::Role")

    assert function(translated)["Role"] == {"Fn::GetAtt": ["RegistrationFunctionRole", "Arn"]}
    assert set(roles) == {"RegistrationFunctionRole"}
    assert not roles["RegistrationFunctionRole"]["Properties"].get("ManagedPolicyArns")
    # The one managed policy is the producers', and it is attached to nothing in the stack.
    assert set(resources_of_type(translated, "AWS::IAM::ManagedPolicy")) == {"RegistrationProducerPolicy"}
    assert "RegistrationProducerPolicy" not in json.dumps(roles)


@pytest.mark.parametrize("overrides", OVERRIDES)
def test_no_wildcard_actions_and_star_resources_only_where_aws_requires_it(overrides):
    template = translate(overrides)
    found = [
        statement
        for body in deployed(template, overrides)["Resources"].values()
        if body["Type"] == "AWS::IAM::Role"
        for policy in body["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    assert found

    for statement in found:
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        actions = as_list(statement["Action"])
        assert all("*" not in action for action in actions), actions
        if "*" in as_list(statement["Resource"]):
            assert set(actions) <= ACTIONS_THAT_NEED_STAR | VPC_ACTIONS, actions


def test_the_secret_the_dlq_and_the_source_queue_are_each_granted_on_themselves_only(translated):
    secret_arn = parameter_values(translated)["KeycloakClientSecretArn"]
    assert resources_for(translated, "secretsmanager:GetSecretValue") == [secret_arn]
    assert resources_for(translated, "sqs:SendMessage") == [DLQ_ARN]
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"):
        assert resources_for(translated, action) == [SOURCE_QUEUE_ARN], action

    services = {action.split(":")[0] for statement in statements(translated) for action in as_list(statement["Action"])}
    assert services == {"logs", "xray", "sqs", "secretsmanager"}
    sqs_actions = {
        action
        for statement in statements(translated)
        for action in as_list(statement["Action"])
        if action.startswith("sqs:")
    }
    assert sqs_actions == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
        "sqs:SendMessage",
    }


def test_logs_are_written_to_the_functions_log_group_only(translated):
    (log_group,) = resources_of_type(translated, "AWS::Logs::LogGroup")
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        (resource,) = resources_for(translated, action)
        assert f"${{{log_group}}}" in resource["Fn::Sub"], resource
    assert resources_for(translated, "logs:CreateLogGroup") == []


def test_the_role_can_only_be_assumed_by_lambda(translated):
    role = translated["Resources"]["RegistrationFunctionRole"]["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]

    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"


# --- outputs -------------------------------------------------------------------------------------


def test_outputs_name_the_queues_the_function_and_the_dashboard(translated):
    outputs = translated["Outputs"]

    assert outputs["RegistrationQueueUrl"]["Value"] == {"Ref": "RegistrationQueue"}
    assert outputs["RegistrationQueueArn"]["Value"] == SOURCE_QUEUE_ARN
    assert outputs["RegistrationDLQUrl"]["Value"] == {"Ref": "RegistrationDLQ"}
    assert outputs["RegistrationDLQArn"]["Value"] == DLQ_ARN
    assert outputs["RegistrationFunctionArn"]["Value"] == {"Fn::GetAtt": ["RegistrationFunction", "Arn"]}
    url = outputs["DashboardUrl"]["Value"]["Fn::Sub"]
    assert url.startswith("https://${AWS::Region}.console.aws.amazon.com/cloudwatch/")
    assert url.endswith("#dashboards/dashboard/${RegistrarDashboard}")


def substitute(value: Any, names: dict[str, str]) -> str:
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    return re.sub(r"\$\{([^}!]+)\}", lambda match: names[match.group(1)], text)
