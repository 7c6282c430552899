"""DeletionPolicy RetainExceptOnCreate in the emulator's engine (twin_emulator/cfn_engine.py).

AWS CloudFormation, "DeletionPolicy attribute"
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html):
RetainExceptOnCreate behaves like Retain for every stack operation except the one that created the
resource: when that operation is rolled back, CloudFormation deletes the resource; deleting the stack
(or dropping the resource from the template) keeps it. Plain Retain keeps the resource even when the
create that made it rolls back, which is why a retried first deploy of the twin's data (now
templates/twin-data.yaml, then still in templates/twin.yaml) used to fail with "already exists" on its named
secret and log groups.

The emulator runs as a subprocess (`python -m twin_emulator`, as `scripts/emulator start` runs it) on a
free port of its own; every check goes through the service APIs with boto3.

Run: cd emulator && ../.twin/emulator/venv/bin/python -m pytest -q tests/test_retain_except_on_create.py
"""

from __future__ import annotations

import io
import time
import uuid
import zipfile
from typing import Any

import boto3
import pytest
from emulator_process import clients, running_emulator
from twin_stacks import (
    APP_TEMPLATE,
    DATA_TEMPLATE,
    app_parameters,
    data_parameters,
    data_stack_name,
    deploy_environment,
    outputs,
)

REGION = "us-east-1"
CODE_BUCKET = "retain-except-on-create-code"
CODE_KEY = "function.zip"

# Name: the prefix of every named resource. Policy: the DeletionPolicy of Secret and Logs. Fail: "yes"
# adds Doomed, a function whose code does not exist, created after everything else (DependsOn), so that
# the create (or update) fails once Secret, Logs and Topic exist. Extra: "yes" adds a third named log group.
TEMPLATE = """
Parameters:
  Name:
    Type: String
  Policy:
    Type: String
    Default: RetainExceptOnCreate
  Fail:
    Type: String
    Default: "no"
  Extra:
    Type: String
    Default: "no"
  CodeBucket:
    Type: String
Conditions:
  Failing: !Equals [!Ref Fail, "yes"]
  WithExtra: !Equals [!Ref Extra, "yes"]
Resources:
  Secret:
    Type: AWS::SecretsManager::Secret
    DeletionPolicy: __POLICY__
    UpdateReplacePolicy: Retain
    Properties:
      Name: !Sub "${Name}/llm-api-key"
      GenerateSecretString:
        SecretStringTemplate: '{"api_key": ""}'
        GenerateStringKey: placeholder
  Logs:
    Type: AWS::Logs::LogGroup
    DeletionPolicy: __POLICY__
    UpdateReplacePolicy: Retain
    Properties:
      LogGroupName: !Sub "/aws/lambda/${Name}-api"
      RetentionInDays: 7
  ExtraLogs:
    Type: AWS::Logs::LogGroup
    Condition: WithExtra
    DeletionPolicy: __POLICY__
    UpdateReplacePolicy: Retain
    Properties:
      LogGroupName: !Sub "/aws/apigateway/${Name}-api"
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub "${Name}-alarms"
  Doomed:
    Type: AWS::Lambda::Function
    Condition: Failing
    DependsOn: [Secret, Logs, Topic]
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      Role: arn:aws:iam::123456789012:role/stand-in
      Code:
        S3Bucket: !Ref CodeBucket
        S3Key: this-key-does-not-exist.zip
"""


# --- the emulator --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running_emulator(tmp_path_factory.mktemp("emulator")) as url:
        yield url


@pytest.fixture(scope="module")
def aws(endpoint: str) -> Any:
    return clients(endpoint, REGION)


@pytest.fixture(scope="module")
def code_bucket(aws: Any) -> str:
    """A bucket holding a function zip (CODE_KEY), as twinctl uploads it before deploying."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bootstrap", "#!/bin/sh\necho stand-in\n")
    s3 = aws("s3")
    s3.create_bucket(Bucket=CODE_BUCKET)
    s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=buffer.getvalue())
    return CODE_BUCKET


# --- helpers -------------------------------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def template(policy: str = "RetainExceptOnCreate") -> str:
    return TEMPLATE.replace("__POLICY__", policy)


def as_parameters(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


def settle(cfn: Any, stack: str) -> dict[str, Any]:
    """The stack once no operation is in progress (the emulator finishes synchronously; poll anyway)."""
    deadline = time.monotonic() + 60
    while True:
        described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        if not described["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return described
        time.sleep(0.2)


def deploy(cfn: Any, stack: str, body: str, parameters: dict[str, str], kind: str = "CREATE") -> dict[str, Any]:
    """Create and execute a change set, as twinctl deploys; the stack once it settles."""
    created = cfn.create_change_set(StackName=stack, ChangeSetName=unique("cs"), TemplateBody=body,
                                    Parameters=as_parameters(parameters), ChangeSetType=kind,
                                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])
    described = cfn.describe_change_set(ChangeSetName=created["Id"])
    assert described["Status"] == "CREATE_COMPLETE", described.get("StatusReason")
    cfn.execute_change_set(ChangeSetName=created["Id"])
    return settle(cfn, stack)


def delete(cfn: Any, stack: dict[str, Any]) -> None:
    cfn.delete_stack(StackName=stack["StackName"])
    assert settle(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"


def statuses(cfn: Any, stack: str) -> dict[str, list[str]]:
    """Each logical resource's statuses, oldest first."""
    found: dict[str, list[str]] = {}
    for event in reversed(cfn.describe_stack_events(StackName=stack)["StackEvents"]):
        if event["LogicalResourceId"] != event["StackName"]:
            found.setdefault(event["LogicalResourceId"], []).append(event["ResourceStatus"])
    return found


def secret_names(aws: Any, name: str) -> list[str]:
    return [s["Name"] for s in aws("secretsmanager").list_secrets()["SecretList"] if s["Name"].startswith(f"{name}/")]


def log_groups(aws: Any, name: str) -> set[str]:
    logs = aws("logs")
    return {g["logGroupName"] for prefix in ("/aws/lambda/", "/aws/apigateway/")
            for g in logs.describe_log_groups(logGroupNamePrefix=f"{prefix}{name}-")["logGroups"]}


def topics(aws: Any, name: str) -> list[str]:
    return [t["TopicArn"] for t in aws("sns").list_topics()["Topics"] if t["TopicArn"].endswith(f":{name}-alarms")]


def forget(aws: Any, name: str) -> None:
    """Delete what a retained stack left behind, so the account is as the test found it."""
    for secret in secret_names(aws, name):
        aws("secretsmanager").delete_secret(SecretId=secret, ForceDeleteWithoutRecovery=True)
    for group in log_groups(aws, name):
        aws("logs").delete_log_group(logGroupName=group)


# --- tests ---------------------------------------------------------------------------------------


def test_a_successful_create_then_delete_keeps_the_resource(aws: Any, code_bucket: str) -> None:
    cfn, name = aws("cloudformation"), unique("kept")
    stack = deploy(cfn, name, template(), {"Name": name, "CodeBucket": code_bucket})
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")

    delete(cfn, stack)

    # Stack deletion is not the operation that created them: kept, as with Retain.
    assert secret_names(aws, name) == [f"{name}/llm-api-key"]
    assert log_groups(aws, name) == {f"/aws/lambda/{name}-api"}
    assert topics(aws, name) == []  # no DeletionPolicy: deleted
    events = statuses(cfn, stack["StackId"])
    assert events["Secret"][-1] == "DELETE_SKIPPED" and events["Logs"][-1] == "DELETE_SKIPPED", events
    assert events["Topic"][-1] == "DELETE_COMPLETE", events
    forget(aws, name)


def test_a_failed_create_deletes_the_resource_and_the_retry_with_the_same_names_succeeds(
    aws: Any, code_bucket: str
) -> None:
    cfn, name = aws("cloudformation"), unique("retry")
    stack = deploy(cfn, name, template(), {"Name": name, "CodeBucket": code_bucket, "Fail": "yes"})

    assert stack["StackStatus"] == "ROLLBACK_COMPLETE", stack.get("StackStatusReason")
    assert stack["StackStatusReason"].startswith("The following resource(s) failed to create: [Doomed].")
    events = statuses(cfn, stack["StackId"])
    for logical_id in ("Secret", "Logs", "Topic"):
        assert events[logical_id] == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE", "DELETE_IN_PROGRESS",
                                      "DELETE_COMPLETE"], (logical_id, events)
    assert events["Doomed"] == ["CREATE_IN_PROGRESS", "CREATE_FAILED"], events
    assert secret_names(aws, name) == []
    assert log_groups(aws, name) == set()
    assert topics(aws, name) == []

    # twinctl's retry of a failed first deploy: delete the dead stack, create it again, same names.
    delete(cfn, stack)
    stack = deploy(cfn, name, template(), {"Name": name, "CodeBucket": code_bucket})
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    assert secret_names(aws, name) == [f"{name}/llm-api-key"]
    assert log_groups(aws, name) == {f"/aws/lambda/{name}-api"}

    delete(cfn, stack)
    assert secret_names(aws, name) == [f"{name}/llm-api-key"], "kept once a create has succeeded"
    forget(aws, name)


def test_plain_retain_keeps_the_resource_through_a_failed_create_and_the_retry_collides(
    aws: Any, code_bucket: str
) -> None:
    # The problem RetainExceptOnCreate solves, as AWS behaves with Retain.
    cfn, name = aws("cloudformation"), unique("stuck")
    stack = deploy(cfn, name, template("Retain"), {"Name": name, "CodeBucket": code_bucket, "Fail": "yes"})

    assert stack["StackStatus"] == "ROLLBACK_COMPLETE", stack.get("StackStatusReason")
    events = statuses(cfn, stack["StackId"])
    assert events["Secret"][-1] == "DELETE_SKIPPED" and events["Logs"][-1] == "DELETE_SKIPPED", events
    assert events["Topic"][-1] == "DELETE_COMPLETE", events
    assert secret_names(aws, name) == [f"{name}/llm-api-key"]
    assert log_groups(aws, name) == {f"/aws/lambda/{name}-api"}

    delete(cfn, stack)
    stack = deploy(cfn, name, template("Retain"), {"Name": name, "CodeBucket": code_bucket})
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [e for e in cfn.describe_stack_events(StackName=stack["StackId"])["StackEvents"]
              if e["ResourceStatus"] == "CREATE_FAILED"]
    assert [e["LogicalResourceId"] for e in failed] == ["Secret"], failed
    assert "already exists" in failed[0]["ResourceStatusReason"], failed[0]["ResourceStatusReason"]
    delete(cfn, stack)
    forget(aws, name)


def test_a_failed_update_deletes_only_what_it_created(aws: Any, code_bucket: str) -> None:
    # The rollback of an update is the rollback of the operation that created ExtraLogs, not Secret or Logs.
    cfn, name = aws("cloudformation"), unique("update")
    stack = deploy(cfn, name, template(), {"Name": name, "CodeBucket": code_bucket})
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")

    stack = deploy(cfn, name, template(), {"Name": name, "CodeBucket": code_bucket, "Extra": "yes", "Fail": "yes"},
                   "UPDATE")

    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", stack.get("StackStatusReason")
    events = statuses(cfn, stack["StackId"])
    assert events["ExtraLogs"] == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE", "DELETE_IN_PROGRESS",
                                   "DELETE_COMPLETE"], events
    assert "DELETE_IN_PROGRESS" not in events["Secret"] and "DELETE_IN_PROGRESS" not in events["Logs"], events
    assert log_groups(aws, name) == {f"/aws/lambda/{name}-api"}
    assert secret_names(aws, name) == [f"{name}/llm-api-key"]

    # A successful update that adds it, then one that drops it: kept (only a rollback of its create deletes it).
    stack = deploy(cfn, name, template(), {"Name": name, "CodeBucket": code_bucket, "Extra": "yes"}, "UPDATE")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack.get("StackStatusReason")
    stack = deploy(cfn, name, template(), {"Name": name, "CodeBucket": code_bucket}, "UPDATE")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack.get("StackStatusReason")
    assert statuses(cfn, stack["StackId"])["ExtraLogs"][-1] == "DELETE_SKIPPED"
    assert log_groups(aws, name) == {f"/aws/lambda/{name}-api", f"/aws/apigateway/{name}-api"}

    delete(cfn, stack)
    forget(aws, name)


def test_twin_data_yaml_a_failed_first_deploy_leaves_nothing_behind_for_the_retry(
    aws: Any, code_bucket: str
) -> None:
    """templates/twin-data.yaml, unchanged: its retained resources (RetainExceptOnCreate) go with a failed create."""
    cfn, s3, kms, logs = aws("cloudformation"), aws("s3"), aws("kms"), aws("logs")
    body = DATA_TEMPLATE.read_text()
    stack_name = data_stack_name("roec-staging")
    parameters = data_parameters({"ProjectName": "roec", "EnvironmentName": "staging"})
    buckets_before = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    keys_before = {k["KeyId"] for k in kms.list_keys()["Keys"]}

    # A log group of the API's name already exists (left by hand): ApiLogGroup, created last, after the key,
    # the bucket, the secret and the function's log group, fails with "already exists".
    squatter = "/aws/apigateway/roec-staging-api"
    logs.create_log_group(logGroupName=squatter)
    stack = deploy(cfn, stack_name, body, parameters)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE", stack.get("StackStatusReason")
    assert stack["StackStatusReason"].startswith("The following resource(s) failed to create: [ApiLogGroup].")
    events = statuses(cfn, stack["StackId"])
    assert events["ApiLogGroup"] == ["CREATE_IN_PROGRESS", "CREATE_FAILED"], events
    created = {lid for lid, seen in events.items() if "CREATE_COMPLETE" in seen}
    assert {"Key", "MemoryBucket", "LlmSecret", "FunctionLogGroup"} <= created, events
    for logical_id in {"Key", "MemoryBucket", "LlmSecret", "FunctionLogGroup", "ApiLogGroup"} & created:
        assert events[logical_id][-1] == "DELETE_COMPLETE", (logical_id, events[logical_id])
    assert secret_names(aws, "roec") == []
    assert log_groups(aws, "roec") == {squatter}  # not the stack's: the rollback leaves it alone
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == buckets_before
    keys = {k["KeyId"] for k in kms.list_keys()["Keys"]} - keys_before
    assert len(keys) == 1, keys  # KMS keeps a deleted key until its waiting period ends: PendingDeletion
    assert [kms.describe_key(KeyId=k)["KeyMetadata"]["KeyState"] for k in keys] == ["PendingDeletion"]

    # twinctl's retry (the squatter removed): delete the ROLLBACK_COMPLETE stack and create it again under
    # the same names.
    logs.delete_log_group(logGroupName=squatter)
    delete(cfn, stack)
    stack = deploy(cfn, stack_name, body, parameters)
    assert stack["StackStatus"] == "CREATE_COMPLETE", (
        stack.get("StackStatusReason"),
        [e.get("ResourceStatusReason") for e in cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
         if e["ResourceStatus"].endswith("_FAILED")],
    )
    assert secret_names(aws, "roec") == ["roec/staging/llm-api-key"]
    assert log_groups(aws, "roec") == {"/aws/lambda/roec-staging-api", "/aws/apigateway/roec-staging-api"}


def test_twin_yaml_a_failed_first_deploy_keeps_the_data_and_the_retry_reattaches_it(
    aws: Any, code_bucket: str
) -> None:
    """templates/twin.yaml, unchanged, after templates/twin-data.yaml: a failed first create of the app stack
    takes its own resources with it and leaves the data stack's alone, and the retry attaches the same data."""
    cfn, s3, kms = aws("cloudformation"), aws("s3"), aws("kms")
    values = {"ProjectName": "roea", "EnvironmentName": "staging", "CodeBucket": code_bucket,
              "LlmProvider": "offline", "Architecture": "x86_64"}

    def apply(stack: str, body: str, parameters: dict[str, str]) -> dict[str, Any]:
        return deploy(cfn, stack, body, parameters)

    # The function's code is missing: Function fails after the origin secret, the role and the buckets exist.
    data, app = deploy_environment(apply, "roea-staging", {**values, "CodeKey": "missing.zip"})
    assert data["StackStatus"] == "CREATE_COMPLETE", data.get("StackStatusReason")
    data_outputs = outputs(data)
    assert app["StackStatus"] == "ROLLBACK_COMPLETE", app.get("StackStatusReason")
    events = statuses(cfn, app["StackId"])
    assert events["Function"] == ["CREATE_IN_PROGRESS", "CREATE_FAILED"], events
    for logical_id in ("OriginVerifySecret", "FrontendBucket", "FunctionRole"):
        assert events[logical_id][-1] == "DELETE_COMPLETE", (logical_id, events[logical_id])
    # The data stack's resources are untouched.
    assert secret_names(aws, "roea") == ["roea/staging/llm-api-key"]
    assert log_groups(aws, "roea") == {"/aws/lambda/roea-staging-api", "/aws/apigateway/roea-staging-api"}
    s3.head_bucket(Bucket=data_outputs["DataMemoryBucketName"])
    assert kms.describe_key(KeyId=data_outputs["DataKeyArn"])["KeyMetadata"]["KeyState"] == "Enabled"

    # twinctl's retry: the data stack has nothing to change; the dead app stack is deleted and created again
    # under the same names, with the same data.
    delete(cfn, app)
    app = deploy(cfn, "roea-staging", APP_TEMPLATE.read_text(),
                 app_parameters({**values, "CodeKey": CODE_KEY}, data_outputs))
    assert app["StackStatus"] == "CREATE_COMPLETE", (
        app.get("StackStatusReason"),
        [e.get("ResourceStatusReason") for e in cfn.describe_stack_events(StackName="roea-staging")["StackEvents"]
         if e["ResourceStatus"].endswith("_FAILED")],
    )
    assert sorted(secret_names(aws, "roea")) == ["roea/staging/llm-api-key", "roea/staging/origin-verify"]
    assert log_groups(aws, "roea") == {"/aws/lambda/roea-staging-api", "/aws/apigateway/roea-staging-api"}
    app_outputs = outputs(app)
    assert app_outputs["MemoryBucketName"] == data_outputs["DataMemoryBucketName"]
    assert app_outputs["SecretArn"] == data_outputs["DataSecretArn"]
    assert app_outputs["KeyArn"] == data_outputs["DataKeyArn"]
