"""CloudFormation models for keys, secrets and identities: AWS::KMS::Key, AWS::KMS::Alias,
AWS::SecretsManager::Secret, AWS::IAM::Role, AWS::IAM::ManagedPolicy and AWS::IAM::OIDCProvider.

The gaps they fill in moto 5.2.5:
  * KMS::Key stores KeyPolicy as a dict (GetKeyPolicy then fails), has no update (after any stack
    update touching it the resource becomes null) and deletes the key outright instead of
    scheduling its deletion.
  * KMS::Alias cannot be updated (moto's update returns None) and has no delete tolerance.
  * SecretsManager::Secret and IAM::OIDCProvider have no model at all.
  * IAM::Role stores inline Policies as dicts (GetRolePolicy then fails), ignores
    ManagedPolicyArns, and its update only touches the description.
  * IAM::ManagedPolicy has no update (the stack's record of it becomes null) and no delete (the
    policy outlives its stack, so recreating the stack fails on the name).

Each model owns its type's create, in-place update and delete, and declares `replaced_by` (AWS's
"Update requires: Replacement" properties); whether an update replaces the resource is decided,
and the replacement carried out, by the engine (cfn_engine.py), not here.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.iam.models import IAMBackend, iam_backends
from moto.kms.models import KmsBackend, kms_backends
from moto.moto_api._internal import mock_random
from moto.secretsmanager.models import SecretsManagerBackend, secretsmanager_backends

from .cfn_base import Env, StackResource, as_bool, as_int, as_json_text, ignore_missing, tag_list


def kms(env: Env) -> KmsBackend:
    return kms_backends[env.account_id][env.region_name]


def iam(env: Env) -> IAMBackend:
    return iam_backends[env.account_id][env.partition]


def secrets(env: Env) -> SecretsManagerBackend:
    return secretsmanager_backends[env.account_id][env.region_name]


class Key(StackResource, CloudFormationModel):
    """AWS::KMS::Key: Ref is the key id; deletion schedules it (PendingWindowInDays, default 30)."""

    cfn_type = "AWS::KMS::Key"
    getatts = ("Arn", "KeyId")

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> Key:
        key = kms(env).create_key(
            policy=as_json_text(props["KeyPolicy"]) if "KeyPolicy" in props else None,
            key_usage=props.get("KeyUsage", "ENCRYPT_DECRYPT"),
            key_spec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
            description=props.get("Description", ""),
            tags=[{"TagKey": t["Key"], "TagValue": t["Value"]} for t in tag_list(props.get("Tags"))],
            multi_region=as_bool(props.get("MultiRegion")),
        )
        resource = cls(env, key.id, Arn=key.arn, KeyId=key.id)
        resource._configure(props)
        return resource

    def _configure(self, props: dict[str, Any]) -> None:
        key = kms(self.env).keys[self.physical_resource_id]
        key.key_rotation_status = as_bool(props.get("EnableKeyRotation"))
        enabled = as_bool(props.get("Enabled"), default=True)
        key.enabled = enabled
        key.key_state = "Enabled" if enabled else "Disabled"
        self.pending_window = as_int(props.get("PendingWindowInDays"), 30)

    def update(self, props: dict[str, Any]) -> None:
        backend = kms(self.env)
        backend.update_key_description(self.physical_resource_id, props.get("Description", ""))
        if "KeyPolicy" in props:
            backend.put_key_policy(self.physical_resource_id, as_json_text(props["KeyPolicy"]))
        self._configure(props)

    def remove(self) -> None:
        backend = kms(self.env)
        if self.physical_resource_id in backend.keys:
            backend.schedule_key_deletion(self.physical_resource_id, self.pending_window)


class KeyAlias(StackResource, CloudFormationModel):
    """AWS::KMS::Alias: Ref is the alias name."""

    cfn_type = "AWS::KMS::Alias"
    name_property = "AliasName"
    replaced_by = ("AliasName",)

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> KeyAlias:
        alias = kms(env).create_alias(target_key_id=props["TargetKeyId"], alias_name=props["AliasName"])
        return cls(env, alias.alias_name)

    def update(self, props: dict[str, Any]) -> None:
        kms(self.env).update_alias(target_key_id=props["TargetKeyId"], alias_name=self.physical_resource_id)

    def remove(self) -> None:
        kms(self.env).delete_alias(self.physical_resource_id)


def generate_secret_string(backend: SecretsManagerBackend, spec: dict[str, Any]) -> str:
    """GenerateSecretString: a random password, alone or placed into SecretStringTemplate."""
    password = json.loads(
        backend.get_random_password(
            password_length=as_int(spec.get("PasswordLength"), 32),
            exclude_characters=spec.get("ExcludeCharacters", ""),
            exclude_numbers=as_bool(spec.get("ExcludeNumbers")),
            exclude_punctuation=as_bool(spec.get("ExcludePunctuation")),
            exclude_uppercase=as_bool(spec.get("ExcludeUppercase")),
            exclude_lowercase=as_bool(spec.get("ExcludeLowercase")),
            include_space=as_bool(spec.get("IncludeSpace")),
            require_each_included_type=as_bool(spec.get("RequireEachIncludedType"), default=True),
        )
    )["RandomPassword"]
    if "SecretStringTemplate" in spec:
        document = json.loads(spec["SecretStringTemplate"])
        document[spec["GenerateStringKey"]] = password
        return json.dumps(document)
    return password


class Secret(StackResource, CloudFormationModel):
    """AWS::SecretsManager::Secret: Ref is the ARN. Keeps its name on update; deleted without recovery
    window (CloudFormation force-deletes, so a stack can be recreated with the same secret name)."""

    cfn_type = "AWS::SecretsManager::Secret"
    name_property = "Name"
    replaced_by = ("Name",)
    getatts = ("Id",)

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> Secret:
        backend = secrets(env)
        backend.create_secret(
            name=name,
            secret_string=cls._value(backend, props),
            secret_binary=None,
            description=props.get("Description"),
            tags=tag_list(props.get("Tags")) or None,
            kms_key_id=props.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        arn = backend.describe_secret(name).arn
        resource = cls(env, arn, Id=arn)
        resource.name = name
        resource.props = props
        return resource

    @staticmethod
    def _value(backend: SecretsManagerBackend, props: dict[str, Any]) -> str:
        if "SecretString" in props:
            return props["SecretString"]
        return generate_secret_string(backend, props.get("GenerateSecretString") or {})

    def update(self, props: dict[str, Any]) -> None:
        backend = secrets(self.env)
        value = None
        # A new value only when the template's value (or its generator) changed, as on AWS.
        if props.get("SecretString") != self.props.get("SecretString") or props.get(
            "GenerateSecretString"
        ) != self.props.get("GenerateSecretString"):
            value = self._value(backend, props)
        backend.update_secret(
            self.name,
            secret_string=value,
            client_request_token=str(mock_random.uuid4()),  # what the SDK adds to every UpdateSecret
            kms_key_id=props.get("KmsKeyId"),
            description=props.get("Description"),
        )
        secret = backend.describe_secret(self.name)
        secret.description = props.get("Description")
        secret.kms_key_id = props.get("KmsKeyId")
        self.props = props

    def remove(self) -> None:
        ignore_missing(
            secrets(self.env).delete_secret,
            self.name,
            recovery_window_in_days=None,
            force_delete_without_recovery=True,
        )


class Role(StackResource, CloudFormationModel):
    """AWS::IAM::Role with inline Policies and ManagedPolicyArns, updated in place."""

    cfn_type = "AWS::IAM::Role"
    name_property = "RoleName"
    replaced_by = ("RoleName", "Path")
    getatts = ("Arn", "RoleId")

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> Role:
        if "RoleName" not in props and len(name) > 64:
            name = name[:51] + name[-13:]  # generated names keep their random suffix, as on AWS
        role = iam(env).create_role(
            role_name=name,
            assume_role_policy_document=as_json_text(props["AssumeRolePolicyDocument"]),
            path=props.get("Path", "/"),
            permissions_boundary=props.get("PermissionsBoundary"),
            description=props.get("Description", ""),
            tags=tag_list(props.get("Tags")),
            max_session_duration=str(props.get("MaxSessionDuration", 3600)),
        )
        resource = cls(env, role.name, Arn=role.arn, RoleId=role.id)
        resource.props = {}
        try:
            resource._configure(props)
        except Exception:
            resource.remove()  # do not leave a half-made role behind a failed create
            raise
        return resource

    def _configure(self, props: dict[str, Any]) -> None:
        backend = iam(self.env)
        name = self.physical_resource_id
        old_policies = {p["PolicyName"] for p in self.props.get("Policies", [])}
        new_policies = {p["PolicyName"]: p["PolicyDocument"] for p in props.get("Policies", [])}
        for policy_name, document in new_policies.items():
            backend.put_role_policy(name, policy_name, as_json_text(document))
        for policy_name in old_policies - set(new_policies):
            ignore_missing(backend.delete_role_policy, name, policy_name)
        old_arns = set(self.props.get("ManagedPolicyArns", []))
        new_arns = set(props.get("ManagedPolicyArns", []))
        for arn in new_arns - old_arns:
            backend.attach_role_policy(arn, name)
        for arn in old_arns - new_arns:
            ignore_missing(backend.detach_role_policy, arn, name)
        self.props = props

    def update(self, props: dict[str, Any]) -> None:
        backend = iam(self.env)
        name = self.physical_resource_id
        backend.update_assume_role_policy(name, as_json_text(props["AssumeRolePolicyDocument"]))
        backend.update_role(name, props.get("Description", ""), str(props.get("MaxSessionDuration", 3600)))
        # PermissionsBoundary changes in place on AWS ("Update requires: No interruption"): a boundary
        # added, changed or removed by an update is put or deleted, never left as it was at create.
        boundary = props.get("PermissionsBoundary") or None
        if boundary != (backend.get_role(name).permissions_boundary_arn or None):
            if boundary:
                backend.put_role_permissions_boundary(name, boundary)
            else:
                ignore_missing(backend.delete_role_permissions_boundary, name)
        self._configure(props)

    def remove(self) -> None:
        backend = iam(self.env)
        try:
            role = backend.get_role(self.physical_resource_id)
        except Exception:  # noqa: BLE001 - NotFoundException: already gone
            return
        for policy_name in list(role.policies):
            role.delete_policy(policy_name)
        for arn in list(role.managed_policies):
            ignore_missing(backend.detach_role_policy, arn, role.name)
        backend.delete_role(role.name)


class OIDCProvider(StackResource, CloudFormationModel):
    """AWS::IAM::OIDCProvider: Ref is the provider's ARN."""

    cfn_type = "AWS::IAM::OIDCProvider"
    replaced_by = ("Url",)
    getatts = ("Arn",)

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> OIDCProvider:
        provider = iam(env).create_open_id_connect_provider(
            url=props["Url"],
            thumbprint_list=list(props.get("ThumbprintList", [])),
            client_id_list=list(props.get("ClientIdList", [])),
            tags=tag_list(props.get("Tags")),
        )
        return cls(env, provider.arn, Arn=provider.arn)

    def update(self, props: dict[str, Any]) -> None:
        provider = iam(self.env).get_open_id_connect_provider(self.physical_resource_id)
        provider.thumbprint_list = list(props.get("ThumbprintList", []))
        provider.client_id_list = list(props.get("ClientIdList", []))

    def remove(self) -> None:
        iam(self.env).delete_open_id_connect_provider(self.physical_resource_id)


ATTACHMENTS = (  # property -> (attach, detach) of moto's IAM backend, each called (policy_arn, name)
    ("Roles", "attach_role_policy", "detach_role_policy"),
    ("Users", "attach_user_policy", "detach_user_policy"),
    ("Groups", "attach_group_policy", "detach_group_policy"),
)
MAX_POLICY_VERSIONS = 5  # IAM keeps at most five versions of a managed policy


class ManagedPolicy(StackResource, CloudFormationModel):
    """AWS::IAM::ManagedPolicy: Ref is the policy's ARN. A PolicyDocument change becomes the new default
    version of the same policy (the oldest other version goes once IAM's five are used); Roles, Users and
    Groups are attachments, changed in place. Name, Description and Path replace it (createOnlyProperties)."""

    cfn_type = "AWS::IAM::ManagedPolicy"
    name_property = "ManagedPolicyName"
    replaced_by = ("ManagedPolicyName", "Description", "Path")
    getatts = ("PolicyArn", "PolicyId", "DefaultVersionId")

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> ManagedPolicy:
        if "ManagedPolicyName" not in props and len(name) > 128:
            name = name[:115] + name[-13:]  # generated names keep their random suffix
        policy = iam(env).create_policy(
            description=props.get("Description", ""),
            path=props.get("Path", "/"),
            policy_document=as_json_text(props["PolicyDocument"]),
            policy_name=name,
            tags=[],
        )
        resource = cls(env, policy.arn, PolicyArn=policy.arn, PolicyId=policy.id, DefaultVersionId="v1")
        resource.props = {"PolicyDocument": props["PolicyDocument"]}
        try:
            resource._attach(props)
        except Exception:
            resource.remove()  # do not leave a half-attached policy behind a failed create
            raise
        return resource

    def _attach(self, props: dict[str, Any]) -> None:
        backend = iam(self.env)
        for prop, attach, detach in ATTACHMENTS:
            old, new = set(self.props.get(prop, [])), set(props.get(prop, []))
            for name in sorted(new - old):
                getattr(backend, attach)(self.physical_resource_id, name)
            for name in sorted(old - new):
                ignore_missing(getattr(backend, detach), self.physical_resource_id, name)
        self.props = props

    def update(self, props: dict[str, Any]) -> None:
        backend = iam(self.env)
        if props["PolicyDocument"] != self.props.get("PolicyDocument"):
            policy = backend.get_policy(self.physical_resource_id)
            if len(policy.versions) >= MAX_POLICY_VERSIONS:
                oldest = next(v for v in policy.versions if v.version_id != policy.default_version_id)
                backend.delete_policy_version(self.physical_resource_id, oldest.version_id)
            version = backend.create_policy_version(
                self.physical_resource_id, as_json_text(props["PolicyDocument"]), set_as_default=True
            )
            self.attributes["DefaultVersionId"] = version.version_id
        self._attach(props)

    def remove(self) -> None:
        backend = iam(self.env)
        try:
            policy = backend.get_policy(self.physical_resource_id)
        except Exception:  # noqa: BLE001 - NotFoundException: already gone
            return
        self._attach({})
        for version in [v for v in policy.versions if v.version_id != policy.default_version_id]:
            backend.delete_policy_version(policy.arn, version.version_id)
        backend.delete_policy(policy.arn)


MODELS = [Key, KeyAlias, Secret, Role, ManagedPolicy, OIDCProvider]
