"""Pull request previews' access stack (templates/environment-access.yaml for pr-*) under IAM enforcement.

One enforcing emulator subprocess for the module. As an administrator, like test_environment_access.py: GitHub's
OIDC provider, then two access stacks from the unchanged template, as `twinctl bootstrap` deploys them: twin-ci-pr
for every preview (EnvironmentName pr, Environments pr-*, TwinStackName twin-pr-*) and twin-ci-staging for one
environment (Environments = EnvironmentName = staging). Each deploy role is then assumed as GitHub Actions does,
with a token of the emulator's test issuer (AssumeRoleWithWebIdentity, unsigned), and its session calls what
`twinctl destroy pr-7 --delete-data --yes` calls (twinctl/src/destroy.rs) on a preview's resources and on
staging's: the gate (twin_emulator/iam_gate.py) decides each request from the role's policies.

Run: cd emulator && ../.twin/emulator/venv/bin/python -m pytest -q tests/test_preview_access.py
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator_process import admin_clients, admin_keys, refusal, running_emulator, signed_client, unique
from test_templates import TEMPLATES, as_parameters, failure_events, outputs, settle
from twin_emulator import oidc_issuer

REGION = "us-east-1"
ACCOUNT = "123456789012"
REPOSITORY = "o/r"
TEMPLATE = (TEMPLATES / "environment-access.yaml").read_text()
ARTIFACTS = "twin-artifacts-previews"
PREVIEWS = {"EnvironmentName": "pr", "Environments": "pr-*", "TwinStackName": "twin-pr-*"}
STAGING = {"EnvironmentName": "staging", "Environments": "staging", "TwinStackName": "twin-staging"}
Clients = Callable[[str], Any]


# --- the emulator, the provider and the two access stacks ----------------------------------------------


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("preview-access")
    with running_emulator(directory, enforce_iam=True) as url:
        yield url, directory


@pytest.fixture(scope="module")
def admin(state: tuple[str, Path]) -> Clients:
    return admin_clients(*state)


@pytest.fixture(scope="module")
def provider(admin: Clients) -> str:
    """GitHub's OIDC provider, as the bootstrap stack creates it."""
    return str(admin("iam").create_open_id_connect_provider(
        Url=oidc_issuer.ISSUER,
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"],
    )["OpenIDConnectProviderArn"])


def access_values(names: dict[str, str], provider: str) -> dict[str, str]:
    return {"ProjectName": "twin", **names, "ArtifactsBucketName": ARTIFACTS, "BootstrapStackName": "twin-bootstrap",
            "GitHubRepository": REPOSITORY, "OidcProviderArn": provider}


def create_access(admin: Clients, stack_name: str, values: dict[str, str]) -> dict[str, Any]:
    cfn = admin("cloudformation")
    cfn.create_stack(StackName=stack_name, TemplateBody=TEMPLATE, Parameters=as_parameters(values),
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])
    stack = settle(cfn, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", (stack.get("StackStatusReason"), failure_events(cfn, stack_name))
    return stack


@pytest.fixture(scope="module")
def access(admin: Clients, provider: str) -> dict[str, dict[str, str]]:
    """The outputs of twin-ci-pr and twin-ci-staging, by environment."""
    return {
        "pr": outputs(create_access(admin, "twin-ci-pr", access_values(PREVIEWS, provider))),
        "staging": outputs(create_access(admin, "twin-ci-staging", access_values(STAGING, provider))),
    }


# --- GitHub Actions jobs -----------------------------------------------------------------------------


def assume(state: tuple[str, Path], role_arn: str, subject: str) -> dict[str, str]:
    """AssumeRoleWithWebIdentity with a token of the job whose OIDC subject is `subject`."""
    url, directory = state
    token = oidc_issuer.token(oidc_issuer.ensure_key_pair(directory), subject)
    sts = boto3.client("sts", endpoint_url=url, region_name=REGION, config=Config(signature_version=UNSIGNED))
    answer = sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="github-actions", WebIdentityToken=token)
    return dict(answer["Credentials"])


def session(state: tuple[str, Path], role_arn: str, subject: str) -> Clients:
    credentials = assume(state, role_arn, subject)
    return lambda service: signed_client(state[0], service, credentials["AccessKeyId"],
                                         credentials["SecretAccessKey"], credentials["SessionToken"], REGION)


@pytest.fixture(scope="module")
def preview(state: tuple[str, Path], access: dict[str, dict[str, str]]) -> Clients:
    """The job of pull request 7's preview (GitHub environment pr-7), as the previews' deploy role."""
    return session(state, access["pr"]["DeployRoleArn"], f"repo:{REPOSITORY}:environment:pr-7")


@pytest.fixture(scope="module")
def staging(state: tuple[str, Path], access: dict[str, dict[str, str]]) -> Clients:
    return session(state, access["staging"]["DeployRoleArn"], f"repo:{REPOSITORY}:environment:staging")


def denied(request: Callable[[], Any], action: str, resource: str | None = None) -> None:
    """`request` is refused for `action` (on `resource`), as the service answers a refusal."""
    error = refusal(request)
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403), error.response
    assert error.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException"), error.response
    message = error.response["Error"]["Message"]
    assert f"is not authorized to perform: {action}" in message, message
    if resource is not None:
        assert f"on resource: {resource}" in message, message


# --- (a) who may assume the previews' role -------------------------------------------------------------


def test_the_access_stacks_name_their_roles_by_environment_name(admin: Clients, access: dict[str, dict[str, str]]) -> None:
    assert access["pr"]["DeployRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/twin-ci-pr-deploy-{REGION}"
    assert access["pr"]["ExecutionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/twin-ci-pr-cfn-{REGION}"
    assert access["pr"]["FunctionBoundaryArn"] == f"arn:aws:iam::{ACCOUNT}:policy/twin-ci-pr-boundary-{REGION}"
    assert access["staging"]["DeployRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/twin-ci-staging-deploy-{REGION}"
    trust = admin("iam").get_role(RoleName=f"twin-ci-pr-deploy-{REGION}")["Role"]["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Condition"] == {
        "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
        "StringLike": {"token.actions.githubusercontent.com:sub": f"repo:{REPOSITORY}:environment:pr-*"},
    }


def test_only_pull_request_environments_assume_the_previews_role(
        state: tuple[str, Path], access: dict[str, dict[str, str]]) -> None:
    role = access["pr"]["DeployRoleArn"]
    for number in ("7", "12345678"):
        assume(state, role, f"repo:{REPOSITORY}:environment:pr-{number}")
    for subject in (f"repo:{REPOSITORY}:environment:staging", f"repo:{REPOSITORY}:pull_request",
                    "repo:someone/else:environment:pr-7"):
        error = refusal(lambda: assume(state, role, subject))
        assert error.response["Error"]["Code"] == "AccessDenied", subject
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # ... nor does a preview's job assume staging's role.
    error = refusal(lambda: assume(state, access["staging"]["DeployRoleArn"], f"repo:{REPOSITORY}:environment:pr-7"))
    assert error.response["Error"]["Code"] == "AccessDenied"


# --- (b) what the previews' role may destroy -----------------------------------------------------------


def test_the_previews_role_deletes_preview_secrets_only(admin: Clients, preview: Clients) -> None:
    name = unique("llm-api-key")
    secrets = {environment: admin("secretsmanager").create_secret(Name=f"twin/{environment}/{name}",
                                                                   SecretString="s")["ARN"]
               for environment in ("pr-7", "staging")}
    preview("secretsmanager").delete_secret(SecretId=f"twin/pr-7/{name}", ForceDeleteWithoutRecovery=True)
    denied(lambda: preview("secretsmanager").delete_secret(SecretId=f"twin/staging/{name}", ForceDeleteWithoutRecovery=True),
           "secretsmanager:DeleteSecret", secrets["staging"])
    assert admin("secretsmanager").describe_secret(SecretId=secrets["staging"])["ARN"] == secrets["staging"]
    with pytest.raises(ClientError):
        admin("secretsmanager").describe_secret(SecretId=secrets["pr-7"])


def test_the_previews_role_sets_preview_model_keys_only(admin: Clients, preview: Clients) -> None:
    """`twinctl secrets set pr-<n>` in the preview workflow: PutSecretValue on a preview's model key, and
    Secrets Manager's kms:GenerateDataKey on the preview's own key only."""
    kms, secrets = admin("kms"), admin("secretsmanager")
    number = int(unique("n").encode().hex()[-6:], 16) % 9_000_000 + 1_000_000

    def key(alias: str) -> str:
        arn = str(kms.create_key()["KeyMetadata"]["Arn"])
        kms.create_alias(AliasName=alias, TargetKeyId=arn)
        return arn

    preview_key = key(f"alias/twin-pr-{number}")
    staging_key = key(f"alias/twin-staging-{unique('k')}")
    mine = secrets.create_secret(Name=f"twin/pr-{number}/llm-api-key", KmsKeyId=preview_key)["ARN"]
    preview("secretsmanager").put_secret_value(SecretId=mine, SecretString="sk-preview")
    assert secrets.get_secret_value(SecretId=mine)["SecretString"] == "sk-preview"

    staging_secret = secrets.create_secret(Name=f"twin/staging/{unique('llm-api-key')}", KmsKeyId=staging_key)["ARN"]
    denied(lambda: preview("secretsmanager").put_secret_value(SecretId=staging_secret, SecretString="x"),
           "secretsmanager:PutSecretValue", staging_secret)
    # A preview's secret name under another environment's key: the value could not be encrypted.
    borrowed = secrets.create_secret(Name=f"twin/pr-{number + 1}/llm-api-key", KmsKeyId=staging_key)["ARN"]
    denied(lambda: preview("secretsmanager").put_secret_value(SecretId=borrowed, SecretString="x"),
           "kms:GenerateDataKey", staging_key)


def test_the_staging_role_may_not_set_its_model_key(admin: Clients, staging: Clients) -> None:
    """A person sets staging's key (`twinctl secrets set staging` as an administrator), never CI."""
    arn = admin("secretsmanager").create_secret(Name=f"twin/staging/llm-api-key-{unique('s')}")["ARN"]
    denied(lambda: staging("secretsmanager").put_secret_value(SecretId=arn, SecretString="x"),
           "secretsmanager:PutSecretValue", arn)


def test_the_previews_role_deletes_preview_log_groups_only(admin: Clients, preview: Clients) -> None:
    suffix = unique("api")
    groups = [f"/aws/lambda/twin-{e}-{suffix}" for e in ("pr-7", "staging")] + [f"/aws/apigateway/twin-pr-7-{suffix}"]
    for group in groups:
        admin("logs").create_log_group(logGroupName=group)
    preview("logs").delete_log_group(logGroupName=f"/aws/lambda/twin-pr-7-{suffix}")
    preview("logs").delete_log_group(logGroupName=f"/aws/apigateway/twin-pr-7-{suffix}")
    staging_group = f"/aws/lambda/twin-staging-{suffix}"
    denied(lambda: preview("logs").delete_log_group(logGroupName=staging_group), "logs:DeleteLogGroup",
           f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{staging_group}")
    left = admin("logs").describe_log_groups(logGroupNamePrefix="/aws/")["logGroups"]
    assert [g["logGroupName"] for g in left if suffix in g["logGroupName"]] == [staging_group]


def test_the_previews_role_empties_and_deletes_preview_memory_buckets_only(admin: Clients, preview: Clients) -> None:
    """What `destroy --delete-data` does to the memory bucket: every version listed and deleted
    (ListObjectVersions, DeleteObjects), then the bucket (DeleteBucket); HeadBucket after it is gone."""
    suffix = unique("x")
    buckets = {e: f"twin-{e}-data-memorybucket-{suffix}" for e in ("pr-7", "staging")}
    for bucket in buckets.values():
        admin("s3").create_bucket(Bucket=bucket)
        admin("s3").put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        for body in (b"one", b"two"):
            admin("s3").put_object(Bucket=bucket, Key="sessions/s-1.json", Body=body)
        admin("s3").delete_object(Bucket=bucket, Key="sessions/s-1.json")  # a delete marker too

    s3 = preview("s3")
    mine = buckets["pr-7"]
    listed = s3.list_object_versions(Bucket=mine)
    doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
              for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]
    assert len(doomed) == 3
    assert not s3.delete_objects(Bucket=mine, Delete={"Objects": doomed, "Quiet": True}).get("Errors")
    s3.delete_bucket(Bucket=mine)
    with pytest.raises(ClientError) as gone:
        s3.head_bucket(Bucket=mine)  # s3:ListBucket: allowed, and the bucket is gone
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    theirs = buckets["staging"]
    arn = f"arn:aws:s3:::{theirs}"
    denied(lambda: s3.delete_bucket(Bucket=theirs), "s3:DeleteBucket", arn)
    denied(lambda: s3.list_object_versions(Bucket=theirs), "s3:ListBucketVersions", arn)
    version = admin("s3").list_object_versions(Bucket=theirs)["Versions"][0]
    entry = {"Key": version["Key"], "VersionId": version["VersionId"]}
    denied(lambda: s3.delete_objects(Bucket=theirs, Delete={"Objects": [entry]}), "s3:DeleteObjectVersion",
           f"{arn}/{entry['Key']}")
    assert len(admin("s3").list_object_versions(Bucket=theirs)["Versions"]) == 2


def test_the_previews_role_schedules_the_deletion_of_preview_keys_only(admin: Clients, preview: Clients) -> None:
    """Key ARNs do not name the environment: the grant's condition reads the key's aliases (kms:ResourceAliases)."""
    kms = admin("kms")

    def key(*aliases: str) -> str:
        arn = str(kms.create_key()["KeyMetadata"]["Arn"])
        for alias in aliases:
            kms.create_alias(AliasName=alias, TargetKeyId=arn)
        return arn

    suffix = unique("k")
    mine = key("alias/twin-pr-7")
    staging_key = key("alias/twin-staging")
    both = key(f"alias/twin-pr-8-{suffix}", f"alias/twin-staging-{suffix}")
    bare = key()

    preview("kms").schedule_key_deletion(KeyId=mine, PendingWindowInDays=7)
    assert kms.describe_key(KeyId=mine)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    for arn in (staging_key, both, bare):
        denied(lambda: preview("kms").schedule_key_deletion(KeyId=arn, PendingWindowInDays=7),
               "kms:ScheduleKeyDeletion", arn)
        assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Enabled"


LOG_GROUP_TEMPLATE = """
Parameters:
  GroupName:
    Type: String
Resources:
  FunctionLogGroup:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Ref GroupName
      RetentionInDays: 7
"""


def create_twin_stack(admin: Clients, stack_name: str, role_arn: str) -> dict[str, Any]:
    """A stand-in for an environment's stack, created with its execution role as twinctl's change sets are
    (its log group is named as the function's: /aws/lambda/{stack}-...)."""
    cfn = admin("cloudformation")
    cfn.create_stack(StackName=stack_name, TemplateBody=LOG_GROUP_TEMPLATE, RoleARN=role_arn,
                     Parameters=as_parameters({"GroupName": f"/aws/lambda/{stack_name}-{unique('api')}"}))
    stack = settle(cfn, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", failure_events(cfn, stack_name)
    assert stack["RoleARN"] == role_arn
    return stack


@pytest.fixture(scope="module")
def staging_stack(admin: Clients, access: dict[str, dict[str, str]]) -> str:
    """twin-staging, staging's app stack: its id."""
    return str(create_twin_stack(admin, "twin-staging", access["staging"]["ExecutionRoleArn"])["StackId"])


def test_the_previews_role_deletes_preview_stacks_only(admin: Clients, preview: Clients,
                                                       access: dict[str, dict[str, str]], staging_stack: str) -> None:
    """The previews' role deletes twin-pr-7 and its data stack (CloudFormation then acts as the stack's role:
    no RoleARN, so no iam:PassRole) and may not delete twin-staging, nor the access stacks."""
    cfn = admin("cloudformation")
    for stack_name in ("twin-pr-7", "twin-pr-7-data"):
        stack = create_twin_stack(admin, stack_name, access["pr"]["ExecutionRoleArn"])
        preview("cloudformation").delete_stack(StackName=stack_name)
        assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE", (
            failure_events(cfn, stack["StackId"]))
        assert not admin("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{stack_name}-")["logGroups"]

    denied(lambda: preview("cloudformation").delete_stack(StackName="twin-staging"), "cloudformation:DeleteStack",
           staging_stack)
    for stack_name in ("twin-ci-pr", "twin-ci-staging"):
        denied(lambda: preview("cloudformation").delete_stack(StackName=stack_name), "cloudformation:DeleteStack")
    assert settle(cfn, "twin-staging")["StackStatus"] == "CREATE_COMPLETE"


def test_the_previews_role_cannot_touch_the_ci_roles(preview: Clients) -> None:
    """never-escalate's DenyChangingCiRoles (role/twin-ci-*-deploy-*) covers twin-ci-pr-deploy-<region> too."""
    document = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    for role in (f"twin-ci-pr-deploy-{REGION}", f"twin-ci-staging-deploy-{REGION}"):
        error = refusal(lambda: preview("iam").put_role_policy(RoleName=role, PolicyName="more", PolicyDocument=document))
        assert error.response["Error"]["Message"].endswith(
            f"is not authorized to perform: iam:PutRolePolicy on resource: arn:aws:iam::{ACCOUNT}:role/{role}"
            " with an explicit deny in an identity-based policy"), error.response


# --- (c) the staging role still destroys nothing ---------------------------------------------------------


def test_the_staging_role_still_may_not_destroy_staging(admin: Clients, staging: Clients, staging_stack: str) -> None:
    suffix = unique("x")
    secret = admin("secretsmanager").create_secret(Name=f"twin/staging/{suffix}", SecretString="s")["ARN"]
    bucket = f"twin-staging-data-memorybucket-{suffix}"
    admin("s3").create_bucket(Bucket=bucket)
    admin("s3").put_object(Bucket=bucket, Key="sessions/s-1.json", Body=b"{}")
    admin("logs").create_log_group(logGroupName=f"/aws/lambda/twin-staging-{suffix}")

    denied(lambda: staging("secretsmanager").delete_secret(SecretId=secret, ForceDeleteWithoutRecovery=True),
           "secretsmanager:DeleteSecret", secret)
    denied(lambda: staging("s3").delete_bucket(Bucket=bucket), "s3:DeleteBucket", f"arn:aws:s3:::{bucket}")
    denied(lambda: staging("s3").delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "sessions/s-1.json"}]}),
           "s3:DeleteObject", f"arn:aws:s3:::{bucket}/sessions/s-1.json")
    denied(lambda: staging("cloudformation").delete_stack(StackName="twin-staging"), "cloudformation:DeleteStack",
           staging_stack)
    denied(lambda: staging("logs").delete_log_group(logGroupName=f"/aws/lambda/twin-staging-{suffix}"),
           "logs:DeleteLogGroup")
    assert admin("s3").list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def test_the_staging_role_keeps_its_deny_and_has_no_preview_statement(admin: Clients) -> None:
    iam = admin("iam")

    def statements(role: str, policy: str) -> dict[str, dict[str, Any]]:
        document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        return {s["Sid"]: s for s in document["Statement"]}

    preview_only = {"DeleteThePreviewStacks", "EmptyThePreviewBuckets", "ListThePreviewMemory",
                    "DeleteThePreviewMemoryBuckets", "DeleteThePreviewSecrets", "DeleteThePreviewLogGroups",
                    "ScheduleThePreviewKeysDeletion"}
    staging_role, preview_role = f"twin-ci-staging-deploy-{REGION}", f"twin-ci-pr-deploy-{REGION}"
    assert not preview_only & set(statements(staging_role, "deploy-one-environment"))
    assert "DenyDeletingMemory" in statements(staging_role, "never-escalate")
    assert preview_only <= set(statements(preview_role, "deploy-one-environment"))
    assert "DenyDeletingMemory" not in statements(preview_role, "never-escalate")
    # Every grant of the previews' role names previews only: twin-pr-*, twin/pr-*, pr-* releases and locks.
    for sid, statement in statements(preview_role, "deploy-one-environment").items():
        text = json.dumps(statement)
        assert "staging" not in text and "twin-*" not in text and "twin/*" not in text, (sid, text)


# --- the template's guard rails for previews --------------------------------------------------------------


def test_a_preview_stack_must_be_the_pr_family(admin: Clients, provider: str) -> None:
    """The Rule: previews are pr and pr-*; one environment's stack has Environments = EnvironmentName."""
    cfn = admin("cloudformation")
    for names, message in (
        ({"EnvironmentName": "pr", "Environments": "staging", "TwinStackName": "twin-staging"},
         "A stack for previews reaches Environments pr-*"),
        ({"EnvironmentName": "qa", "Environments": "qa-*", "TwinStackName": "twin-qa-*"},
         "A stack for previews has EnvironmentName pr"),
        ({"EnvironmentName": "pr", "Environments": "p-*", "TwinStackName": "twin-pr-*"},
         "A stack for previews reaches Environments pr-*"),
    ):
        stack_name = unique("twin-ci-bad")
        with pytest.raises(ClientError) as refused:
            cfn.create_stack(StackName=stack_name, TemplateBody=TEMPLATE,
                             Parameters=as_parameters(access_values(names, provider)),
                             Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])
        assert refused.value.response["Error"]["Code"] == "ValidationError"
        assert message in refused.value.response["Error"]["Message"], (names, refused.value.response)
    # Patterns are for previews only: TwinStackName must be one stack or a *-terminated pattern.
    with pytest.raises(ClientError) as refused:
        cfn.create_stack(StackName=unique("twin-ci-bad"), TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_NAMED_IAM"],
                         Parameters=as_parameters(access_values({**PREVIEWS, "TwinStackName": "twin-*-x"}, provider)))
    assert "Parameter 'TwinStackName' must match pattern" in refused.value.response["Error"]["Message"]


def test_previews_whose_stack_pattern_disagrees_get_no_deploy_role(
        state: tuple[str, Path], admin: Clients, provider: str) -> None:
    """TwinStackName must be ${ProjectName}-${EnvironmentName}-* (no rule can say so, the PreviewNamesAgree
    condition does): otherwise the stack has no deploy role, the one whose previews' statements destroy."""
    stack_name = "twin-ci-pr-elsewhere"
    values = access_values({**PREVIEWS, "TwinStackName": "twin-staging-*"}, provider)
    # Another region keeps the role names apart from twin-ci-pr's (they carry the region).
    keys = admin_keys(state[1])
    cfn = signed_client(state[0], "cloudformation", keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"],
                        region="eu-west-1")
    cfn.create_stack(StackName=stack_name, TemplateBody=TEMPLATE, Parameters=as_parameters(values),
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])
    stack = settle(cfn, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", (stack.get("StackStatusReason"), failure_events(cfn, stack_name))
    assert set(outputs(stack)) == {"ExecutionRoleArn", "FunctionBoundaryArn"}
    with pytest.raises(ClientError) as gone:
        admin("iam").get_role(RoleName="twin-ci-pr-deploy-eu-west-1")
    assert gone.value.response["Error"]["Code"] == "NoSuchEntity"
    cfn.delete_stack(StackName=stack_name)
