"""Deploys templates/environment-access.yaml, unchanged, to the extended emulator: one stack per environment
({ProjectName}-ci-{EnvironmentName}) holding its permissions boundary, CloudFormation's execution role and,
with a GitHub repository, the deploy role GitHub Actions assumes for that environment only.

The emulator and the helpers are test_templates.py's (its fixtures, imported here, start an emulator
subprocess of this module's own). Every check reads back through the service APIs with boto3 (IAM GetRole,
GetRolePolicy, GetPolicyVersion), as AWS would show the stacks.

Run: cd emulator && ../.twin/emulator/venv/bin/python -m pytest -q tests/test_environment_access.py
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from test_templates import (  # noqa: F401 - aws and endpoint are fixtures
    REGION,
    TEMPLATES,
    as_parameters,
    aws,
    change_set,
    deploy,
    endpoint,
    failure_events,
    outputs,
    physical_ids,
    settle,
)

TEMPLATE = (TEMPLATES / "environment-access.yaml").read_text()
ACCOUNT = "123456789012"
REPOSITORY = "octo/twin"
ENVIRONMENTS = ("staging", "production")


# --- helpers ---------------------------------------------------------------------------------------


def document(value: Any) -> dict[str, Any]:
    """A policy document as IAM returns it (boto3 decodes most, but not every, response into a dict)."""
    return json.loads(value) if isinstance(value, str) else value


def trust_policy(iam: Any, role_name: str) -> dict[str, Any]:
    return document(iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"])


def inline_policies(iam: Any, role_name: str) -> dict[str, dict[str, Any]]:
    names = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    return {name: document(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])
            for name in names}


def statement(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    (found,) = [s for s in policy["Statement"] if s.get("Sid") == sid]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def managed_policy_document(iam: Any, arn: str) -> dict[str, Any]:
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    return document(version["Document"])


def access_parameters(environment: str, repository: str | None, provider_arn: str | None,
                      bucket: str) -> dict[str, str]:
    values = {
        "ProjectName": "twin",
        "EnvironmentName": environment,
        "Environments": environment,
        "TwinStackName": f"twin-{environment}",
        "ArtifactsBucketName": bucket,
        "BootstrapStackName": "twin-bootstrap",
    }
    if repository is not None:
        values["GitHubRepository"] = repository
    if provider_arn is not None:
        values["OidcProviderArn"] = provider_arn
    return values


def deploy_access(cfn: Any, environment: str, repository: str | None, provider_arn: str | None,
                  bucket: str) -> dict[str, Any]:
    stack_name = f"twin-ci-{environment}"
    stack = deploy(cfn, stack_name, "access-1", TEMPLATE,
                   as_parameters(access_parameters(environment, repository, provider_arn, bucket)))
    assert stack["StackStatus"] == "CREATE_COMPLETE", (stack.get("StackStatusReason"),
                                                       failure_events(cfn, stack_name))
    return stack


def role_names(cfn: Any, stack_name: str) -> dict[str, str]:
    resources = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources
            if r["ResourceType"] == "AWS::IAM::Role"}


# --- the bootstrap stack the environments refer to -------------------------------------------------


@pytest.fixture(scope="module")
def bootstrap(aws: Any) -> dict[str, str]:
    """The account's bootstrap stack, with GitHub's provider: its outputs feed every environment stack."""
    cfn = aws("cloudformation")
    stack = deploy(cfn, "twin-bootstrap", "bootstrap-1", (TEMPLATES / "bootstrap.yaml").read_text(),
                   as_parameters({"OidcProvider": "create"}))
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return outputs(stack)


# --- without a repository ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local(aws: Any, bootstrap: dict[str, str]) -> dict[str, str]:
    """An environment without GitHubRepository (nor OidcProviderArn)."""
    return outputs(deploy_access(aws("cloudformation"), "local", None, None, bootstrap["ArtifactsBucketName"]))


def test_environment_without_a_repository_has_no_deploy_role(
        aws: Any, bootstrap: dict[str, str], local: dict[str, str]) -> None:
    cfn, iam = aws("cloudformation"), aws("iam")
    values = local
    assert set(values) == {"ExecutionRoleArn", "FunctionBoundaryArn"}  # DeployRoleArn needs GitHubRepository
    ids = physical_ids(cfn, "twin-ci-local")
    assert set(ids) == {"FunctionBoundary", "ExecutionRole"}
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("twin-ci-local-deploy")]

    boundary_arn = values["FunctionBoundaryArn"]
    assert boundary_arn == ids["FunctionBoundary"]
    assert boundary_arn == f"arn:aws:iam::{ACCOUNT}:policy/twin-ci-local-boundary-{REGION}"
    boundary = managed_policy_document(iam, boundary_arn)
    assert {s["Sid"] for s in boundary["Statement"]} == {
        "FunctionLogs", "Memory", "MemoryListing", "Secret", "SecretDecryption", "Models",
    }
    # The memory bucket is the data stack's (twin-local-data): its generated name starts with that stack's.
    assert statement(boundary, "Memory")["Resource"] == "arn:aws:s3:::twin-local-data-memorybucket-*/*"
    assert statement(boundary, "MemoryListing")["Resource"] == "arn:aws:s3:::twin-local-data-memorybucket-*"

    execution_role = iam.get_role(RoleName=f"twin-ci-local-cfn-{REGION}")["Role"]
    assert execution_role["Arn"] == values["ExecutionRoleArn"]
    trust = document(execution_role["AssumeRolePolicyDocument"])
    assert trust["Statement"] == [{
        "Effect": "Allow",
        "Principal": {"Service": "cloudformation.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    }]
    policies = inline_policies(iam, execution_role["RoleName"])
    assert set(policies) == {"manage-twin-stack-resources", "never-touch-the-ci-roles"}
    # The roles CloudFormation may create for the twin stack must carry this stack's boundary.
    bounded = statement(policies["manage-twin-stack-resources"], "BoundedRoles")
    assert bounded["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": boundary_arn}}
    assert bounded["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/twin-local-*"
    function_code = statement(policies["manage-twin-stack-resources"], "ReadFunctionCode")
    assert function_code["Resource"] == f"arn:aws:s3:::{bootstrap['ArtifactsBucketName']}/functions/*"


def test_a_repository_needs_the_oidc_provider(aws: Any, bootstrap: dict[str, str]) -> None:
    """The template's Rules refuse GitHubRepository without OidcProviderArn before anything is created."""
    cfn = aws("cloudformation")
    with pytest.raises(ClientError) as refused:
        change_set(cfn, "twin-ci-orphan", "access-1", TEMPLATE,
                   as_parameters(access_parameters("orphan", REPOSITORY, None, bootstrap["ArtifactsBucketName"])),
                   "CREATE")
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert "A deploy role for GitHub needs the OIDC provider's ARN." in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        cfn.describe_stacks(StackName="twin-ci-orphan")


# --- staging and production, each with its deploy role -----------------------------------------------


@pytest.fixture(scope="module")
def environments(aws: Any, bootstrap: dict[str, str]) -> dict[str, dict[str, str]]:
    cfn = aws("cloudformation")
    return {
        environment: outputs(deploy_access(cfn, environment, REPOSITORY, bootstrap["OidcProviderArn"],
                                           bootstrap["ArtifactsBucketName"]))
        for environment in ENVIRONMENTS
    }


def test_each_environment_has_boundary_execution_and_deploy_roles(
        aws: Any, environments: dict[str, dict[str, str]]) -> None:
    cfn = aws("cloudformation")
    for environment, values in environments.items():
        assert set(values) == {"ExecutionRoleArn", "FunctionBoundaryArn", "DeployRoleArn"}
        assert all(values.values())
        ids = physical_ids(cfn, f"twin-ci-{environment}")
        assert set(ids) == {"FunctionBoundary", "ExecutionRole", "DeployRole"}
        assert values["DeployRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{ids['DeployRole']}"


def test_deploy_role_trusts_only_the_repositorys_environment(
        aws: Any, bootstrap: dict[str, str], environments: dict[str, dict[str, str]]) -> None:
    iam = aws("iam")
    trust = trust_policy(iam, f"twin-ci-staging-deploy-{REGION}")
    assert trust["Statement"] == [{
        "Effect": "Allow",
        "Principal": {"Federated": bootstrap["OidcProviderArn"]},
        "Action": "sts:AssumeRoleWithWebIdentity",
        # StringLike on the subject (previews' roles match pr-*); without a wildcard it is an exact match.
        "Condition": {
            "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
            "StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo/twin:environment:staging"},
        },
    }]
    production = trust_policy(iam, f"twin-ci-production-deploy-{REGION}")
    assert production["Statement"][0]["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"] == (
        "repo:octo/twin:environment:production"
    )
    assert iam.get_role(RoleName=f"twin-ci-staging-deploy-{REGION}")["Role"]["MaxSessionDuration"] == 3600


def test_deploy_role_passes_only_its_execution_role_to_cloudformation(
        aws: Any, environments: dict[str, dict[str, str]]) -> None:
    iam = aws("iam")
    for environment, values in environments.items():
        deploy_role = f"twin-ci-{environment}-deploy-{REGION}"
        policies = inline_policies(iam, deploy_role)
        assert set(policies) == {"deploy-one-environment", "never-escalate"}
        execution_role_arn = iam.get_role(RoleName=f"twin-ci-{environment}-cfn-{REGION}")["Role"]["Arn"]
        assert execution_role_arn == values["ExecutionRoleArn"]
        pass_role = statement(policies["deploy-one-environment"], "PassTheExecutionRoleToCloudFormation")
        assert pass_role == {
            "Sid": "PassTheExecutionRoleToCloudFormation",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": execution_role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
        }
        # No other statement allows iam:PassRole.
        passing = [s["Sid"] for s in policies["deploy-one-environment"]["Statement"]
                   if s["Effect"] == "Allow" and "iam:PassRole" in as_list(s["Action"])]
        assert passing == ["PassTheExecutionRoleToCloudFormation"]


def test_every_role_and_policy_name_carries_the_region(
        aws: Any, local: dict[str, str], environments: dict[str, dict[str, str]]) -> None:
    """IAM names are account-wide; the region in each lets every region of the account hold the environment."""
    cfn = aws("cloudformation")
    for environment in ("local", *ENVIRONMENTS):
        stack_name = f"twin-ci-{environment}"
        roles = role_names(cfn, stack_name)
        assert roles, stack_name
        for name in roles.values():
            assert name.startswith(f"twin-ci-{environment}-") and name.endswith(f"-{REGION}"), name
        boundary = physical_ids(cfn, stack_name)["FunctionBoundary"]
        assert boundary.endswith(f":policy/twin-ci-{environment}-boundary-{REGION}")


def test_the_same_environment_in_another_region_gets_its_own_roles(
        endpoint: str, aws: Any, bootstrap: dict[str, str], environments: dict[str, dict[str, str]]) -> None:
    region = "eu-west-1"
    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name=region,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    stack = deploy_access(cfn, "staging", REPOSITORY, bootstrap["OidcProviderArn"], "twin-artifacts-eu")
    assert sorted(role_names(cfn, "twin-ci-staging").values()) == [
        f"twin-ci-staging-cfn-{region}", f"twin-ci-staging-deploy-{region}",
    ]
    # The us-east-1 roles are untouched.
    assert outputs(settle(aws("cloudformation"), "twin-ci-staging")) == environments["staging"]
    cfn.delete_stack(StackName="twin-ci-staging")
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"


def test_environments_side_by_side_share_nothing(aws: Any, environments: dict[str, dict[str, str]]) -> None:
    cfn, iam = aws("cloudformation"), aws("iam")
    staging, production = environments["staging"], environments["production"]
    for key in ("ExecutionRoleArn", "FunctionBoundaryArn", "DeployRoleArn"):
        assert staging[key] != production[key], key
    assert not set(role_names(cfn, "twin-ci-staging").values()) & set(role_names(cfn, "twin-ci-production").values())

    # Nothing the staging roles allow or deny names production: not its roles, stack, bucket prefixes,
    # functions, lock or releases.
    for role_name in role_names(cfn, "twin-ci-staging").values():
        for policy_name, policy in inline_policies(iam, role_name).items():
            for found in policy["Statement"]:
                resources = json.dumps(as_list(found["Resource"]))
                assert "production" not in resources, (role_name, policy_name, found["Sid"])
                assert "production" not in json.dumps(found.get("Condition", {})), (role_name, found["Sid"])
    assert "production" not in json.dumps(managed_policy_document(iam, staging["FunctionBoundaryArn"]))

    # ... and the staging deploy role does name staging's own.
    deploy_policy = inline_policies(iam, f"twin-ci-staging-deploy-{REGION}")["deploy-one-environment"]
    # Both of the environment's twin stacks: the app stack and its data stack.
    assert statement(deploy_policy, "TheTwinStack")["Resource"] == [
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/twin-staging/*",
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/twin-staging-data/*",
    ]
    memory = "arn:aws:s3:::twin-staging-data-memorybucket-*"
    assert f"{memory}/persona/me.txt" in statement(deploy_policy, "SyncTheSite")["Resource"]
    assert statement(deploy_policy, "ListPersonaVersions")["Resource"] == memory
    never_escalate = inline_policies(iam, f"twin-ci-staging-deploy-{REGION}")["never-escalate"]
    assert statement(never_escalate, "DenyDeletingMemory")["Resource"] == [memory, f"{memory}/sessions/*"]
    releases = statement(deploy_policy, "ThisEnvironmentsLockAndReleases")["Resource"]
    assert all("/locks/staging.json" in r or "/releases/staging/" in r for r in releases)


# --- updates --------------------------------------------------------------------------------------


def test_update_with_previous_values_keeps_the_repository_and_its_deploy_role(
        aws: Any, bootstrap: dict[str, str]) -> None:
    """Only ArtifactsBucketName is given; UsePreviousValue keeps GitHubRepository (and the rest), so the
    deploy role stays, updated in place. Omitted instead, a parameter takes its default: no deploy role."""
    cfn, iam = aws("cloudformation"), aws("iam")
    stack_name = "twin-ci-review"
    created = outputs(deploy_access(cfn, "review", REPOSITORY, bootstrap["OidcProviderArn"], "old-artifacts"))
    deploy_role = f"twin-ci-review-deploy-{REGION}"

    parameters = [{"ParameterKey": key, "UsePreviousValue": True}
                  for key in ("ProjectName", "EnvironmentName", "Environments", "TwinStackName", "BootstrapStackName",
                              "GitHubRepository", "OidcProviderArn")]
    parameters.append({"ParameterKey": "ArtifactsBucketName", "ParameterValue": "new-artifacts"})
    planned = change_set(cfn, stack_name, "access-2", TEMPLATE, parameters, "UPDATE")
    assert planned["Status"] == "CREATE_COMPLETE", planned.get("StatusReason")
    changes = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in planned["Changes"]}
    assert {key: change["Action"] for key, change in changes.items()} == {
        "ExecutionRole": "Modify", "DeployRole": "Modify",
    }
    assert changes["DeployRole"]["Replacement"] == "False"
    cfn.execute_change_set(ChangeSetName=planned["ChangeSetId"])
    stack = settle(cfn, stack_name)

    assert stack["StackStatus"] == "UPDATE_COMPLETE", (stack.get("StackStatusReason"), failure_events(cfn, stack_name))
    parameters_now = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters_now["GitHubRepository"] == REPOSITORY
    assert parameters_now["OidcProviderArn"] == bootstrap["OidcProviderArn"]
    assert parameters_now["ArtifactsBucketName"] == "new-artifacts"
    assert outputs(stack) == created  # the same roles, same ARNs
    trust = trust_policy(iam, deploy_role)
    assert trust["Statement"][0]["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"] == (
        "repo:octo/twin:environment:review"
    )
    deploy_policy = inline_policies(iam, deploy_role)["deploy-one-environment"]
    assert statement(deploy_policy, "ListArtifacts")["Resource"] == "arn:aws:s3:::new-artifacts"

    # Omitting GitHubRepository and OidcProviderArn is not "keep": they take their defaults ("") and the
    # deploy role goes.
    parameters = [{"ParameterKey": key, "UsePreviousValue": True}
                  for key in ("ProjectName", "EnvironmentName", "Environments", "TwinStackName", "BootstrapStackName",
                              "ArtifactsBucketName")]
    stack = deploy(cfn, stack_name, "access-3", TEMPLATE, parameters, "UPDATE")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack.get("StackStatusReason")
    assert set(outputs(stack)) == {"ExecutionRoleArn", "FunctionBoundaryArn"}
    assert set(physical_ids(cfn, stack_name)) == {"FunctionBoundary", "ExecutionRole"}
    with pytest.raises(ClientError) as gone:
        iam.get_role(RoleName=deploy_role)
    assert gone.value.response["Error"]["Code"] == "NoSuchEntity"


def test_delete_removes_the_roles_and_the_boundary_so_the_stack_can_be_recreated(
        aws: Any, bootstrap: dict[str, str]) -> None:
    cfn, iam = aws("cloudformation"), aws("iam")
    first = deploy_access(cfn, "scratch", REPOSITORY, bootstrap["OidcProviderArn"], bootstrap["ArtifactsBucketName"])
    boundary_arn = outputs(first)["FunctionBoundaryArn"]

    cfn.delete_stack(StackName="twin-ci-scratch")
    assert cfn.describe_stacks(StackName=first["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    for role_name in (f"twin-ci-scratch-cfn-{REGION}", f"twin-ci-scratch-deploy-{REGION}"):
        with pytest.raises(ClientError):
            iam.get_role(RoleName=role_name)
    with pytest.raises(ClientError) as gone:
        iam.get_policy(PolicyArn=boundary_arn)
    assert gone.value.response["Error"]["Code"] == "NoSuchEntity"

    # The names are free again.
    again = deploy_access(cfn, "scratch", REPOSITORY, bootstrap["OidcProviderArn"], bootstrap["ArtifactsBucketName"])
    assert outputs(again)["FunctionBoundaryArn"] == boundary_arn
    cfn.delete_stack(StackName="twin-ci-scratch")


# --- AWS::IAM::ManagedPolicy in the emulator (twin_emulator/cfn_models_security.py) -------------------

MANAGED_POLICY_TEMPLATE = """
Parameters:
  Action:
    Type: String
  Description:
    Type: String
    Default: first
  AttachToRole:
    Type: String
    Default: "yes"
Conditions:
  Attach: !Equals [!Ref AttachToRole, "yes"]
Resources:
  Holder:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
  Named:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      ManagedPolicyName: !Sub "${AWS::StackName}-named"
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: !Ref Action
            Resource: "*"
      Roles: !If [Attach, [!Ref Holder], !Ref AWS::NoValue]
  Unnamed:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      Description: !Ref Description
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: s3:GetObject
            Resource: "*"
Outputs:
  Named:
    Value: !Ref Named
  NamedVersion:
    Value: !GetAtt Named.DefaultVersionId
  Unnamed:
    Value: !Ref Unnamed
  Holder:
    Value: !Ref Holder
"""


def attached(iam: Any, role_name: str) -> list[str]:
    return [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]]


def test_managed_policy_create_update_replace_and_delete(aws: Any) -> None:
    """AWS::IAM::ManagedPolicy: a document change is a new default version of the same policy, Roles are
    attachments changed in place, a Description change replaces the policy (createOnlyProperties), and
    deleting the stack detaches and deletes it."""
    cfn, iam = aws("cloudformation"), aws("iam")
    stack_name = "managed-policy"
    stack = deploy(cfn, stack_name, "deploy-1", MANAGED_POLICY_TEMPLATE, as_parameters({"Action": "s3:ListBucket"}))
    assert stack["StackStatus"] == "CREATE_COMPLETE", (stack.get("StackStatusReason"), failure_events(cfn, stack_name))
    values = outputs(stack)
    named, unnamed, holder = values["Named"], values["Unnamed"], values["Holder"]
    assert named == f"arn:aws:iam::{ACCOUNT}:policy/managed-policy-named"
    assert unnamed.startswith(f"arn:aws:iam::{ACCOUNT}:policy/managed-policy-Unnamed-")
    assert values["NamedVersion"] == "v1"
    assert statement_actions(iam, named) == ["s3:ListBucket"]
    assert attached(iam, holder) == [named]
    assert iam.get_policy(PolicyArn=unnamed)["Policy"]["Description"] == "first"

    stack = deploy(cfn, stack_name, "deploy-2", MANAGED_POLICY_TEMPLATE,
                   as_parameters({"Action": "s3:GetObject", "Description": "second", "AttachToRole": "no"}), "UPDATE")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", (stack.get("StackStatusReason"), failure_events(cfn, stack_name))
    values = outputs(stack)
    assert values["Named"] == named and values["NamedVersion"] == "v2"
    assert statement_actions(iam, named) == ["s3:GetObject"]
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=named)["Versions"]
            if v["IsDefaultVersion"]] == ["v2"]
    assert attached(iam, holder) == []
    assert values["Unnamed"] != unnamed  # replaced: a new policy with the new description, the old one gone
    assert iam.get_policy(PolicyArn=values["Unnamed"])["Policy"]["Description"] == "second"
    with pytest.raises(ClientError):
        iam.get_policy(PolicyArn=unnamed)

    # Past IAM's five versions, the oldest non-default one makes room.
    for number, action in enumerate(("s3:PutObject", "s3:DeleteObject", "s3:GetObjectVersion", "s3:ListBucket"), 3):
        stack = deploy(cfn, stack_name, f"deploy-{number}", MANAGED_POLICY_TEMPLATE,
                       as_parameters({"Action": action, "Description": "second", "AttachToRole": "yes"}), "UPDATE")
        assert stack["StackStatus"] == "UPDATE_COMPLETE", stack.get("StackStatusReason")
    versions = [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=named)["Versions"]]
    assert sorted(versions) == ["v2", "v3", "v4", "v5", "v6"]
    assert outputs(stack)["NamedVersion"] == "v6"
    assert attached(iam, holder) == [named]

    cfn.delete_stack(StackName=stack_name)
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    for arn in (named, outputs(stack)["Unnamed"]):
        with pytest.raises(ClientError):
            iam.get_policy(PolicyArn=arn)


def statement_actions(iam: Any, arn: str) -> list[str]:
    return [a for s in managed_policy_document(iam, arn)["Statement"] for a in as_list(s["Action"])]

