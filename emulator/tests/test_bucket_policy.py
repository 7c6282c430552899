"""How the emulator evaluates bucket policies (twin_emulator/s3_bucket_policy.py), without a server."""

from __future__ import annotations

import json

from moto.iam.access_control import PermissionResult

from twin_emulator.s3_bucket_policy import evaluate_bucket_policy

ACCOUNT = "123456789012"
OBJECT = "arn:aws:s3:::memory/sessions/a.json"
TLS_ONLY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": ["s3:GetObject", "s3:PutObject"],
    "Resource": ["arn:aws:s3:::memory", "arn:aws:s3:::memory/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


def decide(*statements: dict, action: str = "s3:GetObject", resource: str = OBJECT) -> PermissionResult:
    policy = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    return evaluate_bucket_policy(policy, action, resource, ACCOUNT)


def test_tls_only_deny_does_not_apply_to_the_emulators_clients() -> None:
    assert decide(TLS_ONLY) == PermissionResult.NEUTRAL
    assert decide(TLS_ONLY, action="s3:PutObject") == PermissionResult.NEUTRAL
    assert decide(TLS_ONLY, action="s3:HeadObject") == PermissionResult.NEUTRAL


def test_a_deny_for_plain_http_callers_written_the_other_way_round_also_does_not_apply() -> None:
    negated = {**TLS_ONLY, "Condition": {"BoolIfExists": {"aws:SecureTransport": "false"}}}
    assert decide(negated) == PermissionResult.NEUTRAL


def test_an_unconditional_deny_still_denies() -> None:
    deny_all = {k: v for k, v in TLS_ONLY.items() if k != "Condition"}
    assert decide(deny_all) == PermissionResult.DENIED
    assert decide(deny_all, action="s3:DeleteObject") == PermissionResult.NEUTRAL  # action not listed


def test_a_service_principal_statement_does_not_apply_to_the_caller() -> None:
    cloudfront_reads = {
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::memory/*",
        "Condition": {"StringEquals": {"AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/X"}},
    }
    assert decide(cloudfront_reads) == PermissionResult.NEUTRAL


def test_an_allow_for_the_account_applies_and_unknown_condition_keys_do_not_match() -> None:
    allow = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "s3:*",
             "Resource": "arn:aws:s3:::memory/*"}
    assert decide(allow) == PermissionResult.PERMITTED
    conditional = {**allow, "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}
    assert decide(conditional) == PermissionResult.NEUTRAL
    other_bucket = {**allow, "Resource": "arn:aws:s3:::elsewhere/*"}
    assert decide(other_bucket) == PermissionResult.NEUTRAL
