"""What a stack's RoleARN must allow for the engine to create, update or delete one resource, and the
check itself (IAM enforcement, `TWIN_EMULATOR_IAM=enforce`).

On AWS, CloudFormation runs every resource handler as the stack's role (session
`arn:aws:sts::ACCOUNT:assumed-role/ROLE/AWSCloudFormation`), so a handler call the role does not allow
fails that resource and the stack rolls back. This module owns:

  * which IAM actions each operation calls: the `create`/`update`/`delete` handler permissions of the
    type's registry schema, as the committed extract data/handler_permissions.json gives them (generated
    from cfn-lint's schemas by templates/tests/extract_handler_permissions.py; the emulator's venv has no
    cfn-lint), minus the actions templates/execution-role-waivers.yaml waives (each with the reason the
    twin's templates never make that call; `TWIN_EMULATOR_WAIVERS` names another file);
  * on which resource, with which condition keys, each action is evaluated (the table below);
  * the check: `iam_policy.evaluate` for each request, and on a denial an error worded as CloudFormation
    words a handler's AccessDenied.
It does not decide when to check (the engine, cfn_engine.py, calls it) and evaluates no resource-based
policy (key policies, bucket policies): identity policies and the role's boundary only.

Resources (R = region, A = account; "—" = that action is not evaluated for these properties, because
the handler only calls it when the property is set):

  type                           own-service actions                           others
  ApiGatewayV2::Api              POST: arn:aws:apigateway:R::/apis;            s3:GetObject: BodyS3Location
                                 else /apis/{id}                               object, or —
  ApiGatewayV2::Integration      POST: /apis/{ApiId}/integrations;             iam:PassRole: CredentialsArn
                                 else .../integrations/{id}                    (PassedToService apigateway), or —
  ApiGatewayV2::Route            POST: /apis/{ApiId}/routes; else .../routes/{id}
  ApiGatewayV2::Stage            POST: /apis/{ApiId}/stages; else .../stages/{StageName}
  CloudFront::Distribution       arn:aws:cloudfront::A:distribution/{id}
  CloudFront::OriginAccessControl  ...:origin-access-control/{id}
  CloudFront::ResponseHeadersPolicy  ...:response-headers-policy/{id}
  CloudWatch::Alarm              arn:aws:cloudwatch:R:A:alarm:{AlarmName}
  CloudWatch::Dashboard          arn:aws:cloudwatch::A:dashboard/{DashboardName}
  IAM::Role                      arn:aws:iam::A:role{Path}{RoleName}, with     —
                                 iam:PermissionsBoundary (the role's) on the
                                 boundary-governed writes; Attach/DetachRolePolicy
                                 once per ManagedPolicyArns entry (iam:PolicyARN), or —
  IAM::ManagedPolicy             arn:aws:iam::A:policy{Path}{ManagedPolicyName};
                                 Attach/Detach{Role,User,Group}Policy: each named role/user/group, or —
  IAM::OIDCProvider              arn:aws:iam::A:oidc-provider/{Url without https://}
  KMS::Key                       arn:aws:kms:R:A:key/{id}
  KMS::Alias                     arn:aws:kms:R:A:{AliasName} and the TargetKeyId key (both, as KMS authorizes)
  Lambda::Function               arn:aws:lambda:R:A:function:{FunctionName}    iam:PassRole: Role (PassedToService
                                                                               lambda); s3:GetObject(Version):
                                                                               Code.S3Bucket/S3Key, or —; kms:*:
                                                                               KmsKeyArn, or —; ec2:*: "*" with
                                                                               VpcConfig, or —
  Lambda::Alias                  {function ARN}:{Name}                         codedeploy:* "*"
  Lambda::Permission             the FunctionName function (or qualified) ARN
  Logs::LogGroup                 arn:aws:logs:R:A:log-group:{LogGroupName}     s3:REST.PUT.OBJECT, firehose:* "*"
  S3::Bucket                     arn:aws:s3:::{name}; *Object* actions:        iam:PassRole: the replication Role,
                                 arn:aws:s3:::{name}/*                         or —; s3tables:* "*"
  S3::BucketPolicy               arn:aws:s3:::{Bucket}
  SNS::Topic                     arn:aws:sns:R:A:{TopicName}                   iam:GetRole/PassRole: the
                                                                               DeliveryStatusLogging roles, or —
  SNS::Subscription              Subscribe: TopicArn; else the subscription    iam:GetRole/PassRole:
                                 ARN                                           SubscriptionRoleArn, or —
  SecretsManager::Secret         the secret's ARN (with its random suffix)
  WAFv2::WebACL                  the web ACL's ARN                             payments:* "*"

Evaluated against "*" (an approximation where AWS would name a resource):
  * every action the Service Authorization Reference gives no resource-level permission
    (data/handler_permissions.json lists them: kms:CreateKey, cloudfront:Create*, logs:Describe*, ...) —
    exactly as AWS;
  * the cross-service actions marked "*" above (ec2:Describe* with VpcConfig, codedeploy:*, s3tables:*,
    firehose:*, payments:*, s3:REST.PUT.OBJECT) and any cross-service action of a type not in the table;
  * every action of a resource type not in the table (bootstrap/environment-access types are in it).
Further approximations: wafv2:CreateWebACL/UpdateWebACL are evaluated on the web ACL only, not also on the
managed rule groups it references; the request context carries only aws:PrincipalArn,
aws:PrincipalAccount, aws:RequestedRegion, aws:SecureTransport and the keys named above (no aws:RequestTag,
aws:TagKeys, aws:ResourceTag, kms:ViaService); what a service calls with the caller's permissions outside
the handler schemas (execution-role-waivers.yaml `granted_outside_handlers`, e.g. API Gateway's log
delivery, Secrets Manager's kms:GenerateDataKey) is not evaluated; read handlers are not evaluated.

A resource type the extract does not know (none of the three templates uses it) is not checked.

An ARN that needs the id the service assigns (a KMS key, a CloudFront distribution, an API, a secret's
suffix, a web ACL) is evaluated right after the create call, with the id the model recorded; on a denial
the engine deletes what it created (see cfn_engine.py).
"""

from __future__ import annotations

import functools
import json
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from . import iam_policy
from .iam_policy import Decision, Principal, Request

EXTRACT = Path(__file__).resolve().parent / "data" / "handler_permissions.json"
DEFAULT_WAIVERS = Path(__file__).resolve().parents[2] / "templates" / "execution-role-waivers.yaml"
WAIVERS_ENV = "TWIN_EMULATOR_WAIVERS"
# The session name CloudFormation gives the role it assumes for a stack operation.
SESSION_NAME = "AWSCloudFormation"


# --- the data --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def extract() -> dict[str, Any]:
    return json.loads(EXTRACT.read_text(encoding="utf-8"))


def handler_actions(resource_type: str, operation: str) -> list[str]:
    """The handler permissions of one operation ("create", "update", "delete") of a type; [] for a
    type the extract does not know (nothing to evaluate, see `check`)."""
    return list(extract()["resource_types"].get(resource_type, {}).get(operation, []))


def waivers_path() -> Path:
    return Path(os.environ.get(WAIVERS_ENV) or DEFAULT_WAIVERS)


@functools.lru_cache(maxsize=8)
def _waived(path: Path, mtime: float) -> frozenset[str]:
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return frozenset(str(entry["action"]).lower() for entry in document.get("waived") or [])


def waived_actions() -> frozenset[str]:
    """Lower-case names of the actions the waivers file waives. Without the repository's file (an
    emulator run from elsewhere) none is waived, which only makes the check stricter; a file named by
    TWIN_EMULATOR_WAIVERS must exist."""
    path = waivers_path()
    if not path.is_file():
        if os.environ.get(WAIVERS_ENV):
            raise FileNotFoundError(f"{WAIVERS_ENV}={path}: no such waivers file")
        return frozenset()
    return _waived(path, path.stat().st_mtime)


@functools.lru_cache(maxsize=None)
def _lower_set(name: str) -> frozenset[str]:
    return frozenset(a.lower() for a in extract()[name])


def without_resource_level_permissions() -> frozenset[str]:
    """Lower-case names of the handler actions AWS authorizes against "*" (no resource-level permission)."""
    return _lower_set("actions_without_resource_level_permissions")


# --- what is acted on ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The resource an operation acts on. `name`: its physical name before a create (the name property,
    or the generated "{stack}-{logical id}-{suffix}"), else its physical id. `physical_id` is None until
    the resource exists; `attributes` are the GetAtt values its model recorded."""

    partition: str
    account_id: str
    region: str
    resource_type: str
    name: str
    properties: Mapping[str, Any]
    physical_id: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def arn(self, service: str, resource: str, region: str | None = None, account: str | None = None) -> str:
        region = self.region if region is None else region
        account = self.account_id if account is None else account
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"

    def prop(self, *path: str) -> Any:
        value: Any = self.properties
        for step in path:
            value = value.get(step) if isinstance(value, Mapping) else None
        return value


DEFERRED = None  # an ARN that needs the id the service assigns: evaluated after the create call
OwnArn = Callable[[Target], "str | None"]


def _known(target: Target, build: Callable[[str], str]) -> str | None:
    return build(target.physical_id) if target.physical_id else DEFERRED


def _apigateway(target: Target, path: str) -> str:
    return target.arn("apigateway", path, account="")


def _api_child(collection: str) -> OwnArn:
    def arn(target: Target) -> str | None:
        return _known(target, lambda pid: _apigateway(target, f"/apis/{target.prop('ApiId')}/{collection}/{pid}"))

    return arn


def _function_arn(target: Target, name: str) -> str:
    return name if name.startswith("arn:") else target.arn("lambda", f"function:{name}")


def _role_name(target: Target) -> str:
    # As cfn_models_security.Role.create names a role: a generated name over IAM's 64 characters keeps
    # its random suffix.
    name = target.name
    if target.physical_id is None and "RoleName" not in target.properties and len(name) > 64:
        name = name[:51] + name[-13:]
    return name


def _role_arn(target: Target) -> str:
    return target.arn("iam", f"role{target.prop('Path') or '/'}{_role_name(target)}", region="")


def _managed_policy_arn(target: Target) -> str:
    if target.physical_id:
        return target.physical_id  # the model's physical id is the policy ARN
    return target.arn("iam", f"policy{target.prop('Path') or '/'}{target.name}", region="")


def _oidc_provider_arn(target: Target) -> str:
    url = str(target.prop("Url") or "")
    return target.physical_id or target.arn("iam", f"oidc-provider/{url.split('://', 1)[-1]}", region="")


def _key_arn(target: Target, key: str) -> str:
    if key.startswith("arn:"):
        return key
    return target.arn("kms", key if key.startswith("alias/") else f"key/{key}")


OWN_ARNS: dict[str, OwnArn] = {
    "AWS::ApiGatewayV2::Api": lambda t: _known(t, lambda pid: _apigateway(t, f"/apis/{pid}")),
    "AWS::ApiGatewayV2::Integration": _api_child("integrations"),
    "AWS::ApiGatewayV2::Route": _api_child("routes"),
    "AWS::ApiGatewayV2::Stage": lambda t: _apigateway(t, f"/apis/{t.prop('ApiId')}/stages/{t.prop('StageName')}"),
    "AWS::CloudFront::Distribution": lambda t: _known(
        t, lambda pid: t.arn("cloudfront", f"distribution/{pid}", region="")),
    "AWS::CloudFront::OriginAccessControl": lambda t: _known(
        t, lambda pid: t.arn("cloudfront", f"origin-access-control/{pid}", region="")),
    "AWS::CloudFront::ResponseHeadersPolicy": lambda t: _known(
        t, lambda pid: t.arn("cloudfront", f"response-headers-policy/{pid}", region="")),
    "AWS::CloudWatch::Alarm": lambda t: t.arn("cloudwatch", f"alarm:{t.name}"),
    "AWS::CloudWatch::Dashboard": lambda t: t.arn("cloudwatch", f"dashboard/{t.name}", region=""),
    "AWS::IAM::Role": _role_arn,
    "AWS::IAM::ManagedPolicy": _managed_policy_arn,
    "AWS::IAM::OIDCProvider": _oidc_provider_arn,
    "AWS::KMS::Key": lambda t: _known(t, lambda pid: t.arn("kms", f"key/{pid}")),
    "AWS::KMS::Alias": lambda t: t.arn("kms", str(t.prop("AliasName") or t.name)),
    "AWS::Lambda::Function": lambda t: _function_arn(t, t.name),
    "AWS::Lambda::Alias": lambda t: f"{_function_arn(t, str(t.prop('FunctionName')))}:{t.prop('Name')}",
    "AWS::Lambda::Permission": lambda t: _function_arn(t, str(t.prop("FunctionName"))),
    "AWS::Logs::LogGroup": lambda t: t.arn("logs", f"log-group:{t.name}"),
    "AWS::S3::Bucket": lambda t: f"arn:{t.partition}:s3:::{t.name}",
    "AWS::S3::BucketPolicy": lambda t: f"arn:{t.partition}:s3:::{t.prop('Bucket')}",
    "AWS::SNS::Topic": lambda t: t.physical_id or t.arn("sns", t.name),
    "AWS::SNS::Subscription": lambda t: t.physical_id or DEFERRED,
    "AWS::SecretsManager::Secret": lambda t: t.physical_id or DEFERRED,
    "AWS::WAFv2::WebACL": lambda t: t.attributes.get("Arn") or DEFERRED,
}

# The IAM service prefix of each type's own actions, and the service name in its SDK's error messages.
SERVICES: dict[str, tuple[str, str]] = {
    "ApiGatewayV2": ("apigateway", "ApiGatewayV2"),
    "CloudFront": ("cloudfront", "CloudFront"),
    "CloudWatch": ("cloudwatch", "CloudWatch"),
    "IAM": ("iam", "Iam"),
    "KMS": ("kms", "Kms"),
    "Lambda": ("lambda", "Lambda"),
    "Logs": ("logs", "CloudWatchLogs"),
    "S3": ("s3", "S3"),
    "SNS": ("sns", "Sns"),
    "SecretsManager": ("secretsmanager", "SecretsManager"),
    "WAFv2": ("wafv2", "Wafv2"),
}


def _service(resource_type: str) -> tuple[str, str]:
    family = resource_type.split("::")[1]
    return SERVICES.get(family, (family.lower(), family))


# --- actions whose resource is not the type's own ARN ------------------------------------------------

Planned = list[Request] | None  # None: deferred until the resource exists; []: not called


def _pass_role(role: Any, service: str) -> list[Request]:
    if not role:
        return []
    return [Request("iam:PassRole", str(role), {"iam:PassedToService": [service]})]


def _object(target: Target, bucket: Any, key: Any) -> list[Request]:
    return [Request("", f"arn:{target.partition}:s3:::{bucket}/{key}")] if bucket and key else []


def _roles_of_topic(target: Target) -> list[str]:
    roles = []
    for logging in target.prop("DeliveryStatusLogging") or []:
        roles += [logging.get(k) for k in ("SuccessFeedbackRoleArn", "FailureFeedbackRoleArn") if logging.get(k)]
    return roles


def _alias_and_key(target: Target) -> Planned:
    key = target.prop("TargetKeyId")
    requests = [Request("", OWN_ARNS["AWS::KMS::Alias"](target) or "")]
    return requests + ([Request("", _key_arn(target, str(key)))] if key else [])


def _iam_names(target: Target, prop: str, kind: str) -> list[Request]:
    policy = _managed_policy_arn(target)
    return [
        Request("", target.arn("iam", f"{kind}/{name}", region=""), {"iam:PolicyARN": [policy]})
        for name in target.prop(prop) or []
    ]


def _role_attachments(target: Target) -> list[Request]:
    role = _role_arn(target)
    return [Request("", role, {"iam:PolicyARN": [str(arn)]}) for arn in target.prop("ManagedPolicyArns") or []]


def _api_collection(collection: str) -> Callable[[Target], Planned]:
    def plan(target: Target) -> Planned:
        path = "/apis" if not collection else f"/apis/{target.prop('ApiId')}/{collection}"
        return [Request("", _apigateway(target, path))]

    return plan


# (type, lower-case action) -> the requests; the action field "" is filled in with the action.
SPECIAL: dict[tuple[str, str], Callable[[Target], Planned]] = {
    ("AWS::ApiGatewayV2::Api", "apigateway:post"): _api_collection(""),
    ("AWS::ApiGatewayV2::Integration", "apigateway:post"): _api_collection("integrations"),
    ("AWS::ApiGatewayV2::Route", "apigateway:post"): _api_collection("routes"),
    ("AWS::ApiGatewayV2::Stage", "apigateway:post"): _api_collection("stages"),
    ("AWS::ApiGatewayV2::Api", "s3:getobject"): lambda t: _object(
        t, t.prop("BodyS3Location", "Bucket"), t.prop("BodyS3Location", "Key")),
    ("AWS::ApiGatewayV2::Integration", "iam:passrole"): lambda t: _pass_role(
        t.prop("CredentialsArn"), "apigateway.amazonaws.com"),
    ("AWS::Lambda::Function", "iam:passrole"): lambda t: _pass_role(t.prop("Role"), "lambda.amazonaws.com"),
    ("AWS::Lambda::Function", "s3:getobject"): lambda t: _object(
        t, t.prop("Code", "S3Bucket"), t.prop("Code", "S3Key")),
    ("AWS::Lambda::Function", "s3:getobjectversion"): lambda t: _object(
        t, t.prop("Code", "S3Bucket"), t.prop("Code", "S3Key")) if t.prop("Code", "S3ObjectVersion") else [],
    **{
        ("AWS::Lambda::Function", f"kms:{name}"): (
            lambda t: [Request("", _key_arn(t, str(t.prop("KmsKeyArn"))))] if t.prop("KmsKeyArn") else []
        )
        for name in ("creategrant", "decrypt", "describekey", "encrypt", "generatedatakey")
    },
    **{
        ("AWS::Lambda::Function", f"ec2:{name}"): (lambda t: [Request("", "*")] if t.prop("VpcConfig") else [])
        for name in ("describesecuritygroups", "describesubnets", "describevpcs", "describenetworkinterfaces")
    },
    ("AWS::Lambda::Function", "lambda:getlayerversion"): lambda t: [
        Request("", str(layer)) for layer in t.prop("Layers") or []],
    ("AWS::Lambda::Function", "lambda:getcodesigningconfig"): lambda t: (
        [Request("", str(t.prop("CodeSigningConfigArn")))] if t.prop("CodeSigningConfigArn") else []),
    ("AWS::KMS::Alias", "kms:createalias"): _alias_and_key,
    ("AWS::KMS::Alias", "kms:updatealias"): _alias_and_key,
    ("AWS::KMS::Alias", "kms:deletealias"): _alias_and_key,
    ("AWS::IAM::Role", "iam:attachrolepolicy"): _role_attachments,
    ("AWS::IAM::Role", "iam:detachrolepolicy"): _role_attachments,
    ("AWS::IAM::ManagedPolicy", "iam:attachrolepolicy"): lambda t: _iam_names(t, "Roles", "role"),
    ("AWS::IAM::ManagedPolicy", "iam:detachrolepolicy"): lambda t: _iam_names(t, "Roles", "role"),
    ("AWS::IAM::ManagedPolicy", "iam:attachuserpolicy"): lambda t: _iam_names(t, "Users", "user"),
    ("AWS::IAM::ManagedPolicy", "iam:detachuserpolicy"): lambda t: _iam_names(t, "Users", "user"),
    ("AWS::IAM::ManagedPolicy", "iam:attachgrouppolicy"): lambda t: _iam_names(t, "Groups", "group"),
    ("AWS::IAM::ManagedPolicy", "iam:detachgrouppolicy"): lambda t: _iam_names(t, "Groups", "group"),
    ("AWS::S3::Bucket", "iam:passrole"): lambda t: _pass_role(
        t.prop("ReplicationConfiguration", "Role"), "s3.amazonaws.com"),
    ("AWS::SNS::Topic", "iam:getrole"): lambda t: [Request("", str(r)) for r in _roles_of_topic(t)],
    ("AWS::SNS::Topic", "iam:passrole"): lambda t: [
        r for role in _roles_of_topic(t) for r in _pass_role(role, "sns.amazonaws.com")],
    ("AWS::SNS::Subscription", "sns:subscribe"): lambda t: [Request("", str(t.prop("TopicArn")))],
    ("AWS::SNS::Subscription", "iam:getrole"): lambda t: (
        [Request("", str(t.prop("SubscriptionRoleArn")))] if t.prop("SubscriptionRoleArn") else []),
    ("AWS::SNS::Subscription", "iam:passrole"): lambda t: _pass_role(
        t.prop("SubscriptionRoleArn"), "sns.amazonaws.com"),
}


def _own(target: Target, action: str) -> Planned:
    arn = OWN_ARNS[target.resource_type](target) if target.resource_type in OWN_ARNS else "*"
    if arn is DEFERRED:
        return None
    if target.resource_type == "AWS::S3::Bucket" and "object" in action.lower():
        arn = f"{arn}/*"  # object-level actions name objects of the bucket
    context = {}
    if target.resource_type == "AWS::IAM::Role" and target.prop("PermissionsBoundary") and action.lower() in _lower_set(
        "boundary_governed_role_writes"
    ):
        context["iam:PermissionsBoundary"] = [str(target.prop("PermissionsBoundary"))]
    return [Request("", arn, context)]


def _requests(target: Target, action: str) -> Planned:
    """The requests one handler permission makes (resource and context), None while deferred."""
    lowered = action.lower()
    if lowered in without_resource_level_permissions():
        planned: Planned = [Request("", "*")]
    elif (target.resource_type, lowered) in SPECIAL:
        planned = SPECIAL[(target.resource_type, lowered)](target)
    elif action.split(":", 1)[0].lower() == _service(target.resource_type)[0]:
        planned = _own(target, action)
    else:
        planned = [Request("", "*")]
    if planned is None:
        return None
    return [replace(request, action=action) for request in planned]


@dataclass(frozen=True)
class Plan:
    """The requests to evaluate now, and the actions to evaluate once the resource exists."""

    requests: tuple[Request, ...]
    deferred: tuple[str, ...]


def plan(target: Target, operation: str, only: Iterable[str] | None = None) -> Plan:
    """The requests an operation's handler makes (waived actions left out). `only`: the actions a
    previous `plan` deferred, now that `target.physical_id` is known."""
    waived = waived_actions()
    actions = [a for a in handler_actions(target.resource_type, operation) if a.lower() not in waived]
    if only is not None:
        wanted = {a.lower() for a in only}
        actions = [a for a in actions if a.lower() in wanted]
    requests: list[Request] = []
    deferred: list[str] = []
    for action in actions:
        planned = _requests(target, action)
        if planned is None:
            deferred.append(action)
        else:
            requests += planned
    return Plan(tuple(requests), tuple(deferred))


# --- the check ---------------------------------------------------------------------------------------


class HandlerAccessDenied(Exception):
    """A handler call the stack's role does not allow, worded as CloudFormation reports it."""

    def __init__(self, decision: Decision, service: str):
        self.decision = decision
        # The shape of a CloudFormation resource status reason for a denied handler call, e.g.
        #   Resource handler returned message: "User: arn:aws:sts::…:assumed-role/…/AWSCloudFormation is not
        #   authorized to perform: … because no identity-based policy allows the … action (Service: AutoScaling,
        #   Status Code: 403, Request ID: …)" (RequestToken: …, HandlerErrorCode: AccessDenied)
        # (as quoted from real stack events in public issue threads).
        self.message = (
            f'Resource handler returned message: "{decision.reason} (Service: {service}, Status Code: 403, '
            f'Request ID: {uuid.uuid4()})" (RequestToken: {uuid.uuid4()}, HandlerErrorCode: AccessDenied)'
        )
        super().__init__(self.message)


def session_arn(role_arn: str) -> str:
    """The session CloudFormation's calls are made with:
    arn:PARTITION:sts::ACCOUNT:assumed-role/NAME/AWSCloudFormation."""
    parts = role_arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("role/"):
        raise iam_policy.UnknownPrincipal(f"{role_arn} is not a role ARN")
    return f"arn:{parts[1]}:sts::{parts[4]}:assumed-role/{parts[5].rsplit('/', 1)[-1]}/{SESSION_NAME}"


class RoleCannotBeAssumed(Exception):
    """The stack's RoleARN names no role of the account (deleted since, or never there)."""

    def __init__(self, role_arn: str):
        self.message = f"Role {role_arn} is invalid or cannot be assumed"
        super().__init__(self.message)


def caller(account_id: str, role_arn: str) -> Principal:
    try:
        return iam_policy.principal(account_id, session_arn(role_arn))
    except iam_policy.UnknownPrincipal as error:
        raise RoleCannotBeAssumed(role_arn) from error


def _global_context(principal_arn: str, target: Target) -> dict[str, list[str]]:
    return {
        "aws:PrincipalArn": [principal_arn],
        "aws:PrincipalAccount": [target.account_id],
        "aws:RequestedRegion": [target.region],
        "aws:SecureTransport": ["true"],
    }


def check(role_arn: str, target: Target, operation: str, only: Iterable[str] | None = None) -> tuple[str, ...]:
    """Evaluate what `operation` on `target` calls as the stack's role; raise HandlerAccessDenied on
    the first denial. Returns the actions deferred until the resource exists (see `plan`)."""
    todo = plan(target, operation, only)
    if not todo.requests:
        return todo.deferred
    principal = caller(target.account_id, role_arn)
    context = _global_context(role_arn, target)
    for request in todo.requests:
        decision = iam_policy.evaluate(principal, replace(request, context={**context, **request.context}))
        if not decision.allowed:
            raise HandlerAccessDenied(decision, _service(target.resource_type)[1])
    return todo.deferred
