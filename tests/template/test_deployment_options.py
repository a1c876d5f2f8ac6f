"""The optional parts of the stack (VPC, producers, FIFO, larger batches), each as CloudFormation would create it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.template.sam import (
    COMBINATIONS,
    FUNCTION_SECURITY_GROUPS,
    SOURCE_TOPIC_ARN,
    SUBNETS,
    VPC,
    VPC_ACTIONS,
    deployed,
    resources_of_type,
    rule_violations,
    translate,
)

SOURCE_QUEUE_ARN = {"Fn::GetAtt": ["RegistrationQueue", "Arn"]}
FUNCTION_GROUP = {"Fn::GetAtt": ["RegistrationFunctionSecurityGroup", "GroupId"]}
ALL_OVERRIDES = [pytest.param({}, id="defaults"), *(pytest.param(o, id=name) for name, o in COMBINATIONS.items())]


def created(overrides: dict[str, str]) -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = deployed(translate(overrides), overrides)["Resources"]
    return resources


def of_type(resources: dict[str, dict[str, Any]], resource_type: str) -> dict[str, dict[str, Any]]:
    return resources_of_type({"Resources": resources}, resource_type)


def role_actions(resources: dict[str, dict[str, Any]]) -> set[str]:
    role = resources["RegistrationFunctionRole"]["Properties"]
    return {
        action
        for policy in role["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }


def queue_policy_statements(resources: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    (policy,) = [
        body["Properties"]
        for body in of_type(resources, "AWS::SQS::QueuePolicy").values()
        if body["Properties"]["Queues"] == [{"Ref": "RegistrationQueue"}]
    ]
    statements: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return statements


# --- every combination ---------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", ALL_OVERRIDES)
def test_every_combination_satisfies_the_templates_rules(overrides):
    assert rule_violations(translate(overrides), overrides) == []


@pytest.mark.parametrize("overrides", ALL_OVERRIDES)
def test_the_queue_admits_only_the_configured_producers_each_by_its_own_arn(overrides):
    resources = created(overrides)
    allows = [statement for statement in queue_policy_statements(resources) if statement["Effect"] == "Allow"]
    expected = {}
    if "SourceTopicArn" in overrides:
        expected["sns.amazonaws.com"] = overrides["SourceTopicArn"]
    if "SourceEventBusName" in overrides:
        expected["events.amazonaws.com"] = {"Fn::GetAtt": ["RegistrationEventRule", "Arn"]}

    found = {}
    for statement in allows:
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Resource"] == SOURCE_QUEUE_ARN
        assert set(statement["Principal"]) == {"Service"}, "never an open principal"
        assert set(statement["Condition"]) == {"ArnEquals"}
        found[statement["Principal"]["Service"]] = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert found == expected


@pytest.mark.parametrize("overrides", ALL_OVERRIDES)
def test_producers_get_a_policy_that_sends_to_the_registration_queue_only(overrides):
    template = deployed(translate(overrides), overrides)
    policy = template["Resources"]["RegistrationProducerPolicy"]["Properties"]

    assert policy["PolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": SOURCE_QUEUE_ARN}
    ]
    assert not {"Roles", "Users", "Groups"} & set(policy), "attached by the producers, to their own roles"
    assert template["Outputs"]["RegistrationProducerPolicyArn"]["Value"] == {"Ref": "RegistrationProducerPolicy"}


# --- the VPC -------------------------------------------------------------------------------------


def test_without_subnets_there_is_no_vpc_anything():
    resources = created({})

    assert {body["Type"] for body in resources.values() if body["Type"].startswith("AWS::EC2::")} == set()
    assert "VpcConfig" not in resources["RegistrationFunction"]["Properties"]
    assert not {action for action in role_actions(resources) if action.startswith("ec2:")}


def test_in_a_vpc_the_role_gains_only_the_network_interface_actions_and_no_endpoints_are_made():
    resources = created(COMBINATIONS["vpc"])

    assert resources["RegistrationFunction"]["Properties"]["VpcConfig"] == {
        "SubnetIds": SUBNETS.split(","),
        "SecurityGroupIds": FUNCTION_SECURITY_GROUPS.split(","),
    }
    assert {action for action in role_actions(resources) if action.startswith("ec2:")} == VPC_ACTIONS
    assert {body["Type"] for body in resources.values() if body["Type"].startswith("AWS::EC2::")} == set()


def test_the_endpoints_admit_https_only_from_the_functions_security_group():
    resources = created(COMBINATIONS["vpc-with-endpoints"])
    endpoints = of_type(resources, "AWS::EC2::VPCEndpoint")
    ingress_rules = of_type(resources, "AWS::EC2::SecurityGroupIngress")

    services = {body["Properties"]["ServiceName"]["Fn::Sub"] for body in endpoints.values()}
    assert services == {"com.amazonaws.${AWS::Region}.sqs", "com.amazonaws.${AWS::Region}.secretsmanager"}
    endpoint_groups = []
    for endpoint in endpoints.values():
        properties = endpoint["Properties"]
        assert properties["VpcEndpointType"] == "Interface"
        assert properties["PrivateDnsEnabled"] is True
        assert properties["VpcId"] == VPC
        assert properties["SubnetIds"] == SUBNETS.split(",")
        (group,) = properties["SecurityGroupIds"]
        endpoint_groups.append(group["Fn::GetAtt"][0])
    assert len(set(endpoint_groups)) == 2, "each endpoint has its own security group"

    for name in endpoint_groups:
        group = resources[name]["Properties"]
        assert "SecurityGroupIngress" not in group, "all ingress is in the rules below"
        assert group["VpcId"] == VPC
        (rule,) = [
            body["Properties"]
            for body in ingress_rules.values()
            if body["Properties"]["GroupId"] == {"Fn::GetAtt": [name, "GroupId"]}
        ]
        assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 443, 443)
        assert rule["SourceSecurityGroupId"] == FUNCTION_GROUP
        assert not {"CidrIp", "CidrIpv6", "SourcePrefixListId"} & set(rule)
    assert len(ingress_rules) == 2


def test_with_endpoints_the_function_also_wears_the_group_they_admit():
    resources = created(COMBINATIONS["vpc-with-endpoints"])
    groups = resources["RegistrationFunction"]["Properties"]["VpcConfig"]["SecurityGroupIds"]
    function_group = resources["RegistrationFunctionSecurityGroup"]["Properties"]

    # Split/Join keeps the caller's groups and adds the stack's own one.
    assert groups == {"Fn::Split": [",", {"Fn::Join": [",", [FUNCTION_SECURITY_GROUPS, FUNCTION_GROUP]]}]}
    egress = function_group["SecurityGroupEgress"]
    assert {(rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) for rule in egress} == {("tcp", 443, 443)}
    assert {rule["DestinationSecurityGroupId"]["Fn::GetAtt"][0] for rule in egress} == {
        "SqsEndpointSecurityGroup",
        "SecretsManagerEndpointSecurityGroup",
    }


# --- producers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["false", "true"])
def test_the_queue_subscribes_to_the_source_topic(raw):
    resources = created({"SourceTopicArn": SOURCE_TOPIC_ARN, "SourceTopicRawMessageDelivery": raw})
    subscriptions = [
        body["Properties"]
        for body in of_type(resources, "AWS::SNS::Subscription").values()
        if body["Properties"]["Protocol"] == "sqs"
    ]

    assert subscriptions == [
        {
            "TopicArn": SOURCE_TOPIC_ARN,
            "Region": "eu-west-1",
            "Protocol": "sqs",
            "Endpoint": SOURCE_QUEUE_ARN,
            "RawMessageDelivery": raw,
        }
    ]


def test_without_producers_there_is_no_subscription_and_no_rule():
    resources = created({})

    assert [
        b for b in of_type(resources, "AWS::SNS::Subscription").values() if b["Properties"]["Protocol"] == "sqs"
    ] == []
    assert of_type(resources, "AWS::Events::Rule") == {}


def test_the_event_rule_forwards_matching_events_whole_to_the_queue():
    resources = created(COMBINATIONS["eventbridge-rule"])
    rule = resources["RegistrationEventRule"]["Properties"]

    assert rule["EventBusName"] == "signups"
    assert rule["State"] == "ENABLED"
    assert rule["EventPattern"] == {"source": ["com.example.signup"], "detail-type": ["UserSignedUp", "UserRegistered"]}
    (target,) = rule["Targets"]
    assert target["Arn"] == SOURCE_QUEUE_ARN
    assert not {"Input", "InputPath", "InputTransformer"} & set(target), "the function reads the whole event"
    assert "SqsParameters" not in target


def test_an_event_rule_without_detail_types_matches_on_source_alone():
    rule = created(COMBINATIONS["eventbridge-rule-any-detail-type"])["RegistrationEventRule"]["Properties"]

    assert rule["EventPattern"] == {"source": ["com.example.signup"]}


# --- FIFO ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fifo", "fifo-content-based-deduplication", "fifo-with-both-producers"])
def test_fifo_makes_both_queues_fifo(name):
    overrides = COMBINATIONS[name]
    resources = created(overrides)
    source = resources["RegistrationQueue"]["Properties"]
    dlq = resources["RegistrationDLQ"]["Properties"]

    for properties in (source, dlq):
        assert properties["FifoQueue"] is True
        assert properties["QueueName"]["Fn::Sub"].endswith(".fifo")
    assert dlq["RedriveAllowPolicy"]["sourceQueueArns"][0]["Fn::Sub"].endswith("-registrations.fifo")
    assert source["ContentBasedDeduplication"] == overrides.get("ContentBasedDeduplication", "false")
    assert "ContentBasedDeduplication" not in dlq, "the function gives each DLQ copy its deduplication id"


def test_a_standard_queue_has_no_fifo_properties():
    resources = created({})

    for name in ("RegistrationQueue", "RegistrationDLQ"):
        properties = resources[name]["Properties"]
        assert "FifoQueue" not in properties
        assert "ContentBasedDeduplication" not in properties
        assert not properties["QueueName"]["Fn::Sub"].endswith(".fifo")


def test_the_event_rule_gives_a_fifo_queue_its_message_group():
    rule = created(COMBINATIONS["fifo-with-both-producers"])["RegistrationEventRule"]["Properties"]

    (target,) = rule["Targets"]
    assert target["SqsParameters"] == {"MessageGroupId": "eventbridge-registrations"}


# --- the Rules: what CloudFormation refuses before creating anything ------------------------------

REFUSED = [
    pytest.param(
        {"BatchSize": "11", "MaximumBatchingWindowInSeconds": "0"}, "BatchSize above 10", id="batch-11-no-window"
    ),
    pytest.param(
        {"BatchSize": "100", "MaximumBatchingWindowInSeconds": "0"}, "BatchSize above 10", id="batch-100-no-window"
    ),
    pytest.param(
        {"QueueType": "fifo", "BatchSize": "20", "MaximumBatchingWindowInSeconds": "0"},
        "at most 10",
        id="fifo-batch-20",
    ),
    pytest.param({"QueueType": "fifo"}, "no batching window", id="fifo-with-a-window"),
    pytest.param({"SubnetIds": SUBNETS}, "needs SecurityGroupIds", id="subnets-alone"),
    pytest.param({"SecurityGroupIds": FUNCTION_SECURITY_GROUPS}, "needs SubnetIds", id="security-groups-alone"),
    pytest.param({"CreateVpcEndpoints": "true"}, "needs SubnetIds", id="endpoints-outside-a-vpc"),
    pytest.param({**COMBINATIONS["vpc"], "CreateVpcEndpoints": "true"}, "needs VpcId", id="endpoints-without-vpc-id"),
    pytest.param({"ContentBasedDeduplication": "true"}, "needs QueueType fifo", id="dedup-on-standard"),
    pytest.param({"SourceEventBusName": "signups"}, "needs SourceEventSources", id="rule-without-pattern"),
    pytest.param(
        {
            **COMBINATIONS["fifo"],
            "SourceEventBusName": "signups",
            "SourceEventSources": "com.example.signup",
        },
        "needs ContentBasedDeduplication true",
        id="rule-on-fifo-without-dedup",
    ),
]


@pytest.mark.parametrize(("overrides", "reason"), REFUSED)
def test_the_rules_refuse_what_the_services_would_refuse(overrides, reason):
    violations = rule_violations(translate(overrides), overrides)

    assert any(reason in violation for violation in violations), violations


@pytest.mark.parametrize("batch_size", ["1", "10"])
def test_batches_of_ten_or_fewer_need_no_window(batch_size):
    overrides = {"BatchSize": batch_size, "MaximumBatchingWindowInSeconds": "0"}

    assert rule_violations(translate(overrides), overrides) == []
