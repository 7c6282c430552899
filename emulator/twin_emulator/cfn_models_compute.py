"""CloudFormation models for the function and its logs: AWS::Lambda::Function, AWS::Lambda::Alias,
AWS::Lambda::Permission and AWS::Logs::LogGroup.

The gaps they fill in moto 5.2.5:
  * Lambda::Function drops Architectures (and TracingConfig, EphemeralStorage, KmsKeyArn, Tags)
    on create and ignores Architectures and a removed Environment on update.
  * Lambda::Alias has no model at all.
  * Lambda::Permission has no Ref, no update (it becomes null after a stack update) and no delete
    (the statement outlives the stack); it also drops the alias qualifier of the FunctionName.
  * Logs::LogGroup drops KmsKeyId (moto reads "kmsKeyId"), has no update (after a stack update that
    changes RetentionInDays the resource becomes null) and returns an ARN without the ":*" suffix
    CloudFormation's Arn attribute has.

Each model owns its type's create, in-place update and delete, and declares `replaced_by` (AWS's
"Update requires: Replacement" properties); whether an update replaces the resource is decided,
and the replacement carried out, by the engine (cfn_engine.py), not here.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda.utils import get_backend
from moto.core.common_models import CloudFormationModel
from moto.logs.models import LogsBackend, logs_backends
from moto.s3.models import s3_backends

from .cfn_base import Env, StackResource, as_int, ignore_missing, tag_map


def lambdas(env: Env) -> LambdaBackend:
    # The backend the Lambda API serves: moto switches to a separate one ("lambda_simple") when the
    # emulator is configured with {"lambda": {"use_docker": false}}, as scripts/emulator does.
    return get_backend(env.account_id, env.region_name)


def logs(env: Env) -> LogsBackend:
    return logs_backends[env.account_id][env.region_name]


def split_qualifier(function_name: str) -> tuple[str, str | None]:
    """A FunctionName may be a name, an ARN, or either with ":alias-or-version": split the qualifier off."""
    tail = function_name.split(":function:")[-1]
    if ":" in tail:
        base, qualifier = function_name.rsplit(":", 1)
        return base, qualifier
    return function_name, None


# Template property -> key of moto's CreateFunction spec, for the properties copied as they are.
FUNCTION_SPEC_KEYS = {
    "Description": "Description",
    "Handler": "Handler",
    "Runtime": "Runtime",
    "Role": "Role",
    "MemorySize": "MemorySize",
    "Timeout": "Timeout",
    "VpcConfig": "VpcConfig",
    "Environment": "Environment",
    "Architectures": "Architectures",
    "Layers": "Layers",
    "TracingConfig": "TracingConfig",
    "EphemeralStorage": "EphemeralStorage",
    "KmsKeyArn": "KMSKeyArn",
    "PackageType": "PackageType",
    "ImageConfig": "ImageConfig",
    "ReservedConcurrentExecutions": "ReservedConcurrentExecutions",
}


def check_code_object(env: Env, code: dict[str, Any]) -> None:
    """Refuse an S3 code location that does not exist, as Lambda does (moto accepts it: its S3
    get_object answers None for a missing key instead of raising)."""
    if "S3Bucket" not in code:
        return
    try:
        found = s3_backends[env.account_id][env.partition].get_object(
            code["S3Bucket"], code["S3Key"], version_id=code.get("S3ObjectVersion")
        )
    except Exception:  # noqa: BLE001 - MissingBucket
        raise InvalidParameterValueException(
            "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not exist"
        )
    if found is None:
        raise InvalidParameterValueException(
            "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist."
        )


def function_code(code: dict[str, Any]) -> dict[str, Any]:
    """Code in the template's shape -> CreateFunction's (inline ZipFile is source text, not a zip)."""
    code = dict(code)
    if "ZipFile" in code:
        code["ZipFile"] = base64.b64encode(LambdaFunction._create_zipfile_from_plaintext_code(code["ZipFile"]))
    return code


class Function(StackResource, CloudFormationModel):
    """AWS::Lambda::Function: Ref is the function name."""

    cfn_type = "AWS::Lambda::Function"
    name_property = "FunctionName"
    replaced_by = ("FunctionName", "PackageType")
    getatts = ("Arn",)

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> Function:
        check_code_object(env, props["Code"])
        spec: dict[str, Any] = {"FunctionName": name, "Code": function_code(props["Code"])}
        for prop, key in FUNCTION_SPEC_KEYS.items():
            if prop in props:
                spec[key] = props[prop]
        if "Tags" in props:
            spec["Tags"] = tag_map(props["Tags"])
        fn = lambdas(env).create_function(spec)
        resource = cls(env, fn.function_name, Arn=fn.function_arn)
        resource.props = props
        return resource

    def update(self, props: dict[str, Any]) -> None:
        if props["Code"] != self.props.get("Code"):
            check_code_object(self.env, props["Code"])
        fn = lambdas(self.env).get_function(self.physical_resource_id)
        fn.update_configuration({k: v for k, v in props.items() if k not in ("Code", "Environment")})
        # What update_configuration ignores:
        fn.environment_vars = (props.get("Environment") or {}).get("Variables", {})
        fn.architectures = props.get("Architectures", ["x86_64"])
        fn.tracing_config = props.get("TracingConfig") or {"Mode": "PassThrough"}
        if props["Code"] != self.props.get("Code"):
            fn.update_function_code(function_code(props["Code"]))
        self.props = props

    def remove(self) -> None:
        ignore_missing(lambdas(self.env).delete_function, self.physical_resource_id)


class Alias(StackResource, CloudFormationModel):
    """AWS::Lambda::Alias: Ref is the alias ARN. FunctionVersion is "$LATEST" or a published
    version (which must exist); an update moves the alias."""

    cfn_type = "AWS::Lambda::Alias"
    replaced_by = ("FunctionName", "Name")
    getatts = ("AliasArn",)

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> Alias:
        alias = lambdas(env).create_alias(
            name=props["Name"],
            function_name=props["FunctionName"],
            function_version=str(props["FunctionVersion"]),
            description=props.get("Description", ""),
            routing_config=props.get("RoutingConfig"),
        )
        resource = cls(env, alias.arn, AliasArn=alias.arn)
        resource.function_name = props["FunctionName"]
        resource.name = props["Name"]
        return resource

    def update(self, props: dict[str, Any]) -> None:
        lambdas(self.env).update_alias(
            name=self.name,
            function_name=self.function_name,
            function_version=str(props["FunctionVersion"]),
            description=props.get("Description", ""),
            routing_config=props.get("RoutingConfig"),
        )

    def remove(self) -> None:
        ignore_missing(lambdas(self.env).delete_alias, self.name, self.function_name)


class Permission(StackResource, CloudFormationModel):
    """AWS::Lambda::Permission: one statement in the function's (or alias's) resource policy,
    its statement id being the resource's physical id. Every property change replaces it."""

    cfn_type = "AWS::Lambda::Permission"
    replaced_by = ("*",)

    # Template property -> AddPermission request field.
    REQUEST_FIELDS = (
        "Action",
        "Principal",
        "SourceArn",
        "SourceAccount",
        "EventSourceToken",
        "FunctionUrlAuthType",
        "PrincipalOrgID",
    )

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> Permission:
        function_name, qualifier = split_qualifier(props["FunctionName"])
        request = {"StatementId": name}
        request.update({field: props[field] for field in cls.REQUEST_FIELDS if field in props})
        lambdas(env).add_permission(function_name, qualifier, json.dumps(request))
        resource = cls(env, name)
        resource.function_name, resource.qualifier = function_name, qualifier
        return resource

    def update(self, props: dict[str, Any]) -> None:
        """Every property replaces a permission, so an in-place update has nothing to change (the
        engine calls it only to re-apply unchanged properties, e.g. in a rollback)."""

    def remove(self) -> None:
        def remove_statement() -> None:
            fn = lambdas(self.env).get_function(self.function_name, self.qualifier)
            fn.policy.del_statement(self.physical_resource_id)

        ignore_missing(remove_statement)


class LogGroup(StackResource, CloudFormationModel):
    """AWS::Logs::LogGroup with RetentionInDays and KmsKeyId, updated in place. Ref is the name."""

    cfn_type = "AWS::Logs::LogGroup"
    name_property = "LogGroupName"
    replaced_by = ("LogGroupName",)
    getatts = ("Arn",)

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> LogGroup:
        options: dict[str, Any] = {}
        if "RetentionInDays" in props:
            options["RetentionInDays"] = as_int(props["RetentionInDays"])
        if "KmsKeyId" in props:
            options["kmsKeyId"] = props["KmsKeyId"]
        group = logs(env).create_log_group(name, tag_map(props.get("Tags")), **options)
        # CloudFormation's Arn attribute ends in ":*" (the ARN of the group's streams).
        return cls(env, group.name, Arn=f"{group.arn}:*")

    def update(self, props: dict[str, Any]) -> None:
        group = logs(self.env).groups[self.physical_resource_id]
        group.set_retention_policy(as_int(props.get("RetentionInDays")))
        group.kms_key_id = props.get("KmsKeyId")

    def remove(self) -> None:
        ignore_missing(logs(self.env).delete_log_group, self.physical_resource_id)


MODELS = [Function, Alias, Permission, LogGroup]
