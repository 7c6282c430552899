"""The twin's local AWS emulator: moto server, extended where the twin stack needs it.

This package owns what runs behind `scripts/emulator start`. It must stay bound to
127.0.0.1: the emulator accepts any credentials.

`install()` extends moto in place and must run before the server handles its first request
(moto builds its CloudFormation model map, and each service's routes, on first use):

  cfn_base.py                  the mixin every resource model shares (create / in-place update / remove,
                               and `replaced_by`, the properties whose change replaces the resource)
  cfn_models_storage.py        AWS::S3::Bucket, AWS::S3::BucketPolicy
  cfn_models_security.py       AWS::KMS::Key/Alias, AWS::SecretsManager::Secret,
                               AWS::IAM::Role/ManagedPolicy/OIDCProvider
  cfn_models_compute.py        AWS::Lambda::Function/Alias/Permission, AWS::Logs::LogGroup
  cfn_models_api.py            AWS::ApiGatewayV2::Api/Integration/Route/Stage
  cfn_models_edge.py           AWS::CloudFront::Distribution/OriginAccessControl/ResponseHeadersPolicy,
                               AWS::WAFv2::WebACL
  cfn_models_monitoring.py     AWS::SNS::Topic/Subscription, AWS::CloudWatch::Alarm/Dashboard
  cfn_engine.py                stack create/update/delete with dependency order, events, rollback, outputs;
                               owns replacement (decided from `replaced_by`, new resource first, old
                               one deleted in the cleanup phase)
  cfn_stack_fixes.py           moto's CloudFormation API and backend routed through the engine; change sets
                               (whose Replacement is the engine's own decision)
  cfn_drift.py                 CloudFormation drift detection answered "not implemented" (501), not an HTML 500
  s3_bucket_policy.py          bucket policies evaluated with their Conditions
  s3_lifecycle.py              NoncurrentVersionExpiration keeps NewerNoncurrentVersions (put and get)
  cloudfront_response_headers.py  response headers policies (absent from moto's CloudFront)
  moto_api_fixes.py            /moto-api/data.json (scripts/emulator's probe) survives Lambda functions
  lambda_versions.py           Lambda version numbers never reused after a version is deleted
  lambda_credentials.py        a function's execution-role credentials, as Lambda hands them to the function
  kms_key_deletion.py          ScheduleKeyDeletion by key ARN, refused while already pending deletion
  s3_versioning.py             GetBucketVersioning under S3's own root element (VersioningConfiguration)
  cloudwatch_cbor.py           CloudWatch over Smithy RPC v2 CBOR (/service/.../operation/...), as the Rust SDK calls it
  iam_gate.py                  with TWIN_EMULATOR_IAM=enforce: every request authenticated and authorised
                               before moto sees it (replaces moto's coarse check); answers refusals
                               as each service does (iam_errors.py)
  iam_authn.py                 SigV4 verification; access key (IAM user or STS session) -> principal
  iam_requests.py              per operation twinctl calls: IAM actions, resource ARNs, context keys
  iam_trust.py                 role trust policies (Principal matched, then the policy evaluator)
  iam_admin.py                 the enforcing emulator's administrator and admin.env; survives /moto-api/reset
  web_identity.py              AssumeRoleWithWebIdentity checked as STS checks it (token, provider, trust)
  oidc_issuer.py               the local test issuer standing in for GitHub's (key pair, tokens)
"""

from __future__ import annotations

_installed = False


def install() -> None:
    """Register the resource models and apply every fix (idempotent)."""
    global _installed
    if _installed:
        return

    from moto.cloudformation import parsing

    from . import (
        cfn_drift,
        cfn_models_api,
        cfn_models_compute,
        cfn_models_edge,
        cfn_models_monitoring,
        cfn_models_security,
        cfn_models_storage,
        cfn_stack_fixes,
        cloudfront_response_headers,
        cloudwatch_cbor,
        iam_gate,
        kms_key_deletion,
        lambda_credentials,
        lambda_versions,
        moto_api_fixes,
        s3_bucket_policy,
        s3_lifecycle,
        s3_versioning,
    )

    models = [
        *cfn_models_storage.MODELS,
        *cfn_models_security.MODELS,
        *cfn_models_compute.MODELS,
        *cfn_models_api.MODELS,
        *cfn_models_edge.MODELS,
        *cfn_models_monitoring.MODELS,
    ]
    # moto caches its model list/map on first use; rebuild them so ours replace moto's for the
    # same types (moto's own model of a type must not win, in the map or in name lookups).
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    ours = {model.cloudformation_type() for model in models}
    model_list = parsing.get_model_list()
    model_list[:] = [m for m in model_list if m.cloudformation_type() not in ours or m in models]
    model_map = parsing.get_model_map()
    name_types = parsing.get_name_type_map()
    for model in models:
        model_map[model.cloudformation_type()] = model
        name_types[model.cloudformation_type()] = model.cloudformation_name_type()

    s3_bucket_policy.install()
    s3_lifecycle.install()
    s3_versioning.install()
    cloudfront_response_headers.install()
    cfn_stack_fixes.install()
    cfn_drift.install()
    moto_api_fixes.install()
    lambda_versions.install()
    lambda_credentials.install()
    cloudwatch_cbor.install()
    kms_key_deletion.install()
    # Last: the gate wraps moto's dispatcher; it does nothing unless TWIN_EMULATOR_IAM=enforce.
    iam_gate.install()
    _installed = True
