"""Requests under IAM enforcement (twin_emulator/iam_gate.py and the modules it uses).

One emulator subprocess runs as `TWIN_EMULATOR_IAM=enforce scripts/emulator start` does. The
administrator from admin.env sets the scene (buckets, functions, users and roles with policies);
then each test calls as a principal with ARN-scoped grants and checks what AWS would allow,
refuse, and say when refusing (the service's error code and status, a message naming the action
and the resource). Resource names are unique per test, so the tests share the emulator.
"""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from emulator_process import admin_keys, running_emulator, signed_client

REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("enforcing")
    with running_emulator(directory, enforce_iam=True) as url:
        yield url, directory


@pytest.fixture(scope="module")
def url(state: tuple[str, Path]) -> str:
    return state[0]


@pytest.fixture(scope="module")
def admin(state: tuple[str, Path]) -> Callable[[str], Any]:
    keys = admin_keys(state[1])
    return client_factory(state[0], keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"])


def client_factory(url: str, key_id: str, secret: str, token: str | None = None) -> Callable[[str], Any]:
    def client(service: str) -> Any:
        return signed_client(url, service, key_id, secret, token, REGION)

    return client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def user_with(admin: Callable[[str], Any], url: str, *statements: dict[str, Any]) -> Callable[[str], Any]:
    """Clients signed by a new IAM user whose only policy has these statements."""
    iam = admin("iam")
    name = unique("user")
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="grants", PolicyDocument=policy(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return client_factory(url, key["AccessKeyId"], key["SecretAccessKey"])


def role_session(admin: Callable[[str], Any], url: str, *statements: dict[str, Any]) -> tuple[Callable[[str], Any], str]:
    """Clients signed by a session of a new role (trusting the account) with these statements."""
    iam = admin("iam")
    name = unique("role")
    trust = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"})
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=policy(*statements))
    credentials = admin("sts").assume_role(RoleArn=role_arn, RoleSessionName="tests")["Credentials"]
    session = client_factory(url, credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])
    return session, role_arn


def refusal(call: Callable[[], Any]) -> ClientError:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def create_function(admin: Callable[[str], Any], name: str) -> str:
    iam = admin("iam")
    trust = policy({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
    role = iam.create_role(RoleName=unique("fn-role"), AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    created = admin("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="index.handler", Code={"ZipFile": function_zip()}
    )
    return str(created["FunctionArn"])


# --- the administrator -----------------------------------------------------------------------------


def test_the_administrator_can_do_everything(admin: Callable[[str], Any]) -> None:
    assert admin("sts").get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/twin-emulator-admin"
    bucket = unique("admin")
    admin("s3").create_bucket(Bucket=bucket)
    admin("s3").put_object(Bucket=bucket, Key="k", Body=b"v")
    assert admin("s3").get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    admin("iam").create_role(RoleName=unique("r"), AssumeRolePolicyDocument=policy())
    admin("cloudformation").list_stacks()
    admin("lambda").list_functions()


def test_admin_env_holds_the_keys_privately(state: tuple[str, Path]) -> None:
    path = state[1] / "admin.env"
    assert path.stat().st_mode & 0o777 == 0o600
    keys = admin_keys(state[1])
    assert set(keys) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert keys["AWS_ACCESS_KEY_ID"].startswith("AKIA") and len(keys["AWS_ACCESS_KEY_ID"]) == 20


# --- ARN-scoped grants -------------------------------------------------------------------------------


def test_an_object_grant_allows_its_prefix_and_refuses_others_naming_action_and_resource(
    admin: Callable[[str], Any], url: str
) -> None:
    bucket = unique("artifacts")
    admin("s3").create_bucket(Bucket=bucket)
    user = user_with(admin, url, allow("s3:PutObject", f"arn:aws:s3:::{bucket}/locks/*"))

    user("s3").put_object(Bucket=bucket, Key="locks/local.json", Body=b"{}")
    error = refusal(lambda: user("s3").put_object(Bucket=bucket, Key="releases/local/1.json", Body=b"{}"))

    assert error.response["Error"]["Code"] == "AccessDenied"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    message = error.response["Error"]["Message"]
    assert "s3:PutObject" in message and f"arn:aws:s3:::{bucket}/releases/local/1.json" in message
    assert "not authorized" in message


def test_a_function_grant_allows_matching_functions_only(admin: Callable[[str], Any], url: str) -> None:
    ours, theirs = unique("twin"), unique("other")
    create_function(admin, ours)
    create_function(admin, theirs)
    session, _ = role_session(
        admin, url, allow("lambda:UpdateFunctionCode", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:twin-*")
    )

    session("lambda").update_function_code(FunctionName=ours, ZipFile=function_zip())
    error = refusal(lambda: session("lambda").update_function_code(FunctionName=theirs, ZipFile=function_zip()))

    assert error.response["Error"]["Code"] == "AccessDeniedException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    message = error.response["Error"]["Message"]
    assert "lambda:UpdateFunctionCode" in message
    assert f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{theirs}" in message
    assert "assumed-role/" in message


def test_a_qualified_call_is_evaluated_against_the_qualified_arn(admin: Callable[[str], Any], url: str) -> None:
    name = unique("twin")
    arn = create_function(admin, name)
    version = admin("lambda").publish_version(FunctionName=name)["Version"]
    # Versions only: the unqualified function is not covered by function:NAME:*.
    user = user_with(admin, url, allow("lambda:GetFunction", f"{arn}:*"))

    assert user("lambda").get_function(FunctionName=name, Qualifier=version)["Configuration"]["Version"] == version
    assert user("lambda").get_function(FunctionName=f"{arn}:{version}")["Configuration"]["Version"] == version
    error = refusal(lambda: user("lambda").get_function(FunctionName=name))
    assert f"function:{name} " in error.response["Error"]["Message"] + " "


def test_an_explicit_deny_wins_over_an_allow(admin: Callable[[str], Any], url: str) -> None:
    bucket = unique("memory")
    admin("s3").create_bucket(Bucket=bucket)
    admin("s3").put_object(Bucket=bucket, Key="persona/me.txt", Body=b"me")
    admin("s3").put_object(Bucket=bucket, Key="private/notes.txt", Body=b"notes")
    user = user_with(admin, url, allow("s3:*", "*"), deny("s3:GetObject", f"arn:aws:s3:::{bucket}/private/*"))

    assert user("s3").get_object(Bucket=bucket, Key="persona/me.txt")["Body"].read() == b"me"
    error = refusal(lambda: user("s3").get_object(Bucket=bucket, Key="private/notes.txt"))
    assert error.response["Error"]["Code"] == "AccessDenied"
    assert "explicit deny" in error.response["Error"]["Message"]


def test_copy_object_reads_its_source_and_writes_its_destination(admin: Callable[[str], Any], url: str) -> None:
    bucket = unique("site")
    admin("s3").create_bucket(Bucket=bucket)
    admin("s3").put_object(Bucket=bucket, Key="a.html", Body=b"a")
    user = user_with(
        admin, url, allow("s3:PutObject", f"arn:aws:s3:::{bucket}/*"), allow("s3:GetObject", f"arn:aws:s3:::{bucket}/a*")
    )

    user("s3").copy_object(Bucket=bucket, Key="b.html", CopySource={"Bucket": bucket, "Key": "a.html"})
    error = refusal(
        lambda: user("s3").copy_object(Bucket=bucket, Key="c.html", CopySource={"Bucket": bucket, "Key": "b.html"})
    )
    assert f"s3:GetObject on resource: arn:aws:s3:::{bucket}/b.html" in error.response["Error"]["Message"]


# --- CloudFormation ----------------------------------------------------------------------------------

TEMPLATE = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})


def test_a_change_set_with_a_role_needs_pass_role_on_it(admin: Callable[[str], Any], url: str) -> None:
    stack = unique("twin")
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{stack}-execution"
    stack_arn = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack}/*"
    change_sets = allow(["cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet"], stack_arn)
    without_pass_role = user_with(admin, url, change_sets)

    error = refusal(
        lambda: without_pass_role("cloudformation").create_change_set(
            StackName=stack, ChangeSetName="one", ChangeSetType="CREATE", TemplateBody=TEMPLATE, RoleARN=role_arn
        )
    )
    assert error.response["Error"]["Code"] == "AccessDenied"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"iam:PassRole on resource: {role_arn}" in error.response["Error"]["Message"]

    passes_to_lambda = user_with(
        admin,
        url,
        change_sets,
        allow("iam:PassRole", role_arn, Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}),
    )
    error = refusal(
        lambda: passes_to_lambda("cloudformation").create_change_set(
            StackName=stack, ChangeSetName="one", ChangeSetType="CREATE", TemplateBody=TEMPLATE, RoleARN=role_arn
        )
    )
    assert "iam:PassRole" in error.response["Error"]["Message"]

    passes_to_cloudformation = user_with(
        admin,
        url,
        change_sets,
        allow("iam:PassRole", role_arn, Condition={"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}),
    )
    created = passes_to_cloudformation("cloudformation").create_change_set(
        StackName=stack, ChangeSetName="one", ChangeSetType="CREATE", TemplateBody=TEMPLATE, RoleARN=role_arn
    )
    # DescribeChangeSet by the change set's ARN alone is evaluated against its stack.
    described = passes_to_cloudformation("cloudformation").describe_change_set(ChangeSetName=created["Id"])
    assert described["StackName"] == stack


def test_stack_actions_act_on_the_stack_and_its_role_condition(admin: Callable[[str], Any], url: str) -> None:
    stack = unique("twin")
    admin("cloudformation").create_stack(StackName=stack, TemplateBody=TEMPLATE)
    stack_id = admin("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["StackId"]
    user = user_with(admin, url, allow("cloudformation:DescribeStacks", f"arn:aws:cloudformation:*:*:stack/{stack}/*"))

    assert user("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["StackId"] == stack_id
    # Without a name the request is for every stack: "*", which an ARN-scoped grant does not cover.
    error = refusal(lambda: user("cloudformation").describe_stacks())
    message = error.response["Error"]["Message"]
    assert "cloudformation:DescribeStacks" in message and f"stack/{stack}" not in message


# --- context keys ------------------------------------------------------------------------------------


def test_list_object_versions_carries_s3_prefix(admin: Callable[[str], Any], url: str) -> None:
    bucket = unique("memory")
    admin("s3").create_bucket(Bucket=bucket)
    user = user_with(
        admin,
        url,
        allow("s3:ListBucketVersions", f"arn:aws:s3:::{bucket}", Condition={"StringEquals": {"s3:prefix": "persona/"}}),
    )

    user("s3").list_object_versions(Bucket=bucket, Prefix="persona/")
    error = refusal(lambda: user("s3").list_object_versions(Bucket=bucket))
    assert f"s3:ListBucketVersions on resource: arn:aws:s3:::{bucket}" in error.response["Error"]["Message"]


def test_requests_are_plain_http_in_the_requested_region(admin: Callable[[str], Any], url: str) -> None:
    user = user_with(
        admin,
        url,
        allow("sqs:*", "*"),
        allow("cloudwatch:GetMetricData", "*", Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}),
        deny("sqs:ListQueues", "*", Condition={"Bool": {"aws:SecureTransport": "false"}}),
    )
    error = refusal(lambda: user("sqs").list_queues())
    assert "explicit deny" in error.response["Error"]["Message"]
    now = time.time()
    query = [{"Id": "m", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"}}]
    error = refusal(lambda: user("cloudwatch").get_metric_data(MetricDataQueries=query, StartTime=now - 60, EndTime=now))
    assert "cloudwatch:GetMetricData" in error.response["Error"]["Message"]


def test_a_role_session_is_its_role_for_aws_principal_arn(admin: Callable[[str], Any], url: str) -> None:
    bucket = unique("b")
    admin("s3").create_bucket(Bucket=bucket)
    iam = admin("iam")
    role_name = unique("role")
    trust = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"})
    role_arn = iam.create_role(RoleName=role_name, Path="/ci/", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    grant = allow("s3:ListBucket", f"arn:aws:s3:::{bucket}", Condition={"ArnEquals": {"aws:PrincipalArn": role_arn}})
    iam.put_role_policy(RoleName=role_name, PolicyName="grants", PolicyDocument=policy(grant))
    credentials = admin("sts").assume_role(RoleArn=role_arn, RoleSessionName="ci")["Credentials"]
    session = client_factory(url, credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])

    session("s3").list_objects_v2(Bucket=bucket)
    assert session("sts").get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/ci"


# --- the other services twinctl calls ----------------------------------------------------------------


def test_a_secret_is_evaluated_under_its_full_arn(admin: Callable[[str], Any], url: str) -> None:
    prefix = unique("twin")
    ours = admin("secretsmanager").create_secret(Name=f"{prefix}/local/origin-verify", SecretString="s3cret")["ARN"]
    admin("secretsmanager").create_secret(Name=f"{prefix}/local/other", SecretString="other")
    grant = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{prefix}/local/origin-verify-??????"
    user = user_with(admin, url, allow("secretsmanager:GetSecretValue", grant))

    assert user("secretsmanager").get_secret_value(SecretId=f"{prefix}/local/origin-verify")["SecretString"] == "s3cret"
    assert user("secretsmanager").get_secret_value(SecretId=ours)["SecretString"] == "s3cret"
    error = refusal(lambda: user("secretsmanager").get_secret_value(SecretId=f"{prefix}/local/other"))
    assert error.response["Error"]["Code"] == "AccessDeniedException"
    assert f"secret:{prefix}/local/other-" in error.response["Error"]["Message"]


def test_a_secret_under_a_customer_key_also_needs_decrypt_through_secrets_manager(
    admin: Callable[[str], Any], url: str
) -> None:
    key = admin("kms").create_key()["KeyMetadata"]
    name = unique("twin") + "/local/origin-verify"
    admin("secretsmanager").create_secret(Name=name, SecretString="s", KmsKeyId=key["KeyId"])
    secret_grant = allow("secretsmanager:GetSecretValue", "*")
    without_decrypt = user_with(admin, url, secret_grant)
    error = refusal(lambda: without_decrypt("secretsmanager").get_secret_value(SecretId=name))
    assert f"kms:Decrypt on resource: {key['Arn']}" in error.response["Error"]["Message"]

    via_secrets_manager = {"StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}}
    with_decrypt = user_with(admin, url, secret_grant, allow("kms:Decrypt", key["Arn"], Condition=via_secrets_manager))
    assert with_decrypt("secretsmanager").get_secret_value(SecretId=name)["SecretString"] == "s"


def test_describe_alarms_needs_every_named_alarm(admin: Callable[[str], Any], url: str) -> None:
    prefix = unique("twin")
    user = user_with(
        admin, url, allow("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{prefix}-*")
    )
    user("cloudwatch").describe_alarms(AlarmNames=[f"{prefix}-errors", f"{prefix}-latency"])
    error = refusal(lambda: user("cloudwatch").describe_alarms(AlarmNames=[f"{prefix}-errors", "other-errors"]))
    assert f"alarm:other-errors" in error.response["Error"]["Message"]


def test_cloudwatch_over_cbor_is_refused_in_cbor(admin: Callable[[str], Any], url: str) -> None:
    """As the Rust SDK calls CloudWatch: the refusal must be a CBOR error it can read."""
    iam = admin("iam")
    name = unique("user")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    body = cbor2.dumps({"AlarmNames": ["any"]})
    request = AWSRequest(
        method="POST",
        url=f"{url}/service/GraniteServiceVersion20100801/operation/DescribeAlarms",
        data=body,
        headers={"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor", "Accept": "application/cbor"},
    )
    SigV4Auth(Credentials(key["AccessKeyId"], key["SecretAccessKey"]), "monitoring", REGION).add_auth(request)
    prepared = request.prepare()
    http = urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(http)
    assert raised.value.code == 403
    assert raised.value.headers["x-amzn-query-error"] == "AccessDenied;Sender"
    error = cbor2.loads(raised.value.read())
    assert "cloudwatch:DescribeAlarms" in error["message"] and f"alarm:any" in error["message"]


def test_an_invalidation_acts_on_its_distribution(admin: Callable[[str], Any], url: str) -> None:
    user = user_with(admin, url, allow("cloudfront:CreateInvalidation", f"arn:aws:cloudfront::{ACCOUNT}:distribution/E1*"))
    batch = {"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": unique("ref")}
    error = refusal(lambda: user("cloudfront").create_invalidation(DistributionId="E2NOPE", InvalidationBatch=batch))
    assert error.response["Error"]["Code"] == "AccessDenied"
    assert f"arn:aws:cloudfront::{ACCOUNT}:distribution/E2NOPE" in error.response["Error"]["Message"]
    # Allowed by IAM; moto then answers for the distribution that does not exist.
    error = refusal(lambda: user("cloudfront").create_invalidation(DistributionId="E1NOPE", InvalidationBatch=batch))
    assert error.response["Error"]["Code"] != "AccessDenied"


def test_log_writes_act_on_the_stream_and_reads_on_the_group(admin: Callable[[str], Any], url: str) -> None:
    """As a local function ships its lines (the function role's WriteOwnLogs grant) and `twinctl
    logs` reads them (the deploy role's grant on the group)."""
    ours, theirs = f"/aws/lambda/{unique('twin')}-local-api", f"/aws/lambda/{unique('other')}-local-api"
    for name in (ours, theirs):
        admin("logs").create_log_group(logGroupName=name)
    ours_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{ours}"
    session, _ = role_session(
        admin,
        url,
        allow(["logs:CreateLogStream", "logs:PutLogEvents"], f"{ours_arn}:*"),
        allow("logs:FilterLogEvents", ours_arn),
    )
    logs = session("logs")
    stream = "2026/01/02/[1]0123456789abcdef0123456789abcdef"
    logs.create_log_stream(logGroupName=ours, logStreamName=stream)
    event = {"timestamp": int(time.time() * 1000), "message": '{"level":"INFO","message":"hello"}'}
    logs.put_log_events(logGroupName=ours, logStreamName=stream, logEvents=[event])
    found = logs.filter_log_events(logGroupName=ours)["events"]
    assert [(e["logStreamName"], e["message"]) for e in found] == [(stream, event["message"])]

    error = refusal(lambda: logs.create_log_stream(logGroupName=theirs, logStreamName="s"))
    assert error.response["Error"]["Code"] == "AccessDeniedException"
    message = error.response["Error"]["Message"]
    assert "logs:CreateLogStream" in message and f"log-group:{theirs}:log-stream:s" in message
    error = refusal(lambda: logs.put_log_events(logGroupName=theirs, logStreamName="s", logEvents=[event]))
    assert "logs:PutLogEvents" in error.response["Error"]["Message"]
    error = refusal(lambda: logs.filter_log_events(logGroupName=theirs))
    message = error.response["Error"]["Message"]
    assert "logs:FilterLogEvents" in message and f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{theirs}" in message


# --- authentication ----------------------------------------------------------------------------------


def test_get_caller_identity_is_never_refused(admin: Callable[[str], Any], url: str) -> None:
    # Even an explicit Deny of everything: the STS API reference says no permission is needed.
    user = user_with(admin, url, deny("*", "*"))
    assert f"arn:aws:iam::{ACCOUNT}:user/user-" in user("sts").get_caller_identity()["Arn"]


def test_unknown_keys_and_bad_signatures_are_refused_as_each_service_does(
    admin: Callable[[str], Any], url: str, state: tuple[str, Path]
) -> None:
    unknown = client_factory(url, "AKIAUNKNOWNUNKNOWN00", "secret")
    assert refusal(lambda: unknown("sts").get_caller_identity()).response["Error"]["Code"] == "InvalidClientTokenId"
    assert refusal(lambda: unknown("s3").list_buckets()).response["Error"]["Code"] == "InvalidAccessKeyId"
    assert refusal(lambda: unknown("lambda").list_functions()).response["Error"]["Code"] == "UnrecognizedClientException"
    wrong_secret = client_factory(url, admin_keys(state[1])["AWS_ACCESS_KEY_ID"], "not-the-secret")
    assert refusal(lambda: wrong_secret("sts").get_caller_identity()).response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert refusal(lambda: wrong_secret("secretsmanager").list_secrets()).response["Error"]["Code"] == "InvalidSignatureException"


def test_an_inactive_key_is_refused(admin: Callable[[str], Any], url: str) -> None:
    iam = admin("iam")
    name = unique("user")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="grants", PolicyDocument=policy(allow("*", "*")))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    user = client_factory(url, key["AccessKeyId"], key["SecretAccessKey"])
    user("sts").get_caller_identity()
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert refusal(lambda: user("sts").get_caller_identity()).response["Error"]["Code"] == "InvalidClientTokenId"


def test_unsigned_requests_are_refused(url: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"{url}/some-bucket")
    assert raised.value.code == 403
    assert b"<Code>AccessDenied</Code>" in raised.value.read()


def test_an_operation_without_a_mapping_is_evaluated_on_star_and_logged(
    admin: Callable[[str], Any], url: str, state: tuple[str, Path]
) -> None:
    bucket = unique("unmapped")
    user = user_with(admin, url, allow("s3:CreateBucket", f"arn:aws:s3:::{bucket}"))
    # The grant names the bucket, but the request is evaluated on "*", which it does not cover.
    error = refusal(lambda: user("s3").create_bucket(Bucket=bucket))
    message = error.response["Error"]["Message"]
    assert "s3:CreateBucket" in message and bucket not in message
    assert "iam: no resource mapping for s3:CreateBucket" in (state[1] / "emulator.log").read_text()


# --- reset ---------------------------------------------------------------------------------------------


def test_the_administrator_survives_a_reset_with_the_same_keys(tmp_path: Path) -> None:
    with running_emulator(tmp_path, enforce_iam=True) as url:
        keys = admin_keys(tmp_path)
        admin = client_factory(url, keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"])
        admin("s3").create_bucket(Bucket="before-reset")
        user = user_with(admin, url, allow("s3:*", "*"))
        user("s3").list_buckets()

        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).read()

        assert admin_keys(tmp_path) == keys
        assert admin("s3").list_buckets()["Buckets"] == []
        assert admin("sts").get_caller_identity()["Arn"].endswith(":user/twin-emulator-admin")
        # Everyone else is forgotten, as every other resource is.
        assert refusal(lambda: user("s3").list_buckets()).response["Error"]["Code"] == "InvalidAccessKeyId"
