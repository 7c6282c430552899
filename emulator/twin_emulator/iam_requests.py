"""What a request asks IAM for: per operation, the actions, the resource ARNs and the context keys.

The enforcing emulator (iam_gate.py) authorises a request as AWS does, by evaluating each
(action, resource, context) the operation needs. This module owns that translation for every
operation twinctl calls (twinctl/src/aws/permissions.rs) and for sts:AssumeRole; it reads
moto's backends only to resolve names into the ARNs AWS evaluates (a stack's id, a secret's
suffixed ARN, a change set's stack). It evaluates nothing and answers nothing.

Sources, per service ("Actions, resources, and condition keys for <service>" in the Service
Authorization Reference, https://docs.aws.amazon.com/service-authorization/latest/reference/):
  * S3 (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html):
    HeadObject is s3:GetObject, with a versionId s3:GetObjectVersion; ListObjects(V2) is
    s3:ListBucket, ListObjectVersions s3:ListBucketVersions, both on the bucket; CopyObject reads
    its source and writes its destination; DeleteObject of a version is s3:DeleteObjectVersion.
    Objects are arn:aws:s3:::BUCKET/KEY, buckets arn:aws:s3:::BUCKET.
  * Lambda (https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html): Invoke
    is lambda:InvokeFunction; a function is arn:aws:lambda:R:A:function:NAME, a version or alias
    ...:NAME:QUALIFIER, and a qualified request is evaluated against the qualified ARN only
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-aliases.html).
  * CloudFormation: stack actions act on arn:aws:cloudformation:R:A:stack/NAME/ID (a stack that
    does not exist yet: stack/NAME/*); change set actions on the change set's stack. A request
    that names a service role (RoleARN) also needs iam:PassRole on it, with iam:PassedToService
    cloudformation.amazonaws.com; one that does not name it (ExecuteChangeSet, an update reusing
    the stack's role) needs no PassRole: "Other users that have permissions to perform operations
    on this stack are able to use this role, regardless of whether those users have the
    iam:PassRole permission" (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html).
  * Secrets Manager: arn:aws:secretsmanager:R:A:secret:NAME-XXXXXX, resolved from the name; a
    secret under a customer managed key also needs kms:Decrypt on that key, with kms:ViaService
    secretsmanager.R.amazonaws.com (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html).
  * CloudWatch: alarms arn:aws:cloudwatch:R:A:alarm:NAME (DescribeAlarms: every named alarm);
    GetMetricData has no resource-level permission ("*").
  * CloudFront: arn:aws:cloudfront::A:distribution/ID.
  * CloudWatch Logs: a log group is arn:aws:logs:R:A:log-group:NAME (FilterLogEvents,
    DescribeLogStreams, CreateLogGroup act on it), a log stream
    arn:aws:logs:R:A:log-group:NAME:log-stream:STREAM (CreateLogStream and PutLogEvents act on
    it). A logGroupIdentifier may be the group's ARN, with or without its trailing ":*". The
    group's ARN is the Service Authorization Reference's; CloudWatch Logs' own guide grants
    group actions on NAME:*, which this evaluation would not match alone (the deploy role
    grants both forms).
  * STS: GetCallerIdentity needs no permission and is never refused
    (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html);
    AssumeRole is sts:AssumeRole on the role (its trust policy is iam_gate.py's to check).
Beyond the table, any other Lambda operation naming a function (FunctionName) acts on that
function, qualified when the operation takes a Qualifier, and any other CloudFormation operation
naming a stack (StackName) on that stack (`by_rule`). Any other operation is evaluated as
SERVICE:Operation on "*" and logged once per operation to stderr ("iam: no resource mapping for
SERVICE:Operation"), so a gap is visible and never allowed silently.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, unquote

Context = dict[str, list[str]]


@dataclass(frozen=True)
class Params:
    """A request's parameters by their wire names: path labels, query, form, and body members."""

    values: Mapping[str, Any]

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None or isinstance(value, (list, dict)):
            return None
        return str(value)

    def list(self, name: str) -> list[str]:
        """A list member: a JSON/CBOR array, or the query protocol's Name.member.N."""
        value = self.values.get(name)
        if isinstance(value, list):
            return [str(v) for v in value]
        numbered = sorted(
            (int(key.rsplit(".", 1)[1]), str(v))
            for key, v in self.values.items()
            if key.startswith(f"{name}.member.") and key.rsplit(".", 1)[1].isdigit()
        )
        return [v for _, v in numbered]


@dataclass(frozen=True)
class Call:
    """One request, as far as authorization cares."""

    service: str  # the botocore service name: s3, lambda, cloudformation, cloudwatch, ...
    operation: str  # the API operation: PutObject, Invoke, ...
    params: Params
    region: str
    account_id: str
    partition: str = "aws"


@dataclass(frozen=True)
class Check:
    """One question for the evaluator."""

    action: str
    resource: str
    context: Context = field(default_factory=dict)


# --- resource names ------------------------------------------------------------------------------


def s3_arn(call: Call, bucket: str, key: str | None = None) -> str:
    return f"arn:{call.partition}:s3:::{bucket}" + (f"/{key}" if key is not None else "")


def stack_arn(call: Call, name_or_id: str | None) -> str:
    """The stack's id when it exists (AWS evaluates the id), else stack/NAME/*."""
    if not name_or_id:
        return "*"
    if name_or_id.startswith("arn:"):
        return name_or_id
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[call.account_id][call.region]
    for stack in list(backend.stacks.values()):
        if stack.name == name_or_id:
            return str(stack.stack_id)
    return f"arn:{call.partition}:cloudformation:{call.region}:{call.account_id}:stack/{name_or_id}/*"


def change_set_stack_arn(call: Call) -> str:
    """The stack a change set belongs to: from StackName, or looked up from the change set's ARN."""
    stack = call.params.get("StackName")
    if stack:
        return stack_arn(call, stack)
    change_set = call.params.get("ChangeSetName") or ""
    from moto.cloudformation.models import cloudformation_backends

    found = cloudformation_backends[call.account_id][call.region].change_sets.get(change_set)
    return str(found.stack_id) if found is not None else "*"


_FUNCTION = re.compile(
    r"^(?:arn:[^:]+:lambda:(?P<region>[^:]+):(?P<account>\d{12}):function:|(?P<partial_account>\d{12}):function:)?"
    r"(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?$"
)


def function_arn(call: Call, qualified: bool) -> str:
    """arn:aws:lambda:R:A:function:NAME, with :QUALIFIER when the action takes one and it is given."""
    function_name = unquote(call.params.get("FunctionName") or "")
    match = _FUNCTION.match(function_name)
    if not match:
        return "*"
    region = match.group("region") or call.region
    account = match.group("account") or match.group("partial_account") or call.account_id
    arn = f"arn:{call.partition}:lambda:{region}:{account}:function:{match.group('name')}"
    qualifier = call.params.get("Qualifier") or match.group("qualifier")
    return f"{arn}:{qualifier}" if qualified and qualifier else arn


def secret(call: Call) -> Any:
    from moto.secretsmanager.models import secretsmanager_backends

    secret_id = call.params.get("SecretId") or ""
    return secretsmanager_backends[call.account_id][call.region].secrets.get(secret_id)


def secret_arn(call: Call, found: Any) -> str:
    if found is not None:
        return str(found.arn)
    secret_id = call.params.get("SecretId") or ""
    if secret_id.startswith("arn:"):
        return secret_id
    # No such secret: AWS cannot know a suffix either; the name alone matches no NAME-?????? pattern.
    return f"arn:{call.partition}:secretsmanager:{call.region}:{call.account_id}:secret:{secret_id}"


def customer_key_arn(call: Call, found: Any) -> str | None:
    """The ARN of the customer managed KMS key encrypting a secret (None: AWS's managed key)."""
    key_id = getattr(found, "kms_key_id", None)
    if not key_id or key_id == "alias/aws/secretsmanager":
        return None
    from moto.kms.models import kms_backends

    backend = kms_backends[call.account_id][call.region]
    try:
        return str(backend.describe_key(key_id).arn)
    except Exception:  # noqa: BLE001 - a key that cannot be resolved is named as given
        return str(key_id)


# --- context keys --------------------------------------------------------------------------------


def request_context(region: str, source_ip: str, now: datetime | None = None) -> Context:
    """Keys of every request (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html).

    aws:SecureTransport is "false": the emulator listens on plain HTTP.
    """
    moment = now or datetime.now(timezone.utc)
    return {
        "aws:RequestedRegion": [region],
        "aws:SecureTransport": ["false"],
        "aws:CurrentTime": [moment.strftime("%Y-%m-%dT%H:%M:%SZ")],
        "aws:EpochTime": [str(int(moment.timestamp()))],
        "aws:SourceIp": [source_ip],
    }


def principal_context(principal_arn: str, account_id: str, principal_type: str, user_name: str | None) -> Context:
    """aws:PrincipalArn is the role's ARN for a role session (the global keys page)."""
    context = {
        "aws:PrincipalArn": [principal_arn],
        "aws:PrincipalAccount": [account_id],
        "aws:PrincipalType": [principal_type],
    }
    if user_name:
        context["aws:username"] = [user_name]
    return context


def _keys(pairs: Mapping[str, str | None]) -> Context:
    return {name: [value] for name, value in pairs.items() if value is not None}


# --- the table -----------------------------------------------------------------------------------


def pass_role(call: Call) -> list[Check]:
    role = call.params.get("RoleARN")
    if not role:
        return []
    return [Check("iam:PassRole", role, {"iam:PassedToService": ["cloudformation.amazonaws.com"]})]


def cloudformation_context(call: Call) -> Context:
    context = _keys(
        {
            "cloudformation:RoleArn": call.params.get("RoleARN"),
            "cloudformation:ChangeSetName": call.params.get("ChangeSetName"),
            "cloudformation:TemplateUrl": call.params.get("TemplateURL"),
        }
    )
    resource_types = call.params.list("ResourceTypes")
    if resource_types:
        context["cloudformation:ResourceTypes"] = resource_types
    return context


def on_stack(action: str) -> Callable[[Call], list[Check]]:
    def checks(call: Call) -> list[Check]:
        stack = stack_arn(call, call.params.get("StackName"))
        return [Check(f"cloudformation:{action}", stack, cloudformation_context(call)), *pass_role(call)]

    return checks


def on_change_set(action: str) -> Callable[[Call], list[Check]]:
    def checks(call: Call) -> list[Check]:
        return [Check(f"cloudformation:{action}", change_set_stack_arn(call), cloudformation_context(call))]

    return checks


def read_object(call: Call) -> list[Check]:
    version = call.params.get("versionId")
    action = "s3:GetObjectVersion" if version else "s3:GetObject"
    resource = s3_arn(call, call.params.get("Bucket") or "", call.params.get("Key") or "")
    return [Check(action, resource, _keys({"s3:VersionId": version}))]


def write_object(call: Call) -> list[Check]:
    return [Check("s3:PutObject", s3_arn(call, call.params.get("Bucket") or "", call.params.get("Key") or ""))]


def delete_object(call: Call) -> list[Check]:
    version = call.params.get("versionId")
    action = "s3:DeleteObjectVersion" if version else "s3:DeleteObject"
    resource = s3_arn(call, call.params.get("Bucket") or "", call.params.get("Key") or "")
    return [Check(action, resource, _keys({"s3:VersionId": version}))]


def copy_source(header: str) -> tuple[str, str, str | None]:
    """x-amz-copy-source: [/]BUCKET/KEY[?versionId=V], URL-encoded."""
    source, _, query = header.partition("?")
    bucket, _, key = unquote(source).lstrip("/").partition("/")
    versions = parse_qs(query).get("versionId") or [None]
    return bucket, key, versions[0]


def copy_object(call: Call) -> list[Check]:
    bucket, key, version = copy_source(call.params.get("x-amz-copy-source") or "")
    read = Check(
        "s3:GetObjectVersion" if version else "s3:GetObject",
        s3_arn(call, bucket, key),
        _keys({"s3:VersionId": version}),
    )
    return [read, *write_object(call)]


def list_bucket(action: str) -> Callable[[Call], list[Check]]:
    def checks(call: Call) -> list[Check]:
        context = _keys(
            {
                "s3:prefix": call.params.get("prefix"),
                "s3:delimiter": call.params.get("delimiter"),
                "s3:max-keys": call.params.get("max-keys"),
            }
        )
        return [Check(action, s3_arn(call, call.params.get("Bucket") or ""), context)]

    return checks


def on_function(action: str, qualified: bool) -> Callable[[Call], list[Check]]:
    def checks(call: Call) -> list[Check]:
        return [Check(action, function_arn(call, qualified))]

    return checks


def describe_alarms(call: Call) -> list[Check]:
    names = call.params.list("AlarmNames")
    if not names:
        return [Check("cloudwatch:DescribeAlarms", "*")]
    prefix = f"arn:{call.partition}:cloudwatch:{call.region}:{call.account_id}:alarm:"
    return [Check("cloudwatch:DescribeAlarms", prefix + name) for name in names]


def on_distribution(action: str) -> Callable[[Call], list[Check]]:
    def checks(call: Call) -> list[Check]:
        distribution = call.params.get("DistributionId") or ""
        return [Check(action, f"arn:{call.partition}:cloudfront::{call.account_id}:distribution/{distribution}")]

    return checks


def log_group_arn(call: Call) -> str:
    """The group named by logGroupName, or by logGroupIdentifier (a name or an ARN)."""
    identifier = call.params.get("logGroupName") or call.params.get("logGroupIdentifier") or ""
    if identifier.startswith("arn:"):
        return identifier[: -len(":*")] if identifier.endswith(":*") else identifier
    if not identifier:
        return "*"
    return f"arn:{call.partition}:logs:{call.region}:{call.account_id}:log-group:{identifier}"


def on_log_group(action: str) -> Callable[[Call], list[Check]]:
    def checks(call: Call) -> list[Check]:
        return [Check(action, log_group_arn(call))]

    return checks


def on_log_stream(action: str) -> Callable[[Call], list[Check]]:
    def checks(call: Call) -> list[Check]:
        group = log_group_arn(call)
        stream = call.params.get("logStreamName") or ""
        return [Check(action, "*" if group == "*" else f"{group}:log-stream:{stream}")]

    return checks


def get_secret_value(call: Call) -> list[Check]:
    found = secret(call)
    arn = secret_arn(call, found)
    context = _keys({"secretsmanager:SecretId": call.params.get("SecretId")})
    checks = [Check("secretsmanager:GetSecretValue", arn, context)]
    key = customer_key_arn(call, found)
    if key:
        # Secrets Manager decrypts with the caller's permissions, through itself (kms:ViaService).
        decrypt_context = {
            "kms:ViaService": [f"secretsmanager.{call.region}.amazonaws.com"],
            "kms:CallerAccount": [call.account_id],
            "kms:EncryptionContext:SecretARN": [arn],
        }
        checks.append(Check("kms:Decrypt", key, decrypt_context))
    return checks


def assume_role(call: Call) -> list[Check]:
    context = _keys(
        {"sts:RoleSessionName": call.params.get("RoleSessionName"), "sts:ExternalId": call.params.get("ExternalId")}
    )
    return [Check("sts:AssumeRole", call.params.get("RoleArn") or "*", context)]


def never_refused(_call: Call) -> list[Check]:
    return []


TABLE: dict[tuple[str, str], Callable[[Call], list[Check]]] = {
    ("sts", "GetCallerIdentity"): never_refused,
    ("sts", "AssumeRole"): assume_role,
    ("cloudformation", "DescribeStacks"): on_stack("DescribeStacks"),
    ("cloudformation", "DescribeStackEvents"): on_stack("DescribeStackEvents"),
    ("cloudformation", "ListStackResources"): on_stack("ListStackResources"),
    ("cloudformation", "GetTemplate"): on_stack("GetTemplate"),
    ("cloudformation", "UpdateTerminationProtection"): on_stack("UpdateTerminationProtection"),
    ("cloudformation", "CreateChangeSet"): on_stack("CreateChangeSet"),
    ("cloudformation", "CreateStack"): on_stack("CreateStack"),
    ("cloudformation", "UpdateStack"): on_stack("UpdateStack"),
    ("cloudformation", "DeleteStack"): on_stack("DeleteStack"),
    ("cloudformation", "DescribeChangeSet"): on_change_set("DescribeChangeSet"),
    ("cloudformation", "ExecuteChangeSet"): on_change_set("ExecuteChangeSet"),
    ("cloudformation", "DeleteChangeSet"): on_change_set("DeleteChangeSet"),
    ("s3", "GetObject"): read_object,
    ("s3", "HeadObject"): read_object,
    ("s3", "PutObject"): write_object,
    ("s3", "CopyObject"): copy_object,
    ("s3", "DeleteObject"): delete_object,
    ("s3", "ListObjects"): list_bucket("s3:ListBucket"),
    ("s3", "ListObjectsV2"): list_bucket("s3:ListBucket"),
    ("s3", "ListObjectVersions"): list_bucket("s3:ListBucketVersions"),
    # HeadBucket needs s3:ListBucket (S3 API reference, HeadBucket: "you must have permissions to
    # perform the s3:ListBucket action"); the runtime's deep health check calls it.
    ("s3", "HeadBucket"): list_bucket("s3:ListBucket"),
    # ListBuckets is s3:ListAllMyBuckets, which has no resource-level permission.
    ("s3", "ListBuckets"): lambda call: [Check("s3:ListAllMyBuckets", "*")],
    ("lambda", "GetFunction"): on_function("lambda:GetFunction", qualified=True),
    ("lambda", "GetFunctionConfiguration"): on_function("lambda:GetFunctionConfiguration", qualified=True),
    ("lambda", "Invoke"): on_function("lambda:InvokeFunction", qualified=True),
    ("lambda", "DeleteFunction"): on_function("lambda:DeleteFunction", qualified=True),
    ("lambda", "GetAlias"): on_function("lambda:GetAlias", qualified=False),
    ("lambda", "UpdateAlias"): on_function("lambda:UpdateAlias", qualified=False),
    ("lambda", "PublishVersion"): on_function("lambda:PublishVersion", qualified=False),
    ("lambda", "ListVersionsByFunction"): on_function("lambda:ListVersionsByFunction", qualified=False),
    ("cloudwatch", "DescribeAlarms"): describe_alarms,
    ("cloudwatch", "GetMetricData"): lambda call: [Check("cloudwatch:GetMetricData", "*")],
    ("cloudfront", "CreateInvalidation"): on_distribution("cloudfront:CreateInvalidation"),
    ("cloudfront", "GetInvalidation"): on_distribution("cloudfront:GetInvalidation"),
    ("secretsmanager", "GetSecretValue"): get_secret_value,
    ("logs", "FilterLogEvents"): on_log_group("logs:FilterLogEvents"),
    ("logs", "DescribeLogStreams"): on_log_group("logs:DescribeLogStreams"),
    ("logs", "CreateLogGroup"): on_log_group("logs:CreateLogGroup"),
    ("logs", "CreateLogStream"): on_log_stream("logs:CreateLogStream"),
    ("logs", "PutLogEvents"): on_log_stream("logs:PutLogEvents"),
}

# The IAM service prefix where it differs from the botocore service name.
IAM_PREFIX = {"apigatewayv2": "apigateway"}

# Lambda operations whose IAM action is not lambda:<Operation> (the Lambda permissions page).
LAMBDA_ACTIONS = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction"}

_unmapped_logged: set[str] = set()


def input_members(call: Call) -> set[str]:
    from moto.core.utils import get_service_model

    try:
        shape = get_service_model(call.service).operation_model(call.operation).input_shape
    except Exception:  # noqa: BLE001 - an operation botocore does not know has no members
        return set()
    return set(shape.members) if shape is not None else set()


def by_rule(call: Call) -> Callable[[Call], list[Check]] | None:
    """Operations outside the table that name one function or one stack act on it, as above: the
    ARN, qualified where the operation takes a Qualifier (UpdateFunctionCode, CreateAlias, ...)."""
    if call.service not in ("lambda", "cloudformation"):
        return None
    members = input_members(call)
    if call.service == "lambda" and "FunctionName" in members:
        action = f"lambda:{LAMBDA_ACTIONS.get(call.operation, call.operation)}"
        return on_function(action, qualified="Qualifier" in members)
    if call.service == "cloudformation" and "StackName" in members:
        return on_stack(call.operation)
    return None


def checks(call: Call) -> list[Check]:
    """What IAM must allow for the call to proceed (empty: nothing to ask)."""
    mapped = TABLE.get((call.service, call.operation)) or by_rule(call)
    if mapped is not None:
        return mapped(call)
    action = f"{IAM_PREFIX.get(call.service, call.service)}:{call.operation}"
    if action not in _unmapped_logged:
        _unmapped_logged.add(action)
        print(f"iam: no resource mapping for {action}", file=sys.stderr, flush=True)
    return [Check(action, "*")]
