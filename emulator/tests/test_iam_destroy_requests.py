"""What `twinctl destroy` asks IAM for (twin_emulator/iam_requests.py): DeleteObjects per entry of
its XML body, DeleteBucket, DeleteSecret, the KMS key deletion calls and DeleteLogGroup.

The mappings are checked on Call objects, without a server (an in-process moto where a name must
be resolved into an ARN); then one enforcing emulator subprocess, as in test_iam_requests.py, shows
the gate reading a DeleteObjects body and refusing each operation with its action and resource.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto import mock_aws

from emulator_process import admin_clients, allow, refusal, running_emulator, signed_client, unique
from twin_emulator.iam_requests import Call, Check, Params, checks, delete_entries

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "twin-local-memory"
S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


def call(service: str, operation: str, **params: Any) -> Call:
    return Call(service, operation, Params(params), REGION, ACCOUNT)


def batch(*entries: tuple[str, str | None], namespace: bool = True, quiet: bool = True) -> bytes:
    """A DeleteObjects body as the SDKs write it."""
    objects = "".join(
        f"<Object><Key>{key}</Key>" + (f"<VersionId>{version}</VersionId>" if version else "") + "</Object>"
        for key, version in entries
    )
    xmlns = f' xmlns="{S3_NAMESPACE}"' if namespace else ""
    document = f"<Delete{xmlns}>{objects}<Quiet>{str(quiet).lower()}</Quiet></Delete>"
    return ('<?xml version="1.0" encoding="UTF-8"?>' + document).encode()


def delete_objects(body: bytes, **extra: Any) -> list[Check]:
    return checks(call("s3", "DeleteObjects", Bucket=BUCKET, delete="", Delete=body, **extra))


EVERYTHING = [
    Check("s3:DeleteObject", f"arn:aws:s3:::{BUCKET}/*"),
    Check("s3:DeleteObjectVersion", f"arn:aws:s3:::{BUCKET}/*"),
]


# --- DeleteObjects ---------------------------------------------------------------------------------


@pytest.mark.parametrize("namespace", [True, False])
def test_delete_objects_asks_for_each_entry_plain_or_versioned(namespace: bool) -> None:
    body = batch(("persona/me.txt", None), ("memory/log.json", "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"), namespace=namespace)
    assert delete_objects(body) == [
        Check("s3:DeleteObject", f"arn:aws:s3:::{BUCKET}/persona/me.txt"),
        Check(
            "s3:DeleteObjectVersion",
            f"arn:aws:s3:::{BUCKET}/memory/log.json",
            {"s3:VersionId": ["3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"]},
        ),
    ]


def test_delete_objects_reads_escaped_keys_and_the_null_version_and_ignores_other_members() -> None:
    body = (
        b'<Delete xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>false</Quiet>'
        b"<Object><Key>a &amp; b/&#233;<![CDATA[<c>]]></Key><ETag>\"x\"</ETag><VersionId>null</VersionId></Object>"
        b"<s3:Object><s3:Key>prefixed</s3:Key></s3:Object></Delete>"
    )
    assert delete_entries(body) == [("a & b/\u00e9<c>", "null"), ("prefixed", None)]


def test_an_aws_chunked_body_is_decoded_as_moto_decodes_it() -> None:
    body = batch(("k", None))
    chunked = b"%x;chunk-signature=0f\r\n" % len(body) + body + b"\r\n0;chunk-signature=1e\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    assert delete_objects(chunked, **{"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"}) == [
        Check("s3:DeleteObject", f"arn:aws:s3:::{BUCKET}/k")
    ]
    # Cut short: a chunk shorter than its size says.
    truncated = chunked[: len(body) // 2]
    assert delete_objects(truncated, **{"x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}) == EVERYTHING


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<Delete><Object><Key>k</Key></Object>",
        b"not xml",
        b'<!DOCTYPE Delete [<!ENTITY k "secret/k">]><Delete><Object><Key>&k;</Key></Object></Delete>',
        b'<!DOCTYPE Delete SYSTEM "http://127.0.0.1:1/delete.dtd"><Delete><Object><Key>k</Key></Object></Delete>',
        b"<Remove><Object><Key>k</Key></Object></Remove>",
        b"<Delete><Quiet>true</Quiet></Delete>",
        b"<Delete><Object><VersionId>v</VersionId></Object></Delete>",
        b"<Delete><Object><Key>k</Key><Key>other</Key></Object></Delete>",
        b"<Delete><Object><Key>k</Key><VersionId>v</VersionId><VersionId>w</VersionId></Object></Delete>",
        b"<Delete><Object><Key></Key></Object></Delete>",
        b"<Delete><Object><Key>k</Key><VersionId></VersionId></Object></Delete>",
        b"<Delete><Object><Key>k<Key>j</Key></Key></Object></Delete>",
        b"<Delete><Object><Key>k</Key></Object><Object><Key>j</Key><Key>i</Key></Object></Delete>",
    ],
)
def test_an_unreadable_batch_is_asked_as_deleting_every_object_version_in_the_bucket(body: bytes) -> None:
    assert delete_objects(body) == EVERYTHING


def test_a_batch_without_a_body_is_unreadable() -> None:
    assert checks(call("s3", "DeleteObjects", Bucket=BUCKET, delete="")) == EVERYTHING


# --- the other operations --------------------------------------------------------------------------


def test_delete_bucket_acts_on_the_bucket() -> None:
    assert checks(call("s3", "DeleteBucket", Bucket=BUCKET)) == [Check("s3:DeleteBucket", f"arn:aws:s3:::{BUCKET}")]


@mock_aws
def test_delete_secret_acts_on_the_secrets_full_arn() -> None:
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(Name="twin/local/origin", SecretString="s")["ARN"]
    for secret_id in ("twin/local/origin", arn):
        assert checks(call("secretsmanager", "DeleteSecret", SecretId=secret_id, ForceDeleteWithoutRecovery=True)) == [
            Check("secretsmanager:DeleteSecret", arn, {"secretsmanager:SecretId": [secret_id]})
        ]
    gone = checks(call("secretsmanager", "DeleteSecret", SecretId="twin/local/gone"))
    assert gone[0].resource == f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:twin/local/gone"


@mock_aws
def test_the_key_deletion_calls_act_on_the_key_however_it_is_named() -> None:
    kms = boto3.client("kms", region_name=REGION)
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/twin-local", TargetKeyId=key["KeyId"])
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/twin-local"
    for key_id in (key["KeyId"], key["Arn"], "alias/twin-local", alias_arn):
        for operation in ("ScheduleKeyDeletion", "CancelKeyDeletion", "DescribeKey"):
            (check,) = checks(call("kms", operation, KeyId=key_id))
            assert (check.action, check.resource) == (f"kms:{operation}", key["Arn"])
            assert check.context["kms:CallerAccount"] == [ACCOUNT]
            assert check.context["kms:ResourceAliases"] == ["alias/twin-local"]

    scheduled = checks(call("kms", "ScheduleKeyDeletion", KeyId=key["Arn"], PendingWindowInDays=7))
    assert scheduled == [
        Check(
            "kms:ScheduleKeyDeletion",
            key["Arn"],
            {
                "kms:CallerAccount": [ACCOUNT],
                "kms:ScheduleKeyDeletionPendingWindowInDays": ["7"],
                "kms:ResourceAliases": ["alias/twin-local"],
            },
        )
    ]
    assert checks(call("kms", "DescribeKey", KeyId="alias/twin-local"))[0].context["kms:RequestAlias"] == [
        "alias/twin-local"
    ]
    assert "kms:RequestAlias" not in checks(call("kms", "ScheduleKeyDeletion", KeyId="alias/twin-local"))[0].context


@mock_aws
def test_resource_aliases_are_every_alias_of_the_key_in_its_account_and_region() -> None:
    """kms:ResourceAliases: the key's alias names, however the request names the key; none for a key
    without aliases or one that does not exist (AWS KMS Developer Guide, "AWS KMS condition keys")."""
    kms = boto3.client("kms", region_name=REGION)
    key = kms.create_key()["KeyMetadata"]
    bare = kms.create_key()["KeyMetadata"]
    for alias in ("alias/twin-pr-7", "alias/a-second-name"):
        kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    # The same alias name in another Region names another key: it is not this key's.
    west = boto3.client("kms", region_name="eu-west-1")
    west_key = west.create_key()["KeyMetadata"]
    west.create_alias(AliasName="alias/twin-staging", TargetKeyId=west_key["KeyId"])

    for key_id in (key["KeyId"], key["Arn"], "alias/twin-pr-7", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/a-second-name"):
        (check,) = checks(call("kms", "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7))
        assert check.context["kms:ResourceAliases"] == ["alias/a-second-name", "alias/twin-pr-7"], key_id
    for key_id in (bare["KeyId"], "0b0b0b0b-1111-2222-3333-444444444444", "alias/none"):
        for operation in ("ScheduleKeyDeletion", "CancelKeyDeletion", "DescribeKey"):
            assert "kms:ResourceAliases" not in checks(call("kms", operation, KeyId=key_id))[0].context
    # A key of another Region, named by its ARN: its own Region's aliases.
    (check,) = checks(call("kms", "DescribeKey", KeyId=west_key["Arn"]))
    assert check.context["kms:ResourceAliases"] == ["alias/twin-staging"]
    # An alias moved to another key leaves the first one.
    kms.update_alias(AliasName="alias/twin-pr-7", TargetKeyId=bare["KeyId"])
    assert checks(call("kms", "DescribeKey", KeyId=key["Arn"]))[0].context["kms:ResourceAliases"] == [
        "alias/a-second-name"
    ]
    assert checks(call("kms", "DescribeKey", KeyId=bare["Arn"]))[0].context["kms:ResourceAliases"] == ["alias/twin-pr-7"]


@mock_aws
def test_a_secrets_decryption_carries_its_keys_aliases() -> None:
    kms = boto3.client("kms", region_name=REGION)
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/twin-pr-7", TargetKeyId=key["KeyId"])
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="twin/pr-7/origin-verify", SecretString="s", KmsKeyId=key["Arn"]
    )
    read, decrypt = checks(call("secretsmanager", "GetSecretValue", SecretId="twin/pr-7/origin-verify"))
    assert read.action == "secretsmanager:GetSecretValue" and "kms:ResourceAliases" not in read.context
    assert (decrypt.action, decrypt.resource) == ("kms:Decrypt", key["Arn"])
    assert decrypt.context["kms:ResourceAliases"] == ["alias/twin-pr-7"]


def test_resource_aliases_decide_a_set_condition_as_aws_documents() -> None:
    """ForAnyValue: at least one alias matches (none: not satisfied); ForAllValues: every alias matches
    (none: satisfied). Together: the key has aliases, and only matching ones."""
    from twin_emulator.iam_policy import Principal, Request, evaluate

    resource = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    statement = {
        "Effect": "Allow",
        "Action": "kms:ScheduleKeyDeletion",
        "Resource": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*",
        "Condition": {
            "ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/twin-pr-*"},
            "ForAllValues:StringLike": {"kms:ResourceAliases": "alias/twin-pr-*"},
        },
    }
    principal = Principal("arn:aws:iam::123456789012:user/u", ({"Version": "2012-10-17", "Statement": [statement]},), None)

    def allowed(*aliases: str) -> bool:
        context = {"kms:ResourceAliases": list(aliases)} if aliases else {}
        return evaluate(principal, Request("kms:ScheduleKeyDeletion", resource, context)).allowed

    assert allowed("alias/twin-pr-7")
    assert allowed("alias/twin-pr-7", "alias/twin-pr-8")
    assert not allowed("alias/twin-staging")
    assert not allowed("alias/twin-pr-7", "alias/twin-staging")  # ForAllValues: another environment's alias too
    assert not allowed()  # ForAnyValue: a key without aliases
    assert not allowed("alias/twin-production")


@mock_aws
def test_a_key_that_cannot_be_resolved_is_named_as_given() -> None:
    kms = boto3.client("kms", region_name=REGION)
    prefix = f"arn:aws:kms:{REGION}:{ACCOUNT}"
    missing = "0b0b0b0b-1111-2222-3333-444444444444"
    assert checks(call("kms", "ScheduleKeyDeletion", KeyId=missing))[0].resource == f"{prefix}:key/{missing}"
    other_account = f"arn:aws:kms:{REGION}:210987654321:key/{missing}"
    assert checks(call("kms", "ScheduleKeyDeletion", KeyId=other_account))[0].resource == other_account
    assert checks(call("kms", "DescribeKey", KeyId="alias/none"))[0].resource == f"{prefix}:alias/none"
    # An AWS managed alias is not created by asking for it.
    assert checks(call("kms", "DescribeKey", KeyId="alias/aws/s3"))[0].resource == f"{prefix}:alias/aws/s3"
    assert kms.list_keys()["Keys"] == []


def test_delete_log_group_acts_on_the_group() -> None:
    group = "/aws/lambda/twin-local-api"
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    assert checks(call("logs", "DeleteLogGroup", logGroupName=group)) == [Check("logs:DeleteLogGroup", arn)]


@mock_aws
def test_the_stack_calls_of_destroy_act_on_the_stack() -> None:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    template = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    stack_id = cloudformation.create_stack(StackName="twin-local", TemplateBody=template)["StackId"]
    protection = call("cloudformation", "UpdateTerminationProtection", StackName="twin-local", EnableTerminationProtection=False)
    assert checks(protection) == [Check("cloudformation:UpdateTerminationProtection", stack_id)]
    assert checks(call("cloudformation", "DeleteStack", StackName="twin-local")) == [
        Check("cloudformation:DeleteStack", stack_id)
    ]
    role = f"arn:aws:iam::{ACCOUNT}:role/twin-local-execution"
    assert checks(call("cloudformation", "DeleteStack", StackName="twin-local", RoleARN=role)) == [
        Check("cloudformation:DeleteStack", stack_id, {"cloudformation:RoleArn": [role]}),
        Check("iam:PassRole", role, {"iam:PassedToService": ["cloudformation.amazonaws.com"]}),
    ]


# --- through the gate ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("destroy")
    with running_emulator(directory, enforce_iam=True) as url:
        yield url, directory


@pytest.fixture(scope="module")
def admin(state: tuple[str, Path]) -> Callable[[str], Any]:
    return admin_clients(*state)


def user_with(admin: Callable[[str], Any], url: str, *statements: dict[str, Any]) -> tuple[Callable[[str], Any], Credentials]:
    iam = admin("iam")
    name = unique("user")
    iam.create_user(UserName=name)
    document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    iam.put_user_policy(UserName=name, PolicyName="grants", PolicyDocument=document)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    credentials = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    return (lambda service: signed_client(url, service, key["AccessKeyId"], key["SecretAccessKey"])), credentials


def keys_in(admin: Callable[[str], Any], bucket: str) -> list[tuple[str, str]]:
    listed = admin("s3").list_object_versions(Bucket=bucket)
    return sorted((v["Key"], v["VersionId"]) for v in listed.get("Versions", []) + listed.get("DeleteMarkers", []))


def test_delete_objects_through_the_gate_is_all_or_nothing(admin: Callable[[str], Any], state: tuple[str, Path]) -> None:
    url = state[0]
    bucket = unique("site")
    s3 = admin("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    plain = s3.put_object(Bucket=bucket, Key="tmp/a.html", Body=b"a")["VersionId"]
    versioned = s3.put_object(Bucket=bucket, Key="tmp/b.html", Body=b"b")["VersionId"]
    s3.put_object(Bucket=bucket, Key="keep/c.html", Body=b"c")
    user, _ = user_with(
        admin,
        url,
        allow("s3:DeleteObject", f"arn:aws:s3:::{bucket}/tmp/*"),
        allow("s3:DeleteObjectVersion", f"arn:aws:s3:::{bucket}/tmp/b.html"),
    )
    before = keys_in(admin, bucket)

    # One entry the grants do not cover refuses the whole batch, naming it; nothing is deleted.
    objects = [{"Key": "tmp/a.html"}, {"Key": "keep/c.html"}]
    error = refusal(lambda: user("s3").delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True}))
    assert error.response["Error"]["Code"] == "AccessDenied"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"s3:DeleteObject on resource: arn:aws:s3:::{bucket}/keep/c.html" in error.response["Error"]["Message"]
    objects = [{"Key": "tmp/a.html", "VersionId": plain}]
    error = refusal(lambda: user("s3").delete_objects(Bucket=bucket, Delete={"Objects": objects}))
    assert f"s3:DeleteObjectVersion on resource: arn:aws:s3:::{bucket}/tmp/a.html" in error.response["Error"]["Message"]
    assert keys_in(admin, bucket) == before

    objects = [{"Key": "tmp/a.html"}, {"Key": "tmp/b.html", "VersionId": versioned}]
    answer = user("s3").delete_objects(Bucket=bucket, Delete={"Objects": objects})
    assert not answer.get("Errors")
    after = keys_in(admin, bucket)
    assert ("tmp/b.html", versioned) not in after
    # The plain entry left a delete marker above its version.
    assert [key for key, _ in after].count("tmp/a.html") == 2


def test_an_unreadable_batch_is_refused_to_a_prefix_grant(admin: Callable[[str], Any], state: tuple[str, Path]) -> None:
    url, directory = state
    bucket = unique("memory")
    admin("s3").create_bucket(Bucket=bucket)
    admin("s3").put_object(Bucket=bucket, Key="tmp/k", Body=b"k")
    _, credentials = user_with(admin, url, allow(["s3:DeleteObject", "s3:DeleteObjectVersion"], f"arn:aws:s3:::{bucket}/tmp/*"))
    body = b'<!DOCTYPE Delete [<!ENTITY k "tmp/k">]><Delete><Object><Key>&k;</Key></Object></Delete>'
    request = AWSRequest(method="POST", url=f"{url}/{bucket}?delete", data=body, headers={"Content-Type": "application/xml"})
    S3SigV4Auth(credentials, "s3", REGION).add_auth(request)
    prepared = request.prepare()
    http = urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(http)
    assert raised.value.code == 403
    answer = raised.value.read().decode()
    assert "<Code>AccessDenied</Code>" in answer and f"arn:aws:s3:::{bucket}/*" in answer
    assert f"iam: s3:DeleteObjects on bucket {bucket}: unreadable entries" in (directory / "emulator.log").read_text()
    assert [key for key, _ in keys_in(admin, bucket)] == ["tmp/k"]


def test_destroys_other_calls_name_their_action_and_resource(admin: Callable[[str], Any], state: tuple[str, Path]) -> None:
    url = state[0]
    ours, theirs = unique("twin"), unique("other")
    for name in (ours, theirs):
        admin("s3").create_bucket(Bucket=name)
        admin("logs").create_log_group(logGroupName=f"/aws/lambda/{name}")
    secrets = {n: admin("secretsmanager").create_secret(Name=f"{n}/origin", SecretString="s")["ARN"] for n in (ours, theirs)}
    keys = {n: admin("kms").create_key()["KeyMetadata"]["Arn"] for n in (ours, theirs)}
    user, _ = user_with(
        admin,
        url,
        allow("s3:DeleteBucket", f"arn:aws:s3:::{ours}"),
        allow("secretsmanager:DeleteSecret", f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{ours}/*"),
        allow(
            "kms:ScheduleKeyDeletion",
            keys[ours],
            Condition={"NumericGreaterThanEquals": {"kms:ScheduleKeyDeletionPendingWindowInDays": "7"}},
        ),
        allow("logs:DeleteLogGroup", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{ours}"),
    )

    def destroy(name: str) -> None:
        user("s3").delete_bucket(Bucket=name)
        user("secretsmanager").delete_secret(SecretId=f"{name}/origin", ForceDeleteWithoutRecovery=True)
        user("kms").schedule_key_deletion(KeyId=keys[name], PendingWindowInDays=7)
        user("logs").delete_log_group(logGroupName=f"/aws/lambda/{name}")

    destroy(ours)
    assert admin("kms").describe_key(KeyId=keys[ours])["KeyMetadata"]["KeyState"] == "PendingDeletion"

    expected = [
        (lambda: user("s3").delete_bucket(Bucket=theirs), "AccessDenied", f"s3:DeleteBucket on resource: arn:aws:s3:::{theirs}"),
        (
            lambda: user("secretsmanager").delete_secret(SecretId=f"{theirs}/origin", ForceDeleteWithoutRecovery=True),
            "AccessDeniedException",
            f"secretsmanager:DeleteSecret on resource: {secrets[theirs]}",
        ),
        (
            lambda: user("kms").schedule_key_deletion(KeyId=keys[theirs], PendingWindowInDays=7),
            "AccessDeniedException",
            f"kms:ScheduleKeyDeletion on resource: {keys[theirs]}",
        ),
        (
            lambda: user("logs").delete_log_group(logGroupName=f"/aws/lambda/{theirs}"),
            "AccessDeniedException",
            f"logs:DeleteLogGroup on resource: arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{theirs}",
        ),
    ]
    for request, code, message in expected:
        error = refusal(request)
        assert error.response["Error"]["Code"] == code
        assert message in error.response["Error"]["Message"]
    admin("s3").head_bucket(Bucket=theirs)
