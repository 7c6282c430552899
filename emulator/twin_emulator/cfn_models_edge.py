"""CloudFormation models for the edge: AWS::CloudFront::Distribution, ::OriginAccessControl,
::ResponseHeadersPolicy and AWS::WAFv2::WebACL.

moto 5.2.5 has CloudFront and WAFv2 backends but no CloudFormation model for any of these types.
The Distribution model's main job is translating the template's DistributionConfig shape (plain
lists, CachedMethods beside AllowedMethods, AcmCertificateArn, IPV6Enabled) into the API shape
moto's backend takes ({Quantity, Items} wrappers, ACMCertificateArn, IsIPV6Enabled, a generated
CallerReference), and re-attaching OriginAccessControlId, which moto's Origin model drops.

Each model owns its type's create, in-place update and delete, and declares `replaced_by` (AWS's
"Update requires: Replacement" properties); whether an update replaces the resource is decided,
and the replacement carried out, by the engine (cfn_engine.py), not here.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.cloudfront.models import CloudFrontBackend, cloudfront_backends
from moto.core.common_models import CloudFormationModel
from moto.moto_api._internal import mock_random
from moto.wafv2.models import GLOBAL_REGION, WAFV2Backend, wafv2_backends

from . import cloudfront_response_headers as response_headers
from .cfn_base import Env, StackResource, as_bool, as_int, ignore_missing, tag_list


def cloudfront(env: Env) -> CloudFrontBackend:
    return cloudfront_backends[env.account_id][env.partition]


def wafv2(env: Env, scope: str) -> WAFV2Backend:
    # The WAFv2 API keeps CLOUDFRONT-scope web ACLs in a "global" backend, whatever the region.
    return wafv2_backends[env.account_id][GLOBAL_REGION if scope == "CLOUDFRONT" else env.region_name]


def items(values: list[Any] | None) -> dict[str, Any]:
    """A template list -> the API's {Quantity, Items} wrapper."""
    values = list(values or [])
    return {"Quantity": len(values), "Items": values} if values else {"Quantity": 0}


def origin_to_api(origin: dict[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {"Id": origin["Id"], "DomainName": origin["DomainName"]}
    for key in ("OriginPath", "ConnectionAttempts", "ConnectionTimeout", "OriginAccessControlId", "OriginShield"):
        if key in origin:
            api[key] = origin[key]
    if "OriginCustomHeaders" in origin:
        api["CustomHeaders"] = items(origin["OriginCustomHeaders"])
    if "S3OriginConfig" in origin:
        api["S3OriginConfig"] = {"OriginAccessIdentity": origin["S3OriginConfig"].get("OriginAccessIdentity", "")}
    if "CustomOriginConfig" in origin:
        custom = origin["CustomOriginConfig"]
        api["CustomOriginConfig"] = {
            "HTTPPort": as_int(custom.get("HTTPPort"), 80),
            "HTTPSPort": as_int(custom.get("HTTPSPort"), 443),
            "OriginProtocolPolicy": custom["OriginProtocolPolicy"],
            "OriginSslProtocols": items(custom.get("OriginSSLProtocols", ["TLSv1", "SSLv3"])),
            "OriginReadTimeout": as_int(custom.get("OriginReadTimeout"), 30),
            "OriginKeepaliveTimeout": as_int(custom.get("OriginKeepaliveTimeout"), 5),
        }
    return api


def cache_behavior_to_api(behavior: dict[str, Any]) -> dict[str, Any]:
    api = {
        key: value
        for key, value in behavior.items()
        if key not in ("AllowedMethods", "CachedMethods", "TrustedSigners", "TrustedKeyGroups",
                       "LambdaFunctionAssociations", "FunctionAssociations")
    }
    api["AllowedMethods"] = {
        **items(behavior.get("AllowedMethods", ["GET", "HEAD"])),
        "CachedMethods": items(behavior.get("CachedMethods", ["GET", "HEAD"])),
    }
    for key in ("TrustedSigners", "TrustedKeyGroups"):
        if key in behavior:
            api[key] = {"Enabled": bool(behavior[key]), **items(behavior[key])}
    api["Compress"] = as_bool(behavior.get("Compress"))
    return api


def distribution_config_to_api(config: dict[str, Any], caller_reference: str) -> dict[str, Any]:
    """DistributionConfig as written in a template -> as CreateDistribution takes it."""
    api: dict[str, Any] = {
        "CallerReference": caller_reference,
        "Comment": config.get("Comment", ""),
        "Enabled": as_bool(config.get("Enabled")),
        "Aliases": items(config.get("Aliases")),
        "Origins": items([origin_to_api(o) for o in config.get("Origins", [])]),
        "DefaultCacheBehavior": cache_behavior_to_api(config["DefaultCacheBehavior"]),
        "CacheBehaviors": items([cache_behavior_to_api(b) for b in config.get("CacheBehaviors", [])]),
        "CustomErrorResponses": items(
            [
                {**response, "ResponseCode": str(response["ResponseCode"])} if "ResponseCode" in response else response
                for response in config.get("CustomErrorResponses", [])
            ]
        ),
        "PriceClass": config.get("PriceClass", "PriceClass_All"),
        "HttpVersion": config.get("HttpVersion", "http1.1"),
        "IsIPV6Enabled": as_bool(config.get("IPV6Enabled")),
        "DefaultRootObject": config.get("DefaultRootObject", ""),
        "WebACLId": config.get("WebACLId", ""),
    }
    certificate = config.get("ViewerCertificate") or {"CloudFrontDefaultCertificate": True}
    api["ViewerCertificate"] = {
        "CloudFrontDefaultCertificate": as_bool(certificate.get("CloudFrontDefaultCertificate")),
        "ACMCertificateArn": certificate.get("AcmCertificateArn"),
        "IAMCertificateId": certificate.get("IamCertificateId"),
        "SSLSupportMethod": certificate.get("SslSupportMethod"),
        "MinimumProtocolVersion": certificate.get("MinimumProtocolVersion"),
    }
    if "Logging" in config:
        api["Logging"] = {"Enabled": True, **config["Logging"]}
    geo = (config.get("Restrictions") or {}).get("GeoRestriction")
    if geo:
        api["Restrictions"] = {"GeoRestriction": {"RestrictionType": geo["RestrictionType"], **items(geo.get("Locations"))}}
    return api


class Distribution(StackResource, CloudFormationModel):
    """AWS::CloudFront::Distribution: Ref is the distribution id."""

    cfn_type = "AWS::CloudFront::Distribution"
    getatts = ("DomainName", "Id")

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> Distribution:
        config = props["DistributionConfig"]
        caller_reference = str(mock_random.uuid4())
        dist, _, _ = cloudfront(env).create_distribution(
            distribution_config=distribution_config_to_api(copy.deepcopy(config), caller_reference),
            tags=tag_list(props.get("Tags")),
        )
        resource = cls(env, dist.distribution_id, DomainName=dist.domain_name, Id=dist.distribution_id)
        resource.caller_reference = caller_reference
        resource._attach_origin_access_controls(config)
        return resource

    def _attach_origin_access_controls(self, config: dict[str, Any]) -> None:
        """moto's Origin drops OriginAccessControlId; put it back so GetDistributionConfig shows it."""
        dist, _ = cloudfront(self.env).get_distribution(self.physical_resource_id)
        wanted = {o["Id"]: o.get("OriginAccessControlId", "") for o in config.get("Origins", [])}
        for origin in dist.distribution_config.Origins["Items"]:
            origin.origin_access_control_id = wanted.get(origin.id, "")

    def update(self, props: dict[str, Any]) -> None:
        config = props["DistributionConfig"]
        cloudfront(self.env).update_distribution(
            dist_config=distribution_config_to_api(copy.deepcopy(config), self.caller_reference),
            _id=self.physical_resource_id,
            if_match=True,
        )
        self._attach_origin_access_controls(config)

    def remove(self) -> None:
        ignore_missing(cloudfront(self.env).delete_distribution, self.physical_resource_id, True)


class OriginAccessControl(StackResource, CloudFormationModel):
    """AWS::CloudFront::OriginAccessControl: Ref and Id are the control's id."""

    cfn_type = "AWS::CloudFront::OriginAccessControl"
    getatts = ("Id",)

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> OriginAccessControl:
        control = cloudfront(env).create_origin_access_control(dict(props["OriginAccessControlConfig"]))
        return cls(env, control.id, Id=control.id)

    def update(self, props: dict[str, Any]) -> None:
        cloudfront(self.env).update_origin_access_control(
            self.physical_resource_id, dict(props["OriginAccessControlConfig"])
        )

    def remove(self) -> None:
        ignore_missing(cloudfront(self.env).delete_origin_access_control, self.physical_resource_id)


class ResponseHeadersPolicy(StackResource, CloudFormationModel):
    """AWS::CloudFront::ResponseHeadersPolicy (stored by cloudfront_response_headers.py)."""

    cfn_type = "AWS::CloudFront::ResponseHeadersPolicy"
    getatts = ("Id", "LastModifiedTime")

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> ResponseHeadersPolicy:
        policy = response_headers.create_policy(cloudfront(env), props["ResponseHeadersPolicyConfig"])
        return cls(env, policy["Id"], Id=policy["Id"], LastModifiedTime=policy["LastModifiedTime"].isoformat())

    def update(self, props: dict[str, Any]) -> None:
        policy = response_headers.update_policy(
            cloudfront(self.env), self.physical_resource_id, props["ResponseHeadersPolicyConfig"]
        )
        self.attributes["LastModifiedTime"] = policy["LastModifiedTime"].isoformat()

    def remove(self) -> None:
        response_headers.delete_policy(cloudfront(self.env), self.physical_resource_id)


class WebACL(StackResource, CloudFormationModel):
    """AWS::WAFv2::WebACL: Ref is "name|id|scope", as on AWS."""

    cfn_type = "AWS::WAFv2::WebACL"
    name_property = "Name"
    replaced_by = ("Name", "Scope")
    getatts = ("Arn", "Id", "Capacity", "LabelNamespace")

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> WebACL:
        acl = wafv2(env, props["Scope"]).create_web_acl(
            name=name,
            visibility_config=props["VisibilityConfig"],
            default_action=props["DefaultAction"],
            scope=props["Scope"],
            description=props.get("Description", ""),
            tags=tag_list(props.get("Tags")),
            rules=props.get("Rules", []),
            association_config=props.get("AssociationConfig"),
            captcha_config=props.get("CaptchaConfig"),
            challenge_config=props.get("ChallengeConfig"),
            custom_response_bodies=props.get("CustomResponseBodies"),
            token_domains=props.get("TokenDomains"),
        )
        resource = cls(
            env,
            f"{acl.name}|{acl.id}|{props['Scope']}",
            Arn=acl.arn,
            Id=acl.id,
            Capacity=acl.capacity,
            LabelNamespace=acl.label_namespace,
        )
        resource.name, resource.scope = acl.name, props["Scope"]
        return resource

    def update(self, props: dict[str, Any]) -> None:
        backend = wafv2(self.env, self.scope)
        acl = backend.get_web_acl(self.attributes["Arn"], None, None)
        backend.update_web_acl(
            name=self.name,
            _id=acl.id,
            default_action=props["DefaultAction"],
            rules=props.get("Rules", []),
            description=props.get("Description", ""),
            visibility_config=props["VisibilityConfig"],
            lock_token=acl.lock_token,
            custom_response_bodies=props.get("CustomResponseBodies"),
            captcha_config=props.get("CaptchaConfig"),
            challenge_config=props.get("ChallengeConfig"),
            token_domains=props.get("TokenDomains"),
            association_config=props.get("AssociationConfig"),
        )

    def remove(self) -> None:
        backend = wafv2(self.env, self.scope)

        def delete() -> None:
            acl = backend.get_web_acl(self.attributes["Arn"], None, None)
            backend.delete_web_acl(self.name, self.scope, acl.id, acl.lock_token)

        ignore_missing(delete)


MODELS = [Distribution, OriginAccessControl, ResponseHeadersPolicy, WebACL]
