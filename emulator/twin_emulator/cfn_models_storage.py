"""CloudFormation models for S3: AWS::S3::Bucket and AWS::S3::BucketPolicy.

moto 5.2.5's own AWS::S3::Bucket model applies only BucketEncryption and Tags: it drops
VersioningConfiguration, PublicAccessBlockConfiguration, OwnershipControls and
LifecycleConfiguration, never updates them, and "deletes" a non-empty bucket by silently leaving
it in place. moto has no AWS::S3::BucketPolicy model at all. These models replace both, on top
of moto's S3 backend.

How bucket policies are *enforced* is fixed separately, in s3_bucket_policy.py.

Each model owns its type's create, in-place update and delete, and declares `replaced_by` (AWS's
"Update requires: Replacement" properties); whether an update replaces the resource is decided,
and the replacement carried out, by the engine (cfn_engine.py), not here.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.s3.cloud_formation import cfn_to_api_encryption
from moto.s3.models import FakeBucket, S3Backend, s3_backends

from .cfn_base import Env, StackResource, as_json_text, ignore_missing, tag_map


def s3_backend(env: Env) -> S3Backend:
    return s3_backends[env.account_id][env.partition]


def lifecycle_rules_to_api(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """LifecycleConfiguration.Rules in the template's shape -> the PutBucketLifecycle shape moto parses."""
    api_rules = []
    for rule in rules:
        api: dict[str, Any] = {"Status": rule.get("Status", "Enabled")}
        if "Id" in rule:
            api["ID"] = rule["Id"]
        # A template rule without a filter applies to the whole bucket (an empty prefix filter).
        if "Prefix" in rule and not rule.get("TagFilters"):
            api["Filter"] = {"Prefix": rule["Prefix"]}
        elif rule.get("TagFilters"):
            tags = [{"Key": t["Key"], "Value": t["Value"]} for t in rule["TagFilters"]]
            api["Filter"] = {"And": {"Prefix": rule.get("Prefix", ""), "Tag": tags}}
        else:
            api["Filter"] = {"Prefix": ""}
        expiration: dict[str, Any] = {}
        if "ExpirationInDays" in rule:
            expiration["Days"] = rule["ExpirationInDays"]
        if "ExpirationDate" in rule:
            expiration["Date"] = rule["ExpirationDate"]
        if "ExpiredObjectDeleteMarker" in rule:
            expiration["ExpiredObjectDeleteMarker"] = rule["ExpiredObjectDeleteMarker"]
        if expiration:
            api["Expiration"] = expiration
        noncurrent = rule.get("NoncurrentVersionExpiration")
        if noncurrent:
            api["NoncurrentVersionExpiration"] = {"NoncurrentDays": noncurrent["NoncurrentDays"]}
            if "NewerNoncurrentVersions" in noncurrent:
                api["NoncurrentVersionExpiration"]["NewerNoncurrentVersions"] = noncurrent[
                    "NewerNoncurrentVersions"
                ]
        elif "NoncurrentVersionExpirationInDays" in rule:
            api["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule["NoncurrentVersionExpirationInDays"]}
        if "AbortIncompleteMultipartUpload" in rule:
            api["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
            }
        transitions = rule.get("Transitions") or ([rule["Transition"]] if "Transition" in rule else [])
        if transitions:
            api["Transition"] = [
                {k: v for k, v in (("Days", t.get("TransitionInDays")), ("Date", t.get("TransitionDate")),
                                   ("StorageClass", t.get("StorageClass"))) if v is not None}
                for t in transitions
            ]
        nv_transitions = rule.get("NoncurrentVersionTransitions") or (
            [rule["NoncurrentVersionTransition"]] if "NoncurrentVersionTransition" in rule else []
        )
        if nv_transitions:
            api["NoncurrentVersionTransition"] = [
                {"NoncurrentDays": t["TransitionInDays"], "StorageClass": t["StorageClass"]} for t in nv_transitions
            ]
        api_rules.append(api)
    return api_rules


class Bucket(StackResource, CloudFormationModel):
    """AWS::S3::Bucket, with the bucket configuration moto's own model drops."""

    cfn_type = "AWS::S3::Bucket"
    name_property = "BucketName"
    replaced_by = ("BucketName",)
    getatts = ("Arn", "DomainName", "DualStackDomainName", "RegionalDomainName", "WebsiteURL")

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> Bucket:
        backend = s3_backend(env)
        bucket = backend.create_bucket(name, env.region_name)
        resource = cls(env, bucket.name, **cls._attributes_of(bucket))
        try:
            resource._configure(props, previous={})
        except Exception:
            backend.delete_bucket(bucket.name)  # a failed create leaves nothing behind
            raise
        return resource

    @staticmethod
    def _attributes_of(bucket: FakeBucket) -> dict[str, str]:
        return {
            "Arn": bucket.arn,
            "DomainName": bucket.domain_name,
            "DualStackDomainName": bucket.dual_stack_domain_name,
            "RegionalDomainName": bucket.regional_domain_name,
            "WebsiteURL": bucket.website_url,
        }

    def _configure(self, props: dict[str, Any], previous: dict[str, Any]) -> None:
        """Apply every configuration property; clear the ones a previous version had and this lacks."""
        backend = s3_backend(self.env)
        name = self.physical_resource_id
        self.props = props

        if "BucketEncryption" in props:
            backend.put_bucket_encryption(name, cfn_to_api_encryption(props["BucketEncryption"]))
        elif "BucketEncryption" in previous:
            backend.delete_bucket_encryption(name)

        # Versioning can be suspended but never switched off once enabled (as on AWS).
        if "VersioningConfiguration" in props:
            backend.put_bucket_versioning(name, props["VersioningConfiguration"]["Status"])
        elif "VersioningConfiguration" in previous and backend.get_bucket_versioning(name) == "Enabled":
            backend.put_bucket_versioning(name, "Suspended")

        if "PublicAccessBlockConfiguration" in props:
            block = props["PublicAccessBlockConfiguration"]
            backend.put_public_access_block(
                name,
                {
                    key: bool(block.get(key, False))
                    for key in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
                },
            )
        elif "PublicAccessBlockConfiguration" in previous:
            backend.delete_public_access_block(name)

        if "OwnershipControls" in props:
            rule = props["OwnershipControls"]["Rules"][0]
            backend.put_bucket_ownership_controls(name, rule["ObjectOwnership"])
        elif "OwnershipControls" in previous:
            backend.delete_bucket_ownership_controls(name)

        if "LifecycleConfiguration" in props:
            backend.put_bucket_lifecycle_configuration(
                name, lifecycle_rules_to_api(props["LifecycleConfiguration"].get("Rules", []))
            )
        elif "LifecycleConfiguration" in previous:
            backend.delete_bucket_lifecycle(name)

        if "Tags" in props or "Tags" in previous:
            backend.put_bucket_tagging(name, tag_map(props.get("Tags")))

    def update(self, props: dict[str, Any]) -> None:
        self._configure(props, previous=getattr(self, "props", {}))

    def remove(self) -> None:
        backend = s3_backend(self.env)
        try:
            bucket = backend.get_bucket(self.physical_resource_id)
        except Exception:  # noqa: BLE001 - MissingBucket: already gone
            return
        if len(bucket.keys) or len(bucket.multiparts):
            # AWS refuses too (and CloudFormation reports DELETE_FAILED); moto would silently keep it.
            raise RuntimeError(
                f"The bucket you tried to delete is not empty (Bucket: {self.physical_resource_id}). "
                "Delete every object version first."
            )
        backend.delete_bucket(self.physical_resource_id)


class BucketPolicy(StackResource, CloudFormationModel):
    """AWS::S3::BucketPolicy (moto 5.2.5 has no model for it): PutBucketPolicy on moto's bucket.

    The document is stored exactly as written, so GetBucketPolicy answers what AWS would. That
    moto would otherwise deny every object request because of a TLS-only statement is handled
    where policies are evaluated (s3_bucket_policy.py), not by altering the stored document.
    """

    cfn_type = "AWS::S3::BucketPolicy"
    replaced_by = ("Bucket",)

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> BucketPolicy:
        bucket = props["Bucket"]
        document = as_json_text(props["PolicyDocument"])
        json.loads(document)  # a malformed document fails the resource, as on AWS
        s3_backend(env).put_bucket_policy(bucket, document.encode("utf-8"))
        # Ref of a bucket policy is its bucket's name.
        return cls(env, bucket, bucket=bucket)

    def update(self, props: dict[str, Any]) -> None:
        s3_backend(self.env).put_bucket_policy(
            self.attributes["bucket"], as_json_text(props["PolicyDocument"]).encode("utf-8")
        )

    def remove(self) -> None:
        ignore_missing(s3_backend(self.env).delete_bucket_policy, self.attributes["bucket"])


MODELS = [Bucket, BucketPolicy]
