"""Termination protection and RoleARN on stacks (twin_emulator/cfn_stack_fixes.py).

The emulator runs as a subprocess (`python -m twin_emulator`, as `scripts/emulator start` runs it)
on a free port of its own; every check goes through the CloudFormation API with boto3.

Run: cd emulator && ../.twin/emulator/venv/bin/python -m pytest -q tests/test_stack_protection.py
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from emulator_process import clients, running_emulator

EMULATOR_DIR = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
DEPLOYER = "arn:aws:iam::123456789012:role/twin-deployer"
OTHER_DEPLOYER = "arn:aws:iam::123456789012:role/twin-deployer-2"
TEMPLATE = json.dumps({
    "Parameters": {"Label": {"Type": "String", "Default": "one"}},
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {"Ref": "Label"}}}},
})


# --- the emulator --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running_emulator(tmp_path_factory.mktemp("emulator")) as url:
        yield url


@pytest.fixture(scope="module")
def aws(endpoint: str) -> Any:
    return clients(endpoint, REGION)


@pytest.fixture
def cfn(aws: Any) -> Any:
    return aws("cloudformation")


# --- helpers -------------------------------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def described(cfn: Any, stack: str) -> dict[str, Any]:
    return cfn.describe_stacks(StackName=stack)["Stacks"][0]


def label(value: str) -> list[dict[str, str]]:
    return [{"ParameterKey": "Label", "ParameterValue": value}]


def run_change_set(cfn: Any, stack: str, kind: str, value: str, **options: Any) -> None:
    name = unique("cs")
    cfn.create_change_set(StackName=stack, ChangeSetName=name, TemplateBody=TEMPLATE, Parameters=label(value),
                          ChangeSetType=kind, **options)
    assert cfn.describe_change_set(StackName=stack, ChangeSetName=name)["Status"] == "CREATE_COMPLETE"
    cfn.execute_change_set(StackName=stack, ChangeSetName=name)
    expected = "CREATE_COMPLETE" if kind == "CREATE" else "UPDATE_COMPLETE"
    assert described(cfn, stack)["StackStatus"] == expected


def refused_delete(cfn: Any, stack: str) -> ClientError:
    with pytest.raises(ClientError) as caught:
        cfn.delete_stack(StackName=stack)
    return caught.value


def assert_refused(error: ClientError, stack: str) -> None:
    assert error.response["Error"]["Code"] == "ValidationError"
    assert error.response["Error"]["Message"] == (
        f"Stack [{stack}] cannot be deleted while TerminationProtection is enabled"
    )
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# --- termination protection ----------------------------------------------------------------------


def test_every_stack_reports_its_termination_protection(cfn: Any) -> None:
    protected, plain = unique("protected"), unique("plain")
    cfn.create_stack(StackName=protected, TemplateBody=TEMPLATE, EnableTerminationProtection=True)
    cfn.create_stack(StackName=plain, TemplateBody=TEMPLATE)
    assert described(cfn, protected)["EnableTerminationProtection"] is True
    assert described(cfn, plain)["EnableTerminationProtection"] is False
    # Also in the unfiltered listing, for every stack.
    listed = cfn.describe_stacks()["Stacks"]
    assert listed and all(isinstance(s.get("EnableTerminationProtection"), bool) for s in listed)
    cfn.update_termination_protection(StackName=protected, EnableTerminationProtection=False)
    cfn.delete_stack(StackName=protected)
    cfn.delete_stack(StackName=plain)


def test_a_protected_stack_is_not_deleted_and_stays_as_it_was(cfn: Any, aws: Any) -> None:
    stack = unique("keep")
    stack_id = cfn.create_stack(StackName=stack, TemplateBody=TEMPLATE, EnableTerminationProtection=True)["StackId"]
    before = described(cfn, stack)
    events_before = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    resources_before = cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]

    assert_refused(refused_delete(cfn, stack), stack)
    # By its id too: the message names the stack as the caller did.
    assert_refused(refused_delete(cfn, stack_id), stack_id)

    after = described(cfn, stack)
    assert after["StackId"] == stack_id
    assert after["StackStatus"] == before["StackStatus"] == "CREATE_COMPLETE"
    assert after["EnableTerminationProtection"] is True
    assert cfn.describe_stack_events(StackName=stack)["StackEvents"] == events_before
    assert cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"] == resources_before
    topic_arn = next(r["PhysicalResourceId"] for r in resources_before if r["LogicalResourceId"] == "Topic")
    assert aws("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]["TopicArn"] == topic_arn
    assert stack in [s["StackName"] for s in cfn.list_stacks(StackStatusFilter=["CREATE_COMPLETE"])["StackSummaries"]]

    cfn.update_termination_protection(StackName=stack, EnableTerminationProtection=False)
    cfn.delete_stack(StackName=stack)


def test_protection_can_be_enabled_and_disabled_then_the_stack_deleted(cfn: Any, aws: Any) -> None:
    stack = unique("toggle")
    stack_id = cfn.create_stack(StackName=stack, TemplateBody=TEMPLATE)["StackId"]
    topic_arn = cfn.describe_stack_resource(StackName=stack, LogicalResourceId="Topic")[
        "StackResourceDetail"]["PhysicalResourceId"]

    answer = cfn.update_termination_protection(StackName=stack, EnableTerminationProtection=True)
    assert answer["StackId"] == stack_id
    assert described(cfn, stack)["EnableTerminationProtection"] is True
    assert_refused(refused_delete(cfn, stack), stack)
    assert described(cfn, stack)["StackStatus"] == "CREATE_COMPLETE"

    answer = cfn.update_termination_protection(StackName=stack_id, EnableTerminationProtection=False)
    assert answer["StackId"] == stack_id
    assert described(cfn, stack)["EnableTerminationProtection"] is False
    cfn.delete_stack(StackName=stack)

    with pytest.raises(ClientError) as gone:
        cfn.describe_stacks(StackName=stack)
    assert gone.value.response["Error"]["Code"] == "ValidationError"
    assert described(cfn, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    assert topic_arn not in [t["TopicArn"] for t in aws("sns").list_topics()["Topics"]]
    # A deleted stack's protection can no longer be changed.
    with pytest.raises(ClientError) as deleted:
        cfn.update_termination_protection(StackName=stack_id, EnableTerminationProtection=True)
    assert deleted.value.response["Error"]["Code"] == "ValidationError"


def test_protection_of_a_missing_stack_cannot_be_updated(cfn: Any) -> None:
    with pytest.raises(ClientError) as caught:
        cfn.update_termination_protection(StackName=unique("missing"), EnableTerminationProtection=True)
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "does not exist" in caught.value.response["Error"]["Message"]


def test_updates_and_change_sets_keep_the_protection(cfn: Any) -> None:
    stack = unique("updated")
    cfn.create_stack(StackName=stack, TemplateBody=TEMPLATE, EnableTerminationProtection=True)
    cfn.update_stack(StackName=stack, TemplateBody=TEMPLATE, Parameters=label("two"))
    assert described(cfn, stack)["EnableTerminationProtection"] is True
    run_change_set(cfn, stack, "UPDATE", "three")
    assert described(cfn, stack)["EnableTerminationProtection"] is True
    assert_refused(refused_delete(cfn, stack), stack)
    cfn.update_termination_protection(StackName=stack, EnableTerminationProtection=False)
    run_change_set(cfn, stack, "UPDATE", "four")
    assert described(cfn, stack)["EnableTerminationProtection"] is False
    cfn.delete_stack(StackName=stack)


def test_a_stack_made_by_a_change_set_keeps_protection_set_while_in_review(cfn: Any) -> None:
    stack = unique("reviewed")
    name = unique("cs")
    cfn.create_change_set(StackName=stack, ChangeSetName=name, TemplateBody=TEMPLATE, ChangeSetType="CREATE")
    assert described(cfn, stack)["StackStatus"] == "REVIEW_IN_PROGRESS"
    assert described(cfn, stack)["EnableTerminationProtection"] is False
    cfn.update_termination_protection(StackName=stack, EnableTerminationProtection=True)
    assert_refused(refused_delete(cfn, stack), stack)
    assert described(cfn, stack)["StackStatus"] == "REVIEW_IN_PROGRESS"
    cfn.execute_change_set(StackName=stack, ChangeSetName=name)
    after = described(cfn, stack)
    assert after["StackStatus"] == "CREATE_COMPLETE"
    assert after["EnableTerminationProtection"] is True
    assert_refused(refused_delete(cfn, stack), stack)
    cfn.update_termination_protection(StackName=stack, EnableTerminationProtection=False)
    cfn.delete_stack(StackName=stack)


# --- RoleARN -------------------------------------------------------------------------------------


def test_create_and_update_stack_report_their_role(cfn: Any) -> None:
    stack, plain = unique("role"), unique("norole")
    cfn.create_stack(StackName=stack, TemplateBody=TEMPLATE, RoleARN=DEPLOYER)
    cfn.create_stack(StackName=plain, TemplateBody=TEMPLATE)
    assert described(cfn, stack)["RoleARN"] == DEPLOYER
    assert "RoleARN" not in described(cfn, plain)

    # Without RoleARN, an update keeps the stack's role.
    cfn.update_stack(StackName=stack, TemplateBody=TEMPLATE, Parameters=label("two"))
    assert described(cfn, stack)["RoleARN"] == DEPLOYER
    cfn.update_stack(StackName=stack, TemplateBody=TEMPLATE, Parameters=label("three"), RoleARN=OTHER_DEPLOYER)
    assert described(cfn, stack)["RoleARN"] == OTHER_DEPLOYER
    # An update of a stack without a role gives it one.
    cfn.update_stack(StackName=plain, TemplateBody=TEMPLATE, Parameters=label("two"), RoleARN=DEPLOYER)
    assert described(cfn, plain)["RoleARN"] == DEPLOYER
    cfn.delete_stack(StackName=stack)
    cfn.delete_stack(StackName=plain)


def test_change_sets_set_the_role_and_a_change_set_without_one_keeps_it(cfn: Any) -> None:
    stack = unique("csrole")
    run_change_set(cfn, stack, "CREATE", "one", RoleARN=DEPLOYER)
    assert described(cfn, stack)["RoleARN"] == DEPLOYER

    run_change_set(cfn, stack, "UPDATE", "two")  # no RoleARN: the previous role stays
    assert described(cfn, stack)["RoleARN"] == DEPLOYER

    run_change_set(cfn, stack, "UPDATE", "three", RoleARN=OTHER_DEPLOYER)
    assert described(cfn, stack)["RoleARN"] == OTHER_DEPLOYER

    # A change set only changes the role when it is executed.
    pending = unique("cs")
    cfn.create_change_set(StackName=stack, ChangeSetName=pending, TemplateBody=TEMPLATE, Parameters=label("four"),
                          ChangeSetType="UPDATE", RoleARN=DEPLOYER)
    assert described(cfn, stack)["RoleARN"] == OTHER_DEPLOYER
    cfn.delete_change_set(StackName=stack, ChangeSetName=pending)
    run_change_set(cfn, stack, "UPDATE", "five")
    assert described(cfn, stack)["RoleARN"] == OTHER_DEPLOYER
    cfn.delete_stack(StackName=stack)


def test_a_stack_created_by_a_change_set_without_a_role_has_none(cfn: Any) -> None:
    stack = unique("csnorole")
    run_change_set(cfn, stack, "CREATE", "one")
    assert "RoleARN" not in described(cfn, stack)
    run_change_set(cfn, stack, "UPDATE", "two", RoleARN=DEPLOYER)
    assert described(cfn, stack)["RoleARN"] == DEPLOYER
    cfn.delete_stack(StackName=stack)
