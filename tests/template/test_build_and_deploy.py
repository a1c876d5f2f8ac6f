"""`sam build`, then the built code and the translated template deployed on moto's CloudFormation."""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from registrar.observability import MetricName
from registrar_local.cfn import evaluate
from tests.kit.aws import queue_attributes
from tests.template.sam import REGION, parameter_values, translate, unpacked_size

# Left to the Lambda runtime, which has them.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
CODE_BUCKET = "registrar-code"
CODE_KEY = "registrar.zip"
STACK = "registrar-smoke"
PARAMETERS = {
    "KeycloakClientSecretArn": f"arn:aws:secretsmanager:{REGION}:123456789012:secret:registrar/smoke-AbCdEf",
    "FunctionTimeout": "60",
    "MaxConcurrency": "7",
    "MaxReceiveCount": "6",
    "BatchSize": "10",
}
# Resource types moto 5.2's CloudFormation does not implement. It skips them with a warning and
# the stack still completes; what they declare is asserted on the translated template instead.
MOTO_SKIPS = {"AWS::CloudWatch::Alarm", "AWS::SNS::Subscription", "AWS::SQS::QueuePolicy"}


def zipped(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def test_sam_build_packages_the_function_without_boto3_and_botocore(built_function, record_property):
    size = unpacked_size(built_function)
    record_property("unpacked_bytes", size)
    print(f"\nsam build: {built_function} is {size / 1_000_000:.1f} MB unpacked")

    packaged = {path.name.split("-")[0].lower() for path in built_function.iterdir()}
    assert {"registrar", "aws_lambda_powertools", "keycloak", "pydantic", "pydantic_core"} <= packaged
    assert list(built_function.glob("pydantic_core/*aarch64*.so")), "pydantic-core is not an arm64 build"
    bundled = sorted(name for name in RUNTIME_PROVIDED if name in packaged)
    assert bundled == [], (
        f"the package bundles {bundled}, which the Lambda runtime provides; "
        f"{', '.join(sorted(p.name for p in built_function.glob('*.dist-info') if p.name.startswith(tuple(bundled))))}"
    )


@pytest.fixture
def aws_session(aws: None) -> boto3.session.Session:
    """The kit's moto AWS, as the session a deployment script would hold."""
    return boto3.session.Session(region_name=REGION)


def for_moto(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """The translated template with two workarounds for moto's CloudFormation, which CloudFormation does not need."""
    # moto turns a Number parameter into an int, and its Fn::FindInMap then looks up the key 60
    # where CloudFormation (whose Ref always yields a string) looks up "60". Typed String here,
    # the parameter reaches moto's FindInMap as CloudFormation's would.
    template["Parameters"]["FunctionTimeout"]["Type"] = "String"
    # moto keeps an `Fn::If` that yields AWS::NoValue in a list as a null entry, where
    # CloudFormation drops it: the role's conditional policies are resolved here.
    role = template["Resources"]["RegistrationFunctionRole"]["Properties"]
    role["Policies"] = evaluate(role["Policies"], template, parameter_values(template, parameters))
    return template


def deploy(
    session: boto3.session.Session, code: bytes, template: dict[str, Any], parameters: dict[str, str] = PARAMETERS
) -> list[str]:
    """Create the stack on moto and wait for it; the resource types moto skipped."""
    s3 = session.client("s3")
    s3.create_bucket(Bucket=CODE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=code)
    cloudformation = session.client("cloudformation")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cloudformation.create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
    cloudformation.get_waiter("stack_create_complete").wait(StackName=STACK, WaiterConfig={"Delay": 1})
    return [
        str(warning.message).split(" ")[3]
        for warning in caught
        if "not supported by moto's CloudFormation" in str(warning.message)
    ]


@pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")
def test_the_stack_deploys_on_moto_with_the_templates_settings(built_function, aws_session):
    template = for_moto(translate(PARAMETERS, code_uri=f"s3://{CODE_BUCKET}/{CODE_KEY}"), PARAMETERS)

    skipped = deploy(aws_session, zipped(built_function), template)

    assert set(skipped) <= MOTO_SKIPS, set(skipped) - MOTO_SKIPS
    cloudformation = aws_session.client("cloudformation")
    (stack,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}
    physical = {
        resource["LogicalResourceId"]: resource["PhysicalResourceId"]
        for resource in cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    }

    sqs = aws_session.client("sqs")
    source = queue_attributes(sqs, outputs["RegistrationQueueUrl"])
    dlq = queue_attributes(sqs, outputs["RegistrationDLQUrl"])
    assert int(source["VisibilityTimeout"]) == 6 * int(PARAMETERS["FunctionTimeout"])
    redrive = json.loads(source["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == int(PARAMETERS["MaxReceiveCount"])
    assert redrive["deadLetterTargetArn"] == dlq["QueueArn"] == outputs["RegistrationDLQArn"]
    assert source["QueueArn"] == outputs["RegistrationQueueArn"]
    assert int(dlq["MessageRetentionPeriod"]) == 14 * 24 * 3600
    assert source["SqsManagedSseEnabled"] == dlq["SqsManagedSseEnabled"] == "true"

    awslambda = aws_session.client("lambda")
    function_name = physical["RegistrationFunction"]
    configuration = awslambda.get_function_configuration(FunctionName=function_name)
    assert configuration["FunctionArn"] == outputs["RegistrationFunctionArn"]
    assert configuration["Handler"] == "registrar.handler.lambda_handler"
    assert int(configuration["Timeout"]) == int(PARAMETERS["FunctionTimeout"])
    assert configuration["Environment"]["Variables"]["DLQ_URL"] == outputs["RegistrationDLQUrl"]
    concurrency = awslambda.get_function_concurrency(FunctionName=function_name)
    assert int(concurrency["ReservedConcurrentExecutions"]) == int(PARAMETERS["MaxConcurrency"])

    (mapping,) = awslambda.list_event_source_mappings(FunctionName=function_name)["EventSourceMappings"]
    assert mapping["EventSourceArn"] == source["QueueArn"]
    assert int(mapping["BatchSize"]) == int(PARAMETERS["BatchSize"])
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert int(mapping["ScalingConfig"]["MaximumConcurrency"]) == int(PARAMETERS["MaxConcurrency"])

    code = aws_session.client("s3").get_object(Bucket=CODE_BUCKET, Key=CODE_KEY)["Body"].read()
    with zipfile.ZipFile(io.BytesIO(code)) as archive:
        assert "registrar/handler.py" in archive.namelist()

    logs = aws_session.client("logs").describe_log_groups(
        logGroupNamePrefix=outputs["RegistrationFunctionLogGroupName"]
    )
    (log_group,) = logs["logGroups"]
    assert log_group["retentionInDays"] > 0

    dashboard_name = outputs["DashboardUrl"].rpartition("/")[2]
    body = json.loads(aws_session.client("cloudwatch").get_dashboard(DashboardName=dashboard_name)["DashboardBody"])
    lines = [
        line for widget in body["widgets"] if widget["type"] == "metric" for line in widget["properties"]["metrics"]
    ]
    queue_names = {line[3] for line in lines if line[0] == "AWS/SQS"}
    assert queue_names == {
        outputs["RegistrationQueueUrl"].rpartition("/")[2],
        outputs["RegistrationDLQUrl"].rpartition("/")[2],
    }
    assert {line[3] for line in lines if line[0] == "AWS/Lambda" and line[2] == "FunctionName"} == {function_name}
    # The mapping's own counts are keyed by its UUID, which Ref of the mapping gives the dashboard.
    assert {line[3] for line in lines if line[2] == "EventSourceMappingUUID"} == {mapping["UUID"]}
    assert {metric.value for metric in MetricName} <= {line[1] for line in lines}
    (log_widget,) = [widget for widget in body["widgets"] if widget["type"] == "log"]
    assert f"SOURCE '{outputs['RegistrationFunctionLogGroupName']}'" in log_widget["properties"]["query"]


def private_network(session: boto3.session.Session) -> dict[str, str]:
    """A VPC with two private subnets and the function's security group, as the stack's parameters."""
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{index}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"][
            "SubnetId"
        ]
        for index, zone in enumerate("ab", start=1)
    ]
    group = ec2.create_security_group(GroupName="registrar-function", Description="to Keycloak", VpcId=vpc)["GroupId"]
    return {"VpcId": vpc, "SubnetIds": ",".join(subnets), "SecurityGroupIds": group, "CreateVpcEndpoints": "true"}


@pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")
def test_the_stack_deploys_into_a_vpc_with_its_endpoints_on_moto(built_function, aws_session):
    network = private_network(aws_session)
    # The producers' topic and bus exist before the stack, as they would.
    topic = aws_session.client("sns").create_topic(Name="user-signups")["TopicArn"]
    aws_session.client("events").create_event_bus(Name="signups")
    producers = {"SourceTopicArn": topic, "SourceEventBusName": "signups", "SourceEventSources": "com.example.signup"}
    parameters = {**PARAMETERS, **network, **producers}
    template = for_moto(translate(parameters, code_uri=f"s3://{CODE_BUCKET}/{CODE_KEY}"), parameters)

    skipped = deploy(aws_session, zipped(built_function), template, parameters)

    assert set(skipped) <= MOTO_SKIPS, set(skipped) - MOTO_SKIPS
    cloudformation = aws_session.client("cloudformation")
    (stack,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    physical = {
        resource["LogicalResourceId"]: resource["PhysicalResourceId"]
        for resource in cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    }
    ec2 = aws_session.client("ec2")

    configuration = aws_session.client("lambda").get_function_configuration(
        FunctionName=physical["RegistrationFunction"]
    )
    vpc_config = configuration["VpcConfig"]
    assert sorted(vpc_config["SubnetIds"]) == sorted(network["SubnetIds"].split(","))
    function_group = physical["RegistrationFunctionSecurityGroup"]
    assert set(vpc_config["SecurityGroupIds"]) == {network["SecurityGroupIds"], function_group}

    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [network["VpcId"]]}])["VpcEndpoints"]
    by_service = {endpoint["ServiceName"]: endpoint for endpoint in endpoints}
    assert set(by_service) == {f"com.amazonaws.{REGION}.sqs", f"com.amazonaws.{REGION}.secretsmanager"}
    endpoint_groups = set()
    for endpoint in by_service.values():
        assert endpoint["VpcEndpointType"] == "Interface"
        assert endpoint["PrivateDnsEnabled"] is True
        assert sorted(endpoint["SubnetIds"]) == sorted(network["SubnetIds"].split(","))
        ((group,),) = [[group["GroupId"] for group in endpoint["Groups"]]]
        endpoint_groups.add(group)
    assert len(endpoint_groups) == 2

    (rules,) = [ec2.describe_security_groups(GroupIds=sorted(endpoint_groups))["SecurityGroups"]]
    for group in rules:
        assert group["VpcId"] == network["VpcId"]
        assert [
            (
                rule["IpProtocol"],
                rule["FromPort"],
                rule["ToPort"],
                [pair["GroupId"] for pair in rule["UserIdGroupPairs"]],
            )
            for rule in group["IpPermissions"]
        ] == [("tcp", 443, 443, [function_group])]
        assert all(not rule["IpRanges"] for rule in group["IpPermissions"])

    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}
    policy_arn = outputs["RegistrationProducerPolicyArn"]
    version = aws_session.client("iam").get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    document = aws_session.client("iam").get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"][
        "Document"
    ]
    document = json.loads(document) if isinstance(document, str) else document
    assert document["Statement"] == [
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": outputs["RegistrationQueueArn"]}
    ]
    (rule,) = aws_session.client("events").list_rules(EventBusName="signups")["Rules"]
    assert json.loads(rule["EventPattern"]) == {"source": ["com.example.signup"]}
    (target,) = aws_session.client("events").list_targets_by_rule(Rule=rule["Name"], EventBusName="signups")["Targets"]
    assert target["Arn"] == outputs["RegistrationQueueArn"]
