"""What `twinctl verify` asks IAM for (twin_emulator/iam_requests.py): the bucket reads
(GetBucketVersioning, GetBucketEncryption, GetPublicAccessBlock, GetBucketPolicy), the role and
policy reads (ListRolePolicies, GetRolePolicy, ListAttachedRolePolicies, GetPolicy,
GetPolicyVersion), GetDashboard, DescribeSecret, GetDistributionConfig and
GetResponseHeadersPolicyConfig, each on its resource's ARN.

The mappings are checked on Call objects, without a server (an in-process moto where a name must
be resolved into an ARN); then one enforcing emulator subprocess, as in test_iam_requests.py, shows
a role session allowed only these actions on one of each resource reading it and refused another.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from emulator_process import admin_clients, allow, refusal, running_emulator, signed_client, unique
from twin_emulator.iam_requests import TABLE, Call, Check, Params, checks

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "twin-local-site"


def call(service: str, operation: str, **params: Any) -> Call:
    return Call(service, operation, Params(params), REGION, ACCOUNT)


# --- S3 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "action"),
    [
        ("GetBucketVersioning", "s3:GetBucketVersioning"),
        ("GetBucketEncryption", "s3:GetEncryptionConfiguration"),
        ("GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),
        ("GetBucketPolicy", "s3:GetBucketPolicy"),
    ],
)
def test_the_bucket_reads_act_on_the_bucket(operation: str, action: str) -> None:
    # The gate's params: the path label Bucket and the subresource's empty query parameter.
    subresource = {
        "GetBucketVersioning": "versioning",
        "GetBucketEncryption": "encryption",
        "GetPublicAccessBlock": "publicAccessBlock",
        "GetBucketPolicy": "policy",
    }[operation]
    assert checks(call("s3", operation, Bucket=BUCKET, **{subresource: ""})) == [Check(action, f"arn:aws:s3:::{BUCKET}")]


# --- IAM -------------------------------------------------------------------------------------------

ROLE_READS = ["ListRolePolicies", "GetRolePolicy", "ListAttachedRolePolicies"]


@mock_aws
def test_the_role_reads_act_on_the_role_with_its_path() -> None:
    iam = boto3.client("iam", region_name=REGION)
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    plain = iam.create_role(RoleName="twin-local-deploy", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    pathed = iam.create_role(RoleName="twin-local-api", Path="/twin/local/", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    assert pathed == f"arn:aws:iam::{ACCOUNT}:role/twin/local/twin-local-api"
    for operation in ROLE_READS:
        extra = {"PolicyName": "grants"} if operation == "GetRolePolicy" else {}
        assert checks(call("iam", operation, RoleName="twin-local-deploy", **extra)) == [Check(f"iam:{operation}", plain)]
        assert checks(call("iam", operation, RoleName="twin-local-api", **extra)) == [Check(f"iam:{operation}", pathed)]
        # A role that does not exist has no path to find.
        assert checks(call("iam", operation, RoleName="gone", **extra)) == [
            Check(f"iam:{operation}", f"arn:aws:iam::{ACCOUNT}:role/gone")
        ]


@mock_aws
def test_role_policy_writes_act_on_the_role_with_its_boundary() -> None:
    """PutRolePolicy, DeleteRolePolicy, UpdateAssumeRolePolicy: role*, with iam:PermissionsBoundary when the
    role carries one (what the CI roles' Deny statements are matched against)."""
    iam = boto3.client("iam", region_name=REGION)
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    boundary = iam.create_policy(PolicyName="b", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}))["Policy"]["Arn"]
    bounded = iam.create_role(RoleName="twin-pr-7-FunctionRole-X", AssumeRolePolicyDocument=trust,
                              PermissionsBoundary=boundary)["Role"]["Arn"]
    ci = iam.create_role(RoleName="twin-ci-pr-deploy-us-east-1", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    for operation in ("PutRolePolicy", "DeleteRolePolicy", "UpdateAssumeRolePolicy"):
        action = f"iam:{operation}"
        assert checks(call("iam", operation, RoleName="twin-pr-7-FunctionRole-X")) == [
            Check(action, bounded, {"iam:PermissionsBoundary": [boundary]})
        ]
        assert checks(call("iam", operation, RoleName="twin-ci-pr-deploy-us-east-1")) == [Check(action, ci)]
        assert checks(call("iam", operation, RoleName="gone")) == [Check(action, f"arn:aws:iam::{ACCOUNT}:role/gone")]


@pytest.mark.parametrize("operation", ["GetPolicy", "GetPolicyVersion"])
def test_the_policy_reads_act_on_the_policy_arn_given(operation: str) -> None:
    extra = {"VersionId": "v1"} if operation == "GetPolicyVersion" else {}
    for arn in (
        f"arn:aws:iam::{ACCOUNT}:policy/twin/local/twin-local-deploy",
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
    ):
        assert checks(call("iam", operation, PolicyArn=arn, **extra)) == [Check(f"iam:{operation}", arn)]


# --- CloudWatch, Secrets Manager, CloudFront -------------------------------------------------------


def test_get_dashboard_acts_on_the_dashboard_without_a_region() -> None:
    assert checks(call("cloudwatch", "GetDashboard", DashboardName="twin-local")) == [
        Check("cloudwatch:GetDashboard", f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/twin-local")
    ]


@mock_aws
def test_describe_secret_acts_on_the_secrets_full_arn_without_kms() -> None:
    kms = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="twin/local/origin", SecretString="s", KmsKeyId=kms
    )["ARN"]
    for secret_id in ("twin/local/origin", arn):
        assert checks(call("secretsmanager", "DescribeSecret", SecretId=secret_id)) == [
            Check("secretsmanager:DescribeSecret", arn, {"secretsmanager:SecretId": [secret_id]})
        ]
    gone = checks(call("secretsmanager", "DescribeSecret", SecretId="twin/local/gone"))
    assert gone[0].resource == f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:twin/local/gone"


def test_the_cloudfront_config_reads_act_on_the_distribution_and_the_policy() -> None:
    assert checks(call("cloudfront", "GetDistributionConfig", Id="E2TWINLOCAL")) == [
        Check("cloudfront:GetDistributionConfig", f"arn:aws:cloudfront::{ACCOUNT}:distribution/E2TWINLOCAL")
    ]
    policy = "57f99797-3b20-4e1b-a728-27972a74082a"
    assert checks(call("cloudfront", "GetResponseHeadersPolicyConfig", Id=policy)) == [
        Check(
            "cloudfront:GetResponseHeadersPolicyConfig",
            f"arn:aws:cloudfront::{ACCOUNT}:response-headers-policy/{policy}",
        )
    ]


def test_the_other_calls_of_verify_are_mapped() -> None:
    for operation in [
        ("lambda", "GetFunctionConfiguration"),
        ("cloudwatch", "DescribeAlarms"),
        ("logs", "FilterLogEvents"),
    ]:
        assert operation in TABLE
    qualified = call("lambda", "GetFunctionConfiguration", FunctionName="twin-local-api", Qualifier="live")
    assert checks(qualified) == [
        Check("lambda:GetFunctionConfiguration", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:twin-local-api:live")
    ]


# --- through the gate ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("verify")
    with running_emulator(directory, enforce_iam=True) as url:
        yield url, directory


@pytest.fixture(scope="module")
def admin(state: tuple[str, Path]) -> Callable[[str], Any]:
    return admin_clients(*state)


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def create_distribution(admin: Callable[[str], Any], bucket: str) -> str:
    origin = {"Id": "site", "DomainName": f"{bucket}.s3.amazonaws.com", "S3OriginConfig": {"OriginAccessIdentity": ""}}
    config = {
        "CallerReference": unique("ref"),
        "Comment": "",
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "site",
            "ViewerProtocolPolicy": "redirect-to-https",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
        },
    }
    return str(admin("cloudfront").create_distribution(DistributionConfig=config)["Distribution"]["Id"])


class Resources:
    """One of each resource `twinctl verify` reads, created by the administrator."""

    def __init__(self, admin: Callable[[str], Any], name: str) -> None:
        self.bucket = name
        s3 = admin("s3")
        s3.create_bucket(Bucket=name)
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        )
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_policy(
            Bucket=name,
            Policy=document(
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": f"arn:aws:s3:::{name}/*",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ),
        )
        iam = admin("iam")
        self.role = name
        trust = document({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
        self.role_arn = iam.create_role(RoleName=name, Path=f"/twin/{name}/", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=document(allow("s3:GetObject", "*")))
        self.policy_arn = iam.create_policy(PolicyName=name, PolicyDocument=document(allow("s3:GetObject", "*")))["Policy"][
            "Arn"
        ]
        iam.attach_role_policy(RoleName=name, PolicyArn=self.policy_arn)
        self.dashboard = name
        admin("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=json.dumps({"widgets": []}))
        self.secret = f"{name}/origin"
        self.secret_arn = admin("secretsmanager").create_secret(Name=self.secret, SecretString="s")["ARN"]
        self.distribution = create_distribution(admin, name)


def verify(client: Callable[[str], Any], resources: Resources) -> None:
    """The reads of `twinctl verify` on these resources, as it makes them."""
    s3 = client("s3")
    assert s3.get_bucket_versioning(Bucket=resources.bucket)["Status"] == "Enabled"
    s3.get_bucket_encryption(Bucket=resources.bucket)
    s3.get_public_access_block(Bucket=resources.bucket)
    assert resources.bucket in s3.get_bucket_policy(Bucket=resources.bucket)["Policy"]
    iam = client("iam")
    assert iam.list_role_policies(RoleName=resources.role)["PolicyNames"] == ["inline"]
    iam.get_role_policy(RoleName=resources.role, PolicyName="inline")
    attached = iam.list_attached_role_policies(RoleName=resources.role)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [resources.policy_arn]
    version = iam.get_policy(PolicyArn=resources.policy_arn)["Policy"]["DefaultVersionId"]
    iam.get_policy_version(PolicyArn=resources.policy_arn, VersionId=version)
    client("cloudwatch").get_dashboard(DashboardName=resources.dashboard)
    assert client("secretsmanager").describe_secret(SecretId=resources.secret)["ARN"] == resources.secret_arn
    client("cloudfront").get_distribution_config(Id=resources.distribution)


def test_verify_reads_through_the_gate_only_what_it_is_allowed(admin: Callable[[str], Any], state: tuple[str, Path]) -> None:
    url = state[0]
    ours, theirs = Resources(admin, unique("twin")), Resources(admin, unique("other"))
    policy_id = "57f99797-3b20-4e1b-a728-27972a74082a"
    grants = document(
        allow(
            [
                "s3:GetBucketVersioning",
                "s3:GetEncryptionConfiguration",
                "s3:GetBucketPublicAccessBlock",
                "s3:GetBucketPolicy",
            ],
            f"arn:aws:s3:::{ours.bucket}",
        ),
        allow(["iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies"], ours.role_arn),
        allow(["iam:GetPolicy", "iam:GetPolicyVersion"], ours.policy_arn),
        allow("cloudwatch:GetDashboard", f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{ours.dashboard}"),
        allow("secretsmanager:DescribeSecret", f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{ours.secret}-??????"),
        allow("cloudfront:GetDistributionConfig", f"arn:aws:cloudfront::{ACCOUNT}:distribution/{ours.distribution}"),
        allow(
            "cloudfront:GetResponseHeadersPolicyConfig",
            f"arn:aws:cloudfront::{ACCOUNT}:response-headers-policy/{policy_id}",
        ),
    )
    iam = admin("iam")
    trust = document({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"})
    role = iam.create_role(RoleName=unique("deploy"), AssumeRolePolicyDocument=trust)["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="verify", PolicyDocument=grants)
    credentials = admin("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="verify")["Credentials"]

    def session(service: str) -> Any:
        return signed_client(url, service, credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])

    verify(session, ours)
    # Allowed by IAM; the emulator then answers for the policy that does not exist.
    error = refusal(lambda: session("cloudfront").get_response_headers_policy_config(Id=policy_id))
    assert error.response["Error"]["Code"] == "NoSuchResponseHeadersPolicy"

    other_policy = "0b0b0b0b-1111-2222-3333-444444444444"
    expected = [
        (lambda: session("s3").get_bucket_versioning(Bucket=theirs.bucket), f"s3:GetBucketVersioning on resource: arn:aws:s3:::{theirs.bucket}"),
        (
            lambda: session("s3").get_bucket_encryption(Bucket=theirs.bucket),
            f"s3:GetEncryptionConfiguration on resource: arn:aws:s3:::{theirs.bucket}",
        ),
        (
            lambda: session("s3").get_public_access_block(Bucket=theirs.bucket),
            f"s3:GetBucketPublicAccessBlock on resource: arn:aws:s3:::{theirs.bucket}",
        ),
        (lambda: session("s3").get_bucket_policy(Bucket=theirs.bucket), f"s3:GetBucketPolicy on resource: arn:aws:s3:::{theirs.bucket}"),
        (lambda: session("iam").list_role_policies(RoleName=theirs.role), f"iam:ListRolePolicies on resource: {theirs.role_arn}"),
        (
            lambda: session("iam").get_role_policy(RoleName=theirs.role, PolicyName="inline"),
            f"iam:GetRolePolicy on resource: {theirs.role_arn}",
        ),
        (
            lambda: session("iam").list_attached_role_policies(RoleName=theirs.role),
            f"iam:ListAttachedRolePolicies on resource: {theirs.role_arn}",
        ),
        (lambda: session("iam").get_policy(PolicyArn=theirs.policy_arn), f"iam:GetPolicy on resource: {theirs.policy_arn}"),
        (
            lambda: session("iam").get_policy_version(PolicyArn=theirs.policy_arn, VersionId="v1"),
            f"iam:GetPolicyVersion on resource: {theirs.policy_arn}",
        ),
        (
            lambda: session("cloudwatch").get_dashboard(DashboardName=theirs.dashboard),
            f"cloudwatch:GetDashboard on resource: arn:aws:cloudwatch::{ACCOUNT}:dashboard/{theirs.dashboard}",
        ),
        (
            lambda: session("secretsmanager").describe_secret(SecretId=theirs.secret),
            f"secretsmanager:DescribeSecret on resource: {theirs.secret_arn}",
        ),
        (
            lambda: session("cloudfront").get_distribution_config(Id=theirs.distribution),
            f"cloudfront:GetDistributionConfig on resource: arn:aws:cloudfront::{ACCOUNT}:distribution/{theirs.distribution}",
        ),
        (
            lambda: session("cloudfront").get_response_headers_policy_config(Id=other_policy),
            f"cloudfront:GetResponseHeadersPolicyConfig on resource: arn:aws:cloudfront::{ACCOUNT}:response-headers-policy/{other_policy}",
        ),
    ]
    for request, message in expected:
        error = refusal(request)
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403, message
        assert error.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException"), message
        assert message in error.response["Error"]["Message"]
    # None of them was evaluated on "*" (the administrator's setup calls may have been).
    prefix = "iam: no resource mapping for "
    unmapped = {line[len(prefix) :] for line in (state[1] / "emulator.log").read_text().splitlines() if line.startswith(prefix)}
    verify_operations = {
        "s3:GetBucketVersioning",
        "s3:GetBucketEncryption",
        "s3:GetPublicAccessBlock",
        "s3:GetBucketPolicy",
        "iam:ListRolePolicies",
        "iam:GetRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        "cloudwatch:GetDashboard",
        "secretsmanager:DescribeSecret",
        "cloudfront:GetDistributionConfig",
        "cloudfront:GetResponseHeadersPolicyConfig",
    }
    assert not unmapped & verify_operations
