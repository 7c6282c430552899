"""The stack engine runs resource operations as the stack's RoleARN under IAM enforcement
(twin_emulator/cfn_engine.py, twin_emulator/handler_permissions.py), in-process with moto.

The stack is driven through the CloudFormation backend (as the CreateStack/UpdateStack/DeleteStack
handlers drive it), with TWIN_EMULATOR_IAM=enforce set only around those calls: the setup and the
inspection go through boto3, with no caller identity involved.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend, cloudformation_backends
from moto.core import DEFAULT_ACCOUNT_ID

import twin_emulator
from twin_emulator import handler_permissions
from twin_stacks import Deploy, data_stack_name, deploy_environment, outputs

ACCOUNT = DEFAULT_ACCOUNT_ID
REGION = "us-east-1"
STACK = "twin-local"
CODE_BUCKET = "artifacts"
CODE_KEY = "functions/api.zip"
DEPLOYER = "deployer"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/{DEPLOYER}/AWSCloudFormation"
TYPES = ("AWS::Logs::LogGroup", "AWS::IAM::Role", "AWS::Lambda::Function")


def template(memory: int = 128) -> str:
    return json.dumps({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "FunctionLogGroup": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": "/aws/lambda/twin-local-api", "RetentionInDays": 7},
            },
            "FunctionRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                         "Action": "sts:AssumeRole"}]},
                },
            },
            "Function": {
                "Type": "AWS::Lambda::Function",
                "DependsOn": "FunctionLogGroup",
                "Properties": {
                    "FunctionName": "twin-local-api",
                    "Runtime": "provided.al2023",
                    "Handler": "bootstrap",
                    "MemorySize": memory,
                    "Role": {"Fn::GetAtt": ["FunctionRole", "Arn"]},
                    "Code": {"S3Bucket": CODE_BUCKET, "S3Key": CODE_KEY},
                },
            },
        },
    })


KEY_TEMPLATE = json.dumps({
    "Resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": True, "KeyPolicy": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                       "Action": "kms:*", "Resource": "*"}]}}}},
})


# --- the deployer role: exactly the handler permissions of the template ---------------------------


def needed(operations: tuple[str, ...] = ("create", "update", "delete")) -> list[str]:
    """The template's handler permissions (waivers left out), as the engine will evaluate them."""
    waived = handler_permissions.waived_actions()
    return sorted({
        action
        for resource_type in TYPES
        for operation in operations
        for action in handler_permissions.handler_actions(resource_type, operation)
        if action.lower() not in waived
    })


def own_scope(action: str) -> str | None:
    """The ARN pattern a least-privilege role grants `action` on, as environment-access.yaml scopes its
    grants; None for the actions the role must not need here."""
    service = action.split(":")[0]
    scopes = {
        "logs": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/twin-local-*",
        "iam": f"arn:aws:iam::{ACCOUNT}:role/{STACK}-*",
        "lambda": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:twin-local-*",
    }
    return scopes.get(service)


def deployer_policy(without: tuple[str, ...] = (), extra: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    star = handler_permissions.without_resource_level_permissions()
    statements: list[dict[str, Any]] = []
    for action in needed():
        if action in without or action.lower().startswith("kms:"):
            continue  # kms:* of the function: only called with KmsKeyArn, which the template leaves unset
        if action == "iam:PassRole":
            statements.append({"Effect": "Allow", "Action": action,
                               "Resource": f"arn:aws:iam::{ACCOUNT}:role/{STACK}-*",
                               "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}})
        elif action in ("s3:GetObject", "s3:GetObjectVersion"):
            statements.append({"Effect": "Allow", "Action": action,
                               "Resource": f"arn:aws:s3:::{CODE_BUCKET}/functions/*"})
        elif action.lower() in star:
            statements.append({"Effect": "Allow", "Action": action, "Resource": "*"})
        else:
            scope = own_scope(action)
            assert scope, f"the test template needs {action}: give it a scope"
            statements.append({"Effect": "Allow", "Action": action, "Resource": scope})
    return {"Version": "2012-10-17", "Statement": statements + list(extra)}


# --- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def aws() -> Iterator[Callable[[str], Any]]:
    twin_emulator.install()
    with mock_aws():
        def client(service: str) -> Any:
            return boto3.client(service, region_name=REGION)

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("bootstrap", "#!/bin/sh\n")
        client("s3").create_bucket(Bucket=CODE_BUCKET)
        client("s3").put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=buffer.getvalue())
        yield client


def make_deployer(aws: Callable[[str], Any], policy: dict[str, Any]) -> str:
    iam = aws("iam")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=DEPLOYER, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=DEPLOYER, PolicyName="deploy", PolicyDocument=json.dumps(policy))
    return arn


@contextlib.contextmanager
def enforcement(monkeypatch: pytest.MonkeyPatch, on: bool = True) -> Iterator[CloudFormationBackend]:
    with monkeypatch.context() as patch:
        if on:
            patch.setenv("TWIN_EMULATOR_IAM", "enforce")
        else:
            patch.delenv("TWIN_EMULATOR_IAM", raising=False)
        yield cloudformation_backends[ACCOUNT][REGION]


def create(monkeypatch: pytest.MonkeyPatch, role_arn: str | None, body: str | None = None, on: bool = True) -> None:
    with enforcement(monkeypatch, on) as backend:
        backend.create_stack(name=STACK, template=body or template(), parameters={}, role_arn=role_arn)


def status(aws: Callable[[str], Any]) -> str:
    return aws("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]


def events(aws: Callable[[str], Any]) -> list[dict[str, Any]]:
    return aws("cloudformation").describe_stack_events(StackName=STACK)["StackEvents"]


def failure(aws: Callable[[str], Any], logical_id: str, status_name: str) -> str:
    reasons = [e.get("ResourceStatusReason", "") for e in events(aws)
               if e["LogicalResourceId"] == logical_id and e["ResourceStatus"] == status_name]
    assert reasons, f"no {status_name} event for {logical_id}: {events(aws)}"
    return reasons[0]


HANDLER_DENIAL = re.compile(
    r'^Resource handler returned message: "User: (?P<user>\S+) is not authorized to perform: (?P<action>\S+)'
    r"(?: on resource: (?P<resource>\S+))? (?P<why>because no identity-based policy allows the \S+ action|"
    r"with an explicit deny in an identity-based policy) \(Service: (?P<service>\w+), Status Code: 403, "
    r'Request ID: [0-9a-f-]{36}\)" \(RequestToken: [0-9a-f-]{36}, HandlerErrorCode: AccessDenied\)$'
)


# --- cases -------------------------------------------------------------------------------------------------


def test_a_role_with_exactly_the_handler_permissions_creates_updates_and_deletes_the_stack(
    aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    role = make_deployer(aws, deployer_policy())
    create(monkeypatch, role)
    assert status(aws) == "CREATE_COMPLETE", events(aws)
    assert aws("lambda").get_function(FunctionName="twin-local-api")["Configuration"]["MemorySize"] == 128

    with enforcement(monkeypatch) as backend:
        backend.update_stack(name=STACK, template=template(memory=256), role_arn=None, parameters=[], tags=None)
    assert status(aws) == "UPDATE_COMPLETE", events(aws)
    assert aws("lambda").get_function(FunctionName="twin-local-api")["Configuration"]["MemorySize"] == 256

    with enforcement(monkeypatch) as backend:
        backend.delete_stack(STACK)
    assert aws("cloudformation").list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"]
    assert not aws("lambda").list_functions()["Functions"]


def test_a_role_missing_one_action_fails_that_resource_naming_it_and_the_stack_rolls_back(
    aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    role = make_deployer(aws, deployer_policy(without=("lambda:CreateFunction",)))
    create(monkeypatch, role)

    reason = failure(aws, "Function", "CREATE_FAILED")
    match = HANDLER_DENIAL.match(reason)
    assert match, reason
    assert match["user"] == SESSION
    assert match["action"] == "lambda:CreateFunction"
    assert match["resource"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:twin-local-api"
    assert match["why"] == "because no identity-based policy allows the lambda:CreateFunction action"
    assert match["service"] == "Lambda"
    assert status(aws) == "ROLLBACK_COMPLETE"
    # The rollback deleted what the create made (the role may delete it).
    assert not aws("logs").describe_log_groups()["logGroups"]
    assert not [r for r in aws("iam").list_roles()["Roles"] if r["RoleName"].startswith(STACK)]
    assert not aws("lambda").list_functions()["Functions"]


def test_an_explicit_deny_fails_the_resource(aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch) -> None:
    deny = {"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*"}
    role = make_deployer(aws, deployer_policy(extra=(deny,)))
    create(monkeypatch, role)

    match = HANDLER_DENIAL.match(failure(aws, "Function", "CREATE_FAILED"))
    assert match and match["action"] == "iam:PassRole"
    assert match["resource"].startswith(f"arn:aws:iam::{ACCOUNT}:role/{STACK}-FunctionRole-")
    assert match["why"] == "with an explicit deny in an identity-based policy"
    assert status(aws) == "ROLLBACK_COMPLETE"


def test_pass_role_is_evaluated_with_the_service_it_is_passed_to(
    aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = deployer_policy(without=("iam:PassRole",), extra=(
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},))
    create(monkeypatch, make_deployer(aws, policy))
    match = HANDLER_DENIAL.match(failure(aws, "Function", "CREATE_FAILED"))
    assert match and match["action"] == "iam:PassRole"


def test_an_action_without_resource_level_permissions_is_evaluated_on_star(
    aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A grant scoped to the log group does not cover logs:DescribeLogGroups, which has no resource.
    scoped = {"Effect": "Allow", "Action": "logs:DescribeLogGroups",
              "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/twin-local-*"}
    create(monkeypatch, make_deployer(aws, deployer_policy(without=("logs:DescribeLogGroups",), extra=(scoped,))))
    reason = failure(aws, "FunctionLogGroup", "CREATE_FAILED")
    match = HANDLER_DENIAL.match(reason)
    assert match and match["action"] == "logs:DescribeLogGroups" and match["resource"] is None, reason
    assert match["service"] == "CloudWatchLogs"


def test_an_update_the_role_may_not_make_fails_that_resource(
    aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    role = make_deployer(aws, deployer_policy(without=("lambda:UpdateFunctionConfiguration",)))
    create(monkeypatch, role)
    assert status(aws) == "CREATE_COMPLETE", events(aws)
    with enforcement(monkeypatch) as backend:
        backend.update_stack(name=STACK, template=template(memory=256), role_arn=None, parameters=[], tags=None)
    match = HANDLER_DENIAL.match(failure(aws, "Function", "UPDATE_FAILED"))
    assert match and match["action"] == "lambda:UpdateFunctionConfiguration"
    # Rolling back the function is an update too, which the role may not make either (as on AWS).
    assert status(aws).startswith("UPDATE_ROLLBACK")
    assert aws("lambda").get_function(FunctionName="twin-local-api")["Configuration"]["MemorySize"] == 128


def test_a_delete_the_role_may_not_make_fails_the_stack_deletion(
    aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    role = make_deployer(aws, deployer_policy(without=("logs:DeleteLogGroup",)))
    create(monkeypatch, role)
    with enforcement(monkeypatch) as backend:
        backend.delete_stack(STACK)
    match = HANDLER_DENIAL.match(failure(aws, "FunctionLogGroup", "DELETE_FAILED"))
    assert match and match["action"] == "logs:DeleteLogGroup"
    assert status(aws) == "DELETE_FAILED"
    assert aws("logs").describe_log_groups()["logGroups"]


def test_an_id_the_service_assigns_is_checked_right_after_the_create_call(
    aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # kms:CreateKey has no resource; kms:EnableKeyRotation names the new key, known only once it exists.
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*"},
        {"Effect": "Allow", "Action": ["kms:PutKeyPolicy", "kms:TagResource", "kms:DescribeKey",
                                       "kms:ScheduleKeyDeletion"], "Resource": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*"},
    ]}
    create(monkeypatch, make_deployer(aws, policy), body=KEY_TEMPLATE)
    match = HANDLER_DENIAL.match(failure(aws, "Key", "CREATE_FAILED"))
    assert match and match["action"] == "kms:EnableKeyRotation", failure(aws, "Key", "CREATE_FAILED")
    assert re.fullmatch(rf"arn:aws:kms:{REGION}:{ACCOUNT}:key/[0-9a-f-]{{36}}", match["resource"])
    assert status(aws) == "ROLLBACK_COMPLETE"
    # What the create call made is gone again (a key is scheduled for deletion).
    keys = [aws("kms").describe_key(KeyId=k["KeyId"])["KeyMetadata"] for k in aws("kms").list_keys()["Keys"]]
    assert keys and all(k["KeyState"] == "PendingDeletion" for k in keys)


def test_a_role_that_does_not_exist_fails_the_first_resource(
    aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    create(monkeypatch, f"arn:aws:iam::{ACCOUNT}:role/nobody")
    assert failure(aws, "FunctionLogGroup", "CREATE_FAILED") == (
        f"Role arn:aws:iam::{ACCOUNT}:role/nobody is invalid or cannot be assumed")
    assert status(aws) == "ROLLBACK_COMPLETE"


def test_without_a_role_arn_nothing_is_checked(aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch) -> None:
    create(monkeypatch, None)
    assert status(aws) == "CREATE_COMPLETE", events(aws)


def test_without_enforcement_the_role_is_not_checked(
    aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    role = make_deployer(aws, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "*", "Resource": "*"}]})
    create(monkeypatch, role, on=False)
    assert status(aws) == "CREATE_COMPLETE", events(aws)


# --- the twin stacks as environment-access.yaml's ExecutionRole ------------------------------------------

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


# The access stack's names, as twinctl passes them: for the one environment local, and for every preview
# (EnvironmentName the prefix, Environments and TwinStackName patterns).
LOCAL_ACCESS = {"EnvironmentName": "local", "Environments": "local", "TwinStackName": STACK}
PREVIEWS_ACCESS = {"EnvironmentName": "pr", "Environments": "pr-*", "TwinStackName": "twin-pr-*"}


def execution_role(aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch,
                   names: dict[str, str] = LOCAL_ACCESS) -> tuple[str, str]:
    """environment-access.yaml deployed (by an administrator: no RoleARN): its ExecutionRole and boundary."""
    stack_name = f"twin-ci-{names['EnvironmentName']}"
    with enforcement(monkeypatch, on=False) as backend:
        backend.create_stack(name=stack_name, template=(TEMPLATES / "environment-access.yaml").read_text(),
                             parameters={"ProjectName": "twin", **names, "ArtifactsBucketName": CODE_BUCKET,
                                         "BootstrapStackName": "twin-bootstrap"},
                             role_arn=None)
    resources = aws("cloudformation").describe_stack_resources(StackName=stack_name)["StackResources"]
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
    role = aws("iam").get_role(RoleName=physical["ExecutionRole"])["Role"]["Arn"]
    return role, physical["FunctionBoundary"]


def twin_parameters(boundary: str, environment: str = "local", **extra: str) -> dict[str, str]:
    return {"EnvironmentName": environment, "CodeBucket": CODE_BUCKET, "CodeKey": CODE_KEY, "LlmProvider": "offline",
            "Architecture": "x86_64", "PermissionsBoundaryArn": boundary, "EnableWaf": "true",
            "AlarmEmail": "owner@example.com", **extra}


def deploy_as(aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch, role: str) -> Deploy:
    """twin_stacks' `deploy`, under enforcement: CreateStack with `role` as RoleARN for a new stack, UpdateStack
    (the stack keeps its role) for one that exists; a stack with nothing to update is left as it is."""
    created: set[str] = set()

    def apply(name: str, body: str, parameters: dict[str, str]) -> dict[str, Any]:
        with enforcement(monkeypatch) as backend:
            if name not in created:
                backend.create_stack(name=name, template=body, parameters=parameters, role_arn=role)
                created.add(name)
            else:
                try:
                    backend.update_stack(name=name, template=body, role_arn=None, tags=None, parameters=[
                        {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()])
                except ValidationError as error:
                    assert "No updates are to be performed." in str(error), error
        return aws("cloudformation").describe_stacks(StackName=name)["Stacks"][0]

    return apply


def failures(aws: Callable[[str], Any], stack_name: str) -> list[dict[str, Any]]:
    return [e for e in aws("cloudformation").describe_stack_events(StackName=stack_name)["StackEvents"]
            if "FAILED" in e["ResourceStatus"]]


@pytest.mark.parametrize(("environment", "access"), [("local", LOCAL_ACCESS), ("pr-12345678", PREVIEWS_ACCESS)],
                         ids=["one-environment", "preview"])
def test_the_twin_stacks_deploy_update_and_delete_as_the_execution_role(
    aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch, environment: str, access: dict[str, str]
) -> None:
    """Both stacks of the environment, the data stack first (twin_stacks.deploy_environment), as twinctl
    deploys them: environment-access.yaml's ExecutionRole runs the change sets of both. A preview's stacks
    run under the previews' one execution role (Environments pr-*, TwinStackName twin-pr-*), with the longest
    preview name."""
    role, boundary = execution_role(aws, monkeypatch, access)
    apply = deploy_as(aws, monkeypatch, role)
    stack = f"twin-{environment}"
    function = f"twin-{environment}-api"
    data_stack = data_stack_name(stack)
    data, app = deploy_environment(apply, stack, twin_parameters(boundary, environment))
    assert data["StackStatus"] == "CREATE_COMPLETE", failures(aws, data_stack)
    assert app["StackStatus"] == "CREATE_COMPLETE", failures(aws, stack)
    # The names the role's grants and the boundary are scoped by (environment-access.yaml).
    assert outputs(data)["DataMemoryBucketName"].startswith(f"{data_stack}-memorybucket-")
    assert outputs(app)["MemoryBucketName"] == outputs(data)["DataMemoryBucketName"]

    # A release made live, as twinctl deploys one: the alias and its invoke permission appear; and the data
    # stack's retention changes (LogRetentionDays reaches the data stack only).
    version = aws("lambda").publish_version(FunctionName=function)["Version"]
    data, app = deploy_environment(apply, stack, twin_parameters(boundary, environment, LiveVersion=version,
                                                                 LogRetentionDays="7"))
    assert data["StackStatus"] == "UPDATE_COMPLETE", failures(aws, data_stack)
    assert app["StackStatus"] == "UPDATE_COMPLETE", failures(aws, stack)
    assert aws("lambda").get_alias(FunctionName=function, Name="live")["FunctionVersion"] == version
    groups = aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{function}")["logGroups"]
    assert [g["retentionInDays"] for g in groups] == [7]

    # `twinctl destroy` deletes the app stack; the role may delete the data stack too, which keeps the data.
    with enforcement(monkeypatch) as backend:
        backend.delete_stack(stack)
    if environment.startswith("pr-"):
        # A preview's `destroy --delete-data` (twinctl/src/destroy.rs) deletes the data by its own APIs first
        # (here without enforcement: test_preview_access.py checks the deploy role's grants), the key's
        # deletion scheduled; then the data stack, whose alias and bucket policy the execution role deletes.
        values = outputs(data)
        bucket = values["DataMemoryBucketName"]
        listed = aws("s3").list_object_versions(Bucket=bucket)
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                  for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]
        if doomed:
            aws("s3").delete_objects(Bucket=bucket, Delete={"Objects": doomed})
        aws("s3").delete_bucket(Bucket=bucket)
        aws("secretsmanager").delete_secret(SecretId=values["DataSecretArn"], ForceDeleteWithoutRecovery=True)
        for group in (values["DataFunctionLogGroupName"], values["DataApiLogGroupName"]):
            aws("logs").delete_log_group(logGroupName=group)
        aws("kms").schedule_key_deletion(KeyId=values["DataKeyArn"], PendingWindowInDays=7)
    with enforcement(monkeypatch) as backend:
        backend.delete_stack(data_stack)
    assert not [s for s in aws("cloudformation").list_stacks()["StackSummaries"]
                if s["StackName"] in (stack, data_stack) and s["StackStatus"] != "DELETE_COMPLETE"], (
        failures(aws, data_stack))
    if environment.startswith("pr-"):
        assert not aws("kms").list_aliases(KeyId=outputs(data)["DataKeyArn"])["Aliases"]
        return
    assert aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{function}")["logGroups"]
    assert aws("s3").head_bucket(Bucket=outputs(data)["DataMemoryBucketName"])


def test_the_execution_role_creates_roles_only_with_the_boundary(
    aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    role, _ = execution_role(aws, monkeypatch)
    data, app = deploy_environment(deploy_as(aws, monkeypatch, role), STACK, twin_parameters(""))
    assert data["StackStatus"] == "CREATE_COMPLETE"  # the data stack creates no role
    match = HANDLER_DENIAL.match(failure(aws, "FunctionRole", "CREATE_FAILED"))
    assert match and match["action"] == "iam:CreateRole" and match["service"] == "Iam"
    assert match["user"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/twin-ci-local-cfn-{REGION}/AWSCloudFormation"
    assert status(aws) == "ROLLBACK_COMPLETE"


# --- the requests the engine builds ------------------------------------------------------------------


def test_waived_actions_are_not_evaluated() -> None:
    waived = handler_permissions.waived_actions()
    assert "lambda:putfunctionconcurrency" in waived
    target = handler_permissions.Target("aws", ACCOUNT, REGION, "AWS::Lambda::Function", "twin-local-api",
                                        {"Role": "arn:aws:iam::1:role/r", "Code": {"S3Bucket": "b", "S3Key": "k"}})
    actions = {r.action.lower() for r in handler_permissions.plan(target, "create").requests}
    assert "lambda:createfunction" in actions and "lambda:putfunctionconcurrency" not in actions
    assert not any(a.startswith("kms:") for a in actions)  # KmsKeyArn unset: Lambda calls no KMS action


def target(resource_type: str, name: str, properties: dict[str, Any], physical_id: str | None = None,
           **attributes: Any) -> handler_permissions.Target:
    return handler_permissions.Target("aws", ACCOUNT, REGION, resource_type, name, properties, physical_id, attributes)


def requests_for(planned: handler_permissions.Plan, action: str) -> list[tuple[str, dict[str, Any]]]:
    return [(r.resource, dict(r.context)) for r in planned.requests if r.action == action]


def test_a_kms_alias_is_authorized_on_the_alias_and_its_key() -> None:
    planned = handler_permissions.plan(target("AWS::KMS::Alias", "alias/twin-local",
                                              {"AliasName": "alias/twin-local", "TargetKeyId": "k-1"}), "create")
    assert requests_for(planned, "kms:CreateAlias") == [
        (f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/twin-local", {}),
        (f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k-1", {}),
    ]


def test_role_writes_carry_the_roles_permissions_boundary() -> None:
    boundary = f"arn:aws:iam::{ACCOUNT}:policy/b"
    planned = handler_permissions.plan(target("AWS::IAM::Role", "twin-local-FunctionRole-X",
                                              {"PermissionsBoundary": boundary}), "create")
    role = f"arn:aws:iam::{ACCOUNT}:role/twin-local-FunctionRole-X"
    assert requests_for(planned, "iam:CreateRole") == [(role, {"iam:PermissionsBoundary": [boundary]})]
    assert requests_for(planned, "iam:GetRole") == [(role, {})]  # not a boundary-governed write


def test_api_children_are_created_in_their_collection() -> None:
    planned = handler_permissions.plan(target("AWS::ApiGatewayV2::Route", "gen", {"ApiId": "a1"}), "create")
    assert requests_for(planned, "apigateway:POST") == [(f"arn:aws:apigateway:{REGION}::/apis/a1/routes", {})]
    updated = handler_permissions.plan(target("AWS::ApiGatewayV2::Route", "r1", {"ApiId": "a1"}, "r1"), "update")
    assert requests_for(updated, "apigateway:PATCH") == [(f"arn:aws:apigateway:{REGION}::/apis/a1/routes/r1", {})]


def test_an_id_the_service_assigns_defers_its_actions() -> None:
    before = handler_permissions.plan(target("AWS::KMS::Key", "gen", {}), "create")
    assert requests_for(before, "kms:CreateKey") == [("*", {})]
    assert "kms:PutKeyPolicy" in before.deferred
    after = handler_permissions.plan(target("AWS::KMS::Key", "k-1", {}, "k-1"), "create", only=before.deferred)
    assert requests_for(after, "kms:PutKeyPolicy") == [(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k-1", {})]
    assert not after.deferred and not requests_for(after, "kms:CreateKey")


def test_another_waivers_file_can_be_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waived:\n  - {action: lambda:CreateFunction, reason: a test waiver}\n")
    monkeypatch.setenv("TWIN_EMULATOR_WAIVERS", str(waivers))
    assert handler_permissions.waived_actions() == frozenset({"lambda:createfunction"})
    monkeypatch.setenv("TWIN_EMULATOR_WAIVERS", str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError):
        handler_permissions.waived_actions()
