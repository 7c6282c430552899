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
    its source and writes its destination; DeleteObject of a version is s3:DeleteObjectVersion,
    and so is each versioned entry of a DeleteObjects batch, whose entries are read from its XML
    body (`delete_objects`); DeleteBucket is s3:DeleteBucket on the bucket. The bucket reads of
    `twinctl verify` act on the bucket too: GetBucketVersioning is s3:GetBucketVersioning,
    GetBucketEncryption s3:GetEncryptionConfiguration, GetPublicAccessBlock
    s3:GetBucketPublicAccessBlock, GetBucketPolicy s3:GetBucketPolicy. Objects are
    arn:aws:s3:::BUCKET/KEY, buckets arn:aws:s3:::BUCKET.
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
    DeleteSecret and DescribeSecret act on the same ARN (DescribeSecret decrypts nothing: no KMS).
    PutSecretValue acts on it too and, under a customer managed key, needs kms:GenerateDataKey on the
    key with kms:ViaService secretsmanager.R.amazonaws.com (Secrets Manager encrypts the new value).
  * KMS: a key is arn:aws:kms:R:A:key/ID, whichever of its id, ARN, alias name or alias ARN the
    request names (`kms_key_arn`); DescribeKey, ScheduleKeyDeletion and CancelKeyDeletion act on it.
    Every operation on a key (these three, and the kms:Decrypt Secrets Manager asks for) carries
    kms:ResourceAliases, the alias names associated with the key, however the request names it
    (`resource_aliases`; https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-resource-aliases).
  * CloudWatch: alarms arn:aws:cloudwatch:R:A:alarm:NAME (DescribeAlarms: every named alarm);
    GetMetricData has no resource-level permission ("*"); dashboards are global, without a Region:
    arn:aws:cloudwatch::A:dashboard/NAME (GetDashboard acts on it).
  * CloudFront: arn:aws:cloudfront::A:distribution/ID (CreateInvalidation, GetInvalidation,
    GetDistributionConfig), arn:aws:cloudfront::A:response-headers-policy/ID
    (GetResponseHeadersPolicyConfig).
  * IAM: a role is arn:aws:iam::A:role/PATH/NAME (${RoleNameWithPath}); ListRolePolicies,
    GetRolePolicy and ListAttachedRolePolicies name it by RoleName only, so its path is read from
    moto's IAM backend (`role_arn`; a role that does not exist: role/NAME). PutRolePolicy,
    DeleteRolePolicy and UpdateAssumeRolePolicy act on it too, with iam:PermissionsBoundary, the
    role's boundary. GetPolicy and
    GetPolicyVersion act on the PolicyArn given (arn:aws:iam::A:policy/PATH/NAME, or an AWS
    managed policy's arn:aws:iam::aws:policy/...).
  * CloudWatch Logs: a log group is arn:aws:logs:R:A:log-group:NAME (FilterLogEvents,
    DescribeLogStreams, CreateLogGroup, DeleteLogGroup act on it), a log stream
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
from xml.etree import ElementTree
from xml.parsers import expat

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


_KMS_ARN = re.compile(r"^arn:[^:]+:kms:(?P<region>[^:]*):(?P<account>[^:]*):(?P<resource>(?:key|alias)/.+)$")


def kms_key_arn(call: Call, key_id: str | None) -> str:
    """The ARN of the key named by a key id, key ARN, alias name or alias ARN (KMS evaluates the key,
    never the alias: https://docs.aws.amazon.com/kms/latest/developerguide/alias-authorization.html).

    A key ARN is taken as given (it may be another account's). An alias is looked up among the keys
    of its account and Region without moto's own lookup, which creates an AWS managed key the first
    time an alias/aws/... name is asked for; an alias that names no key is named as given, which
    only a grant on "*" (or on the alias ARN) matches, and moto answers NotFoundException after."""
    if not key_id:
        return "*"
    arn = _KMS_ARN.match(key_id)
    if arn and arn.group("resource").startswith("key/"):
        return key_id
    from moto.kms.models import kms_backends

    if arn or key_id.startswith("alias/"):
        region = arn.group("region") if arn else call.region
        account = arn.group("account") if arn else call.account_id
        alias = arn.group("resource") if arn else key_id
        if (region, account) == (call.region, call.account_id):
            keys = kms_backends[call.account_id][call.region].keys
            for key in list(keys.values()):
                if alias in key.aliases:
                    return str(key.arn)
        return f"arn:{call.partition}:kms:{region}:{account}:{alias}"
    found = kms_backends[call.account_id][call.region].keys.get(key_id)
    if found is not None:
        return str(found.arn)
    return f"arn:{call.partition}:kms:{call.region}:{call.account_id}:key/{key_id}"


def resource_aliases(key_arn: str) -> Context:
    """kms:ResourceAliases of the key an ARN names: "the aliases that are associated with the KMS key",
    multi-valued, compared by alias name (alias/NAME, never an alias ARN), for any KMS key resource
    operation "whether or how the KMS key is identified in the request" (AWS KMS Developer Guide, "AWS
    KMS condition keys", kms:ResourceAliases). An alias belongs to the account and Region of its key, so
    they are read from moto's KMS backend of the key's own account and Region. A key with no alias, or
    one that cannot be found (an alias ARN, an unknown id), has no value: ForAnyValue then fails and
    ForAllValues holds, as AWS documents for a key without aliases."""
    arn = _KMS_ARN.match(key_arn)
    if not arn or not arn.group("resource").startswith("key/"):
        return {}
    from moto.kms.models import kms_backends

    region, account = arn.group("region"), arn.group("account")
    if not region or not re.fullmatch(r"\d{12}", account):
        return {}
    try:
        key = kms_backends[account][region].keys.get(arn.group("resource").removeprefix("key/"))
    except KeyError:  # a Region moto does not know has no keys
        return {}
    aliases = sorted(getattr(key, "aliases", None) or {})
    return {"kms:ResourceAliases": aliases} if aliases else {}


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


# DeleteObjects: POST /BUCKET?delete with <Delete><Object><Key>K</Key>[<VersionId>V</VersionId>]
# </Object>...[<Quiet>true</Quiet>]</Delete>, with or without S3's namespace. AWS authorizes every entry as
# the DeleteObject of that key would be: s3:DeleteObject on arn:aws:s3:::BUCKET/KEY, and for an entry
# with a VersionId s3:DeleteObjectVersion, with s3:VersionId (S3 API reference, DeleteObjects,
# "Permissions": https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html; the actions
# and their object resource: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html).
# That page's "you must always specify the s3:DeleteObject permission" is read as delete_object reads
# DeleteObject's identical text: a versioned entry is s3:DeleteObjectVersion alone.
#
# Where this differs from AWS: S3 decides each key separately and reports a refused key as an
# <Error><Code>AccessDenied</Code> entry of a 200 DeleteObjects answer, deleting the others; the
# gate decides the request, so one refused entry refuses the whole batch with a 403 AccessDenied
# naming that entry's action and object, and nothing in it is deleted.


class UnreadableBatch(ValueError):
    """A DeleteObjects body whose entries cannot be read with certainty."""


def delete_objects(call: Call) -> list[Check]:
    bucket = call.params.get("Bucket") or ""
    try:
        entries = delete_entries(call.params.values.get("Delete"), call.params.get("x-amz-content-sha256") or "")
    except UnreadableBatch as problem:
        # Which objects it would delete is unknown, so it is asked as the deletion of every object
        # and every version in the bucket, BUCKET/* for both actions: refused unless a grant covers
        # the whole bucket (a grant on a prefix or on named keys never does). No check is refused
        # to everyone, though: a caller granted both on the whole bucket (or "*" on "*") passes,
        # and a Deny on a narrower prefix does not match this ARN. Moto then reads the body itself
        # and mostly refuses it too (not well-formed, no Delete, entity declarations: xmltodict
        # raises); what it still deletes then is within the bucket-wide grant, only that narrower
        # Deny is not applied: the one case where this gate allows more than AWS would.
        reason = f"unreadable entries ({problem}); asked as the deletion of every object version in it"
        print(f"iam: s3:DeleteObjects on bucket {bucket}: {reason}", file=sys.stderr, flush=True)
        everything = s3_arn(call, bucket, "*")
        return [Check("s3:DeleteObject", everything), Check("s3:DeleteObjectVersion", everything)]
    checks: list[Check] = []
    for key, version in entries:
        action = "s3:DeleteObjectVersion" if version is not None else "s3:DeleteObject"
        checks.append(Check(action, s3_arn(call, bucket, key), _keys({"s3:VersionId": version})))
    return checks


def delete_entries(body: Any, content_sha256: str = "") -> list[tuple[str, str | None]]:
    """(key, version id or None) for each <Object> of a DeleteObjects body, in order.

    Unreadable (UnreadableBatch): no body, a body that is not well-formed XML, one with a document
    type declaration (the only way to declare entities, and S3 never sends one), a root other than
    Delete, an Object without exactly one non-empty Key, with more than one VersionId or an empty
    one, a Key or VersionId holding elements, no Object at all, or an aws-chunked body that does not
    decode. Element names are compared without their namespace or prefix, so the gate checks at
    least every entry moto (xmltodict, names as written) will delete; other elements are ignored."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, (bytes, bytearray)) or not body:
        raise UnreadableBatch("no body")
    if content_sha256.upper().startswith("STREAMING-"):
        body = aws_chunked_payload(bytes(body))
    root = _xml_document(bytes(body))
    if _local_name(root.tag) != "Delete":
        raise UnreadableBatch(f"the root element is {root.tag}, not Delete")
    entries: list[tuple[str, str | None]] = []
    for element in root:
        if _local_name(element.tag) != "Object":
            continue
        keys = [child for child in element if _local_name(child.tag) == "Key"]
        versions = [child for child in element if _local_name(child.tag) == "VersionId"]
        if len(keys) != 1 or len(versions) > 1 or any(len(child) for child in (*keys, *versions)):
            raise UnreadableBatch("an Object without exactly one Key, or with more than one VersionId")
        key = keys[0].text or ""
        version = (versions[0].text or "") if versions else None
        if not key or version == "":
            raise UnreadableBatch("an empty Key or VersionId")
        entries.append((key, version))
    if not entries:
        raise UnreadableBatch("no Object")
    return entries


def _xml_document(data: bytes) -> ElementTree.Element:
    """The stdlib's expat, building an ElementTree, refusing any DTD before its content is read (so
    no entity is declared, expanded or fetched; expat stops at the first handler that raises)."""
    builder = ElementTree.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator=" ")

    def no_dtd(*_: Any) -> None:
        raise UnreadableBatch("a document type declaration")

    parser.StartDoctypeDeclHandler = no_dtd
    parser.EntityDeclHandler = no_dtd
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise UnreadableBatch(f"not well-formed XML: {error}") from None
    return builder.close()


def _local_name(name: str) -> str:
    """"URI local" (expat's namespaced names, separator " ") or "local" -> "local"."""
    return name.rsplit(" ", 1)[-1]


def aws_chunked_payload(body: bytes) -> bytes:
    """The payload of an aws-chunked body: HEX-SIZE[;extensions]CRLF DATA CRLF ..., ending with a
    0-size chunk and optional trailers (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html)."""
    payload = bytearray()
    position = 0
    while True:
        end = body.find(b"\r\n", position)
        if end < 0:
            raise UnreadableBatch("an aws-chunked body without its final chunk")
        size_text = body[position:end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise UnreadableBatch("an aws-chunked body with a bad chunk size") from None
        if size == 0:
            return bytes(payload)
        start = end + 2
        if size < 0 or body[start + size : start + size + 2] != b"\r\n":
            raise UnreadableBatch("an aws-chunked body with a chunk of the wrong length")
        payload += body[start : start + size]
        position = start + size + 2


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


def cloudfront_arn(call: Call, kind: str, identifier: str | None) -> str:
    """arn:aws:cloudfront::A:KIND/ID (CloudFront's ARNs have no Region)."""
    return f"arn:{call.partition}:cloudfront::{call.account_id}:{kind}/{identifier or ''}"


def on_cloudfront(action: str, kind: str) -> Callable[[Call], list[Check]]:
    """An action on the distribution or policy the request's Id names (GET .../{Id}/config)."""

    def checks(call: Call) -> list[Check]:
        return [Check(action, cloudfront_arn(call, kind, call.params.get("Id")))]

    return checks


def on_dashboard(action: str) -> Callable[[Call], list[Check]]:
    """arn:aws:cloudwatch::A:dashboard/NAME: dashboards are global, their ARN has no Region."""

    def checks(call: Call) -> list[Check]:
        name = call.params.get("DashboardName")
        if not name:
            return [Check(action, "*")]
        return [Check(action, f"arn:{call.partition}:cloudwatch::{call.account_id}:dashboard/{name}")]

    return checks


def role_arn(call: Call) -> str:
    """The role RoleName names, with its path (arn:aws:iam::A:role/PATH/NAME), read from moto's IAM
    backend; a role that does not exist is named role/NAME (AWS answers NoSuchEntity after)."""
    name = call.params.get("RoleName")
    if not name:
        return "*"
    from moto.iam.models import iam_backends

    try:
        return str(iam_backends[call.account_id][call.partition].get_role(name).arn)
    except Exception:  # noqa: BLE001 - no such role: its path cannot be known
        return f"arn:{call.partition}:iam::{call.account_id}:role/{name}"


def on_role(action: str) -> Callable[[Call], list[Check]]:
    def checks(call: Call) -> list[Check]:
        return [Check(action, role_arn(call))]

    return checks


def on_role_policy_write(action: str) -> Callable[[Call], list[Check]]:
    """A write of a role's inline or trust policy: role*, with iam:PermissionsBoundary, the boundary the
    role carries (absent for a role without one, or one that does not exist)."""

    def checks(call: Call) -> list[Check]:
        from moto.iam.models import iam_backends

        boundary = None
        try:
            role = iam_backends[call.account_id][call.partition].get_role(call.params.get("RoleName") or "")
            boundary = getattr(role, "permissions_boundary_arn", None) or None
        except Exception:  # noqa: BLE001 - no such role: no boundary to report
            pass
        return [Check(action, role_arn(call), _keys({"iam:PermissionsBoundary": boundary}))]

    return checks


def on_policy(action: str) -> Callable[[Call], list[Check]]:
    """An action on the managed policy PolicyArn names, as given."""

    def checks(call: Call) -> list[Check]:
        return [Check(action, call.params.get("PolicyArn") or "*")]

    return checks


def on_bucket(action: str) -> Callable[[Call], list[Check]]:
    def checks(call: Call) -> list[Check]:
        return [Check(action, s3_arn(call, call.params.get("Bucket") or ""))]

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


def on_secret_value(action: str, key_action: str) -> Callable[[Call], list[Check]]:
    """`action` on the secret's ARN; under a customer managed key, Secrets Manager also uses the key with the
    caller's permissions, through itself (kms:ViaService): kms:Decrypt to read the value, kms:GenerateDataKey
    to encrypt a new one (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html)."""

    def checks(call: Call) -> list[Check]:
        found = secret(call)
        arn = secret_arn(call, found)
        context = _keys({"secretsmanager:SecretId": call.params.get("SecretId")})
        checks = [Check(action, arn, context)]
        key = customer_key_arn(call, found)
        if key:
            key_context = {
                "kms:ViaService": [f"secretsmanager.{call.region}.amazonaws.com"],
                "kms:CallerAccount": [call.account_id],
                "kms:EncryptionContext:SecretARN": [arn],
                **resource_aliases(key),
            }
            checks.append(Check(key_action, key, key_context))
        return checks

    return checks


def on_secret(action: str) -> Callable[[Call], list[Check]]:
    """An action on the secret SecretId names (name, full or partial ARN), evaluated on its full ARN."""

    def checks(call: Call) -> list[Check]:
        context = _keys({"secretsmanager:SecretId": call.params.get("SecretId")})
        return [Check(action, secret_arn(call, secret(call)), context)]

    return checks


def on_key(action: str) -> Callable[[Call], list[Check]]:
    """An action on the KMS key KeyId names, with the request's KMS condition keys: kms:CallerAccount
    always, kms:ResourceAliases when the key has aliases (`resource_aliases`), kms:RequestAlias when
    KeyId is an alias (DescribeKey only, per its row), kms:ScheduleKeyDeletionPendingWindowInDays when
    PendingWindowInDays is given (ScheduleKeyDeletion only). kms:ViaService is absent: the caller calls
    KMS itself."""

    def checks(call: Call) -> list[Check]:
        key_id = call.params.get("KeyId")
        context: Context = {"kms:CallerAccount": [call.account_id]}
        arn = _KMS_ARN.match(key_id or "")
        named = arn.group("resource") if arn else key_id  # alias/NAME, key/ID or a bare key id
        if action == "kms:DescribeKey" and named and named.startswith("alias/"):
            context["kms:RequestAlias"] = [named]
        if action == "kms:ScheduleKeyDeletion":
            window = call.params.get("PendingWindowInDays")
            context.update(_keys({"kms:ScheduleKeyDeletionPendingWindowInDays": window}))
        resource = kms_key_arn(call, key_id)
        context.update(resource_aliases(resource))
        return [Check(action, resource, context)]

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
    # Per entry of its body; see delete_objects (S3 API reference, DeleteObjects, "Permissions").
    ("s3", "DeleteObjects"): delete_objects,
    # "You must have the s3:DeleteBucket permission on the specified bucket" (S3 API reference,
    # DeleteBucket: https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucket.html); bucket*
    # in https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html.
    ("s3", "DeleteBucket"): on_bucket("s3:DeleteBucket"),
    # The bucket reads of `twinctl verify`, each bucket* in list_amazons3.html above. The actions, per
    # the S3 API reference's Permissions: GetBucketEncryption needs s3:GetEncryptionConfiguration
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketEncryption.html), GetPublicAccessBlock
    # s3:GetBucketPublicAccessBlock (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetPublicAccessBlock.html),
    # GetBucketPolicy s3:GetBucketPolicy "on the specified bucket"
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketPolicy.html); GetBucketVersioning,
    # whose page names no action, is s3:GetBucketVersioning in the S3 guide's operation-to-action
    # table (using-with-s3-policy-actions.html, above).
    ("s3", "GetBucketVersioning"): on_bucket("s3:GetBucketVersioning"),
    ("s3", "GetBucketEncryption"): on_bucket("s3:GetEncryptionConfiguration"),
    ("s3", "GetPublicAccessBlock"): on_bucket("s3:GetBucketPublicAccessBlock"),
    ("s3", "GetBucketPolicy"): on_bucket("s3:GetBucketPolicy"),
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
    # dashboard*, arn:${Partition}:cloudwatch::${Account}:dashboard/${DashboardName}
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html).
    ("cloudwatch", "GetDashboard"): on_dashboard("cloudwatch:GetDashboard"),
    ("cloudfront", "CreateInvalidation"): on_distribution("cloudfront:CreateInvalidation"),
    ("cloudfront", "GetInvalidation"): on_distribution("cloudfront:GetInvalidation"),
    # distribution*, arn:${Partition}:cloudfront::${Account}:distribution/${DistributionId}, and
    # response-headers-policy*, arn:${Partition}:cloudfront::${Account}:response-headers-policy/${Id}
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudfront.html);
    # both requests name it by Id (GET /2020-05-31/distribution/{Id}/config, .../response-headers-policy/{Id}/config).
    ("cloudfront", "GetDistributionConfig"): on_cloudfront("cloudfront:GetDistributionConfig", "distribution"),
    ("cloudfront", "GetResponseHeadersPolicyConfig"): on_cloudfront(
        "cloudfront:GetResponseHeadersPolicyConfig", "response-headers-policy"
    ),
    ("secretsmanager", "GetSecretValue"): on_secret_value("secretsmanager:GetSecretValue", "kms:Decrypt"),
    # Secret* with secretsmanager:SecretId; no KMS permission: deleting decrypts nothing
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html).
    ("secretsmanager", "DeleteSecret"): on_secret("secretsmanager:DeleteSecret"),
    ("secretsmanager", "PutSecretValue"): on_secret_value("secretsmanager:PutSecretValue", "kms:GenerateDataKey"),
    # Secret* with secretsmanager:SecretId, as DeleteSecret; describing decrypts nothing, so no KMS.
    ("secretsmanager", "DescribeSecret"): on_secret("secretsmanager:DescribeSecret"),
    # role* (arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}) for the three role reads and
    # policy* (arn:${Partition}:iam::${Account}:policy/${PolicyNameWithPath}) for the two policy reads
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html).
    ("iam", "ListRolePolicies"): on_role("iam:ListRolePolicies"),
    ("iam", "GetRolePolicy"): on_role("iam:GetRolePolicy"),
    ("iam", "ListAttachedRolePolicies"): on_role("iam:ListAttachedRolePolicies"),
    # Writes of a role's policies, role* with iam:PermissionsBoundary (same page): what the CI roles' Deny
    # statements name (role/{ProjectName}-ci-*), so that a refusal says which role it protects.
    ("iam", "PutRolePolicy"): on_role_policy_write("iam:PutRolePolicy"),
    ("iam", "DeleteRolePolicy"): on_role_policy_write("iam:DeleteRolePolicy"),
    ("iam", "UpdateAssumeRolePolicy"): on_role_policy_write("iam:UpdateAssumeRolePolicy"),
    ("iam", "GetPolicy"): on_policy("iam:GetPolicy"),
    ("iam", "GetPolicyVersion"): on_policy("iam:GetPolicyVersion"),
    # key* for all three; kms:CallerAccount, kms:ResourceAliases and kms:ViaService on each, kms:RequestAlias
    # on DescribeKey, kms:ScheduleKeyDeletionPendingWindowInDays on ScheduleKeyDeletion
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awskeymanagementservice.html,
    # https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html).
    ("kms", "DescribeKey"): on_key("kms:DescribeKey"),
    ("kms", "ScheduleKeyDeletion"): on_key("kms:ScheduleKeyDeletion"),
    ("kms", "CancelKeyDeletion"): on_key("kms:CancelKeyDeletion"),
    ("logs", "FilterLogEvents"): on_log_group("logs:FilterLogEvents"),
    # log-group* (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html).
    ("logs", "DeleteLogGroup"): on_log_group("logs:DeleteLogGroup"),
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
