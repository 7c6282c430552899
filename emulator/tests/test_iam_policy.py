"""The IAM identity-policy evaluator (twin_emulator/iam_policy.py): one test per rule, without a
server, and `principal()` against an in-process moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from twin_emulator.iam_policy import Decision, Principal, Request, UnknownPrincipal, evaluate, principal

ACCOUNT = "123456789012"
CALLER = f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s"
FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:twin-local"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/twin-local-FunctionRole"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any = "lambda:CreateFunction", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any = "lambda:CreateFunction", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(
    *statements: dict[str, Any],
    action: str = "lambda:CreateFunction",
    resource: str = FUNCTION,
    context: dict[str, list[str]] | None = None,
    boundary: dict[str, Any] | None = None,
) -> Decision:
    who = Principal(CALLER, (policy(*statements),), boundary)
    return evaluate(who, Request(action, resource, context or {}))


def allowed_when(condition: dict[str, Any], context: dict[str, list[str]], effect: str = "Allow") -> bool:
    """Does an Allow (or Deny, next to an Allow of everything) with this Condition decide `allowed`?"""
    if effect == "Allow":
        return decide(allow(Condition=condition), context=context).allowed
    return decide(allow(), deny(Condition=condition), context=context).allowed


# --- evaluation logic ----------------------------------------------------------------------------


def test_an_allow_allows() -> None:
    assert decide(allow()).allowed


def test_no_allow_is_an_implicit_deny_in_awss_words() -> None:
    decision = decide(allow("lambda:GetFunction"))
    assert not decision.allowed
    assert decision.reason == (
        f"User: {CALLER} is not authorized to perform: lambda:CreateFunction on resource: {FUNCTION} "
        "because no identity-based policy allows the lambda:CreateFunction action"
    )


def test_an_action_without_a_resource_is_worded_without_one() -> None:
    decision = decide(allow("kms:CreateKey", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*"), action="kms:CreateKey",
                      resource="*")
    assert decision.reason == (
        f"User: {CALLER} is not authorized to perform: kms:CreateKey "
        "because no identity-based policy allows the kms:CreateKey action"
    )


def test_an_empty_policy_set_allows_nothing() -> None:
    assert not evaluate(Principal(CALLER, (), None), Request("s3:GetObject", "*")).allowed


def test_an_explicit_deny_wins_over_an_allow() -> None:
    decision = decide(allow("*"), deny())
    assert not decision.allowed
    assert decision.reason.endswith("with an explicit deny in an identity-based policy")


def test_a_deny_in_another_policy_still_wins() -> None:
    who = Principal(CALLER, (policy(allow()), policy(deny("lambda:*"))), None)
    assert not evaluate(who, Request("lambda:CreateFunction", FUNCTION)).allowed


def test_a_boundary_limits_what_identity_policies_allow() -> None:
    decision = decide(allow("lambda:*"), boundary=policy(allow("s3:*")))
    assert not decision.allowed
    assert decision.reason.endswith("because no permissions boundary allows the lambda:CreateFunction action")
    assert decide(allow("lambda:*"), boundary=policy(allow("lambda:Create*"))).allowed


def test_a_boundary_grants_nothing_by_itself() -> None:
    decision = decide(allow("s3:GetObject"), boundary=policy(allow("*")))
    assert not decision.allowed
    assert "no identity-based policy allows" in decision.reason


def test_an_explicit_deny_in_the_boundary_wins() -> None:
    decision = decide(allow(), boundary=policy(allow("*"), deny()))
    assert not decision.allowed
    assert decision.reason.endswith("with an explicit deny in a permissions boundary")


# --- Action / Resource -------------------------------------------------------------------------------


def test_actions_match_case_insensitively_with_wildcards() -> None:
    assert decide(allow("LAMBDA:createfunction")).allowed
    assert decide(allow("lambda:Create*")).allowed
    assert decide(allow("lambda:CreateFunctio?")).allowed
    assert decide(allow(["s3:GetObject", "lambda:*"])).allowed
    assert not decide(allow("lambda:Create?")).allowed
    assert not decide(allow("lambda:Get*")).allowed


def test_not_action_applies_to_every_other_action() -> None:
    assert decide({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}).allowed
    assert not decide({"Effect": "Allow", "NotAction": ["lambda:*"], "Resource": "*"}).allowed
    # NotAction with Deny: deny everything except the listed actions.
    assert decide(allow("*"), {"Effect": "Deny", "NotAction": "lambda:*", "Resource": "*"}).allowed
    assert not decide(
        allow("*"), {"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"}
    ).allowed


def test_an_arn_wildcard_matches_the_resource_it_names_and_not_star() -> None:
    scoped = allow(resource=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:twin-*")
    assert decide(scoped).allowed
    assert not decide(scoped, resource="*").allowed
    assert not decide(scoped, resource=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:other").allowed
    assert decide(allow(resource="*"), resource="*").allowed


def test_resources_match_case_sensitively() -> None:
    assert not decide(allow(resource=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:TWIN-*")).allowed


def test_a_wildcard_stays_in_its_segment_unless_it_ends_it() -> None:
    # "*" ending a segment may run across colons (an alias qualifier here) ...
    qualified = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:twin-local:live"
    assert decide(allow(resource=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:twin-*"), resource=qualified).allowed
    assert decide(allow(resource="arn:aws:lambda:*"), resource=qualified).allowed
    # ... one inside a segment, or "?", does not.
    assert not decide(
        allow(resource=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:*-live"), resource=qualified
    ).allowed
    assert decide(allow(resource=f"arn:aws:lambda:us-east-?:{ACCOUNT}:function:twin-local")).allowed
    assert decide(allow(resource=f"arn:aws:lambda:us-*-1:{ACCOUNT}:function:twin-local")).allowed


def test_not_resource_applies_to_every_other_resource() -> None:
    other = {"Effect": "Allow", "Action": "lambda:*", "NotResource": f"arn:aws:lambda:*:{ACCOUNT}:function:x*"}
    assert decide(other).allowed
    assert not decide(other, resource=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:xyz").allowed
    assert decide(other, resource="*").allowed


def test_a_statement_without_a_resource_element_matches_nothing() -> None:
    assert not decide({"Effect": "Allow", "Action": "*"}).allowed


# --- conditions ------------------------------------------------------------------------------------------


def test_conditions_and_operators_and_keys_or_values() -> None:
    condition = {
        "StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"], "aws:PrincipalAccount": ACCOUNT},
        "Bool": {"aws:SecureTransport": "true"},
    }
    context = {"aws:RequestedRegion": ["eu-west-1"], "aws:PrincipalAccount": [ACCOUNT], "aws:SecureTransport": ["true"]}
    assert allowed_when(condition, context)
    assert not allowed_when(condition, {**context, "aws:RequestedRegion": ["ap-south-1"]})
    assert not allowed_when(condition, {**context, "aws:SecureTransport": ["false"]})


def test_condition_key_names_are_case_insensitive() -> None:
    assert allowed_when({"StringEquals": {"IAM:PassedToService": "lambda.amazonaws.com"}},
                        {"iam:passedtoservice": ["lambda.amazonaws.com"]})


@pytest.mark.parametrize(
    ("operator", "expected", "actual", "holds"),
    [
        ("StringEquals", "Lambda", "Lambda", True),
        ("StringEquals", "Lambda", "lambda", False),
        ("StringNotEquals", "Lambda", "lambda", True),
        ("StringNotEquals", "Lambda", "Lambda", False),
        ("StringEqualsIgnoreCase", "Lambda", "LAMBDA", True),
        ("StringEqualsIgnoreCase", "Lambda", "lambda2", False),
        ("StringNotEqualsIgnoreCase", "Lambda", "LAMBDA", False),
        ("StringNotEqualsIgnoreCase", "Lambda", "other", True),
        ("StringLike", "twin-*", "twin-local", True),
        ("StringLike", "twin-?", "twin-ab", False),
        ("StringLike", "Twin-*", "twin-local", False),
        ("StringNotLike", "twin-*", "twin-local", False),
        ("StringNotLike", "twin-*", "other", True),
        ("ArnEquals", f"arn:aws:iam::{ACCOUNT}:role/twin-*", ROLE, True),
        ("ArnLike", f"arn:aws:iam::{ACCOUNT}:role/twin-*", ROLE, True),
        ("ArnLike", "arn:aws:iam::*:role/other", ROLE, False),
        ("ArnLike", "arn:aws:*", "not-an-arn", False),
        ("ArnNotEquals", f"arn:aws:iam::{ACCOUNT}:role/other", ROLE, True),
        ("ArnNotLike", f"arn:aws:iam::{ACCOUNT}:role/twin-*", ROLE, False),
        ("Bool", "true", "True", True),
        ("Bool", "true", "false", False),
        ("NumericEquals", "10", "10.0", True),
        ("NumericNotEquals", "10", "10", False),
        ("NumericLessThan", "10", "9", True),
        ("NumericLessThan", "10", "10", False),
        ("NumericLessThanEquals", "10", "10", True),
        ("NumericGreaterThan", "10", "11", True),
        ("NumericGreaterThan", "10", "10", False),
        ("NumericGreaterThanEquals", "10", "10", True),
        ("NumericGreaterThanEquals", "10", "abc", False),
    ],
)
def test_each_operator(operator: str, expected: str, actual: str, holds: bool) -> None:
    assert allowed_when({operator: {"k:key": expected}}, {"k:key": [actual]}) is holds


def test_policy_json_booleans_and_numbers_are_their_strings() -> None:
    assert allowed_when({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": ["true"]})
    assert allowed_when({"NumericLessThan": {"s3:max-keys": 10}}, {"s3:max-keys": ["3"]})


@pytest.mark.parametrize(
    ("operator", "holds_when_missing"),
    [
        ("StringEquals", False),
        ("StringLike", False),
        ("StringEqualsIgnoreCase", False),
        ("ArnEquals", False),
        ("ArnLike", False),
        ("Bool", False),
        ("NumericEquals", False),
        ("NumericLessThan", False),
        # Negated operators hold when the key is absent (the Condition operators page).
        ("StringNotEquals", True),
        ("StringNotEqualsIgnoreCase", True),
        ("StringNotLike", True),
        ("ArnNotEquals", True),
        ("ArnNotLike", True),
        ("NumericNotEquals", True),
        ("StringEqualsIfExists", True),
        ("ArnLikeIfExists", True),
        ("BoolIfExists", True),
        ("NumericLessThanIfExists", True),
        ("ForAllValues:StringEquals", True),
        ("ForAnyValue:StringEquals", False),
        ("ForAnyValue:StringEqualsIfExists", False),
    ],
)
def test_a_missing_key(operator: str, holds_when_missing: bool) -> None:
    assert allowed_when({operator: {"k:key": "1"}}, {}) is holds_when_missing
    # In a Deny next to an Allow of everything, the condition holding means denied.
    assert allowed_when({operator: {"k:key": "1"}}, {}, effect="Deny") is not holds_when_missing


def test_if_exists_still_checks_a_present_key() -> None:
    assert not allowed_when({"StringEqualsIfExists": {"k:key": "a"}}, {"k:key": ["b"]})
    assert allowed_when({"StringEqualsIfExists": {"k:key": "a"}}, {"k:key": ["a"]})


def test_null_checks_presence() -> None:
    assert allowed_when({"Null": {"k:key": "true"}}, {})
    assert not allowed_when({"Null": {"k:key": "true"}}, {"k:key": ["x"]})
    assert allowed_when({"Null": {"k:key": "false"}}, {"k:key": ["x"]})
    assert not allowed_when({"Null": {"k:key": "false"}}, {})


def test_set_operators_over_multivalued_keys() -> None:
    tags = {"aws:TagKeys": ["env", "owner"]}
    assert allowed_when({"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "owner", "team"]}}, tags)
    assert not allowed_when({"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}, tags)
    assert allowed_when({"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}, tags)
    assert not allowed_when({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}, tags)
    assert allowed_when({"ForAnyValue:StringNotLike": {"aws:TagKeys": ["env"]}}, tags)
    assert not allowed_when({"ForAllValues:StringNotLike": {"aws:TagKeys": ["env"]}}, tags)
    assert allowed_when({"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}, {"aws:TagKeys": []})


def test_passed_to_service_scopes_pass_role() -> None:
    statement = allow(
        "iam:PassRole", ROLE, Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}
    )

    def passing(context: dict[str, list[str]]) -> bool:
        return decide(statement, action="iam:PassRole", resource=ROLE, context=context).allowed

    assert passing({"iam:PassedToService": ["lambda.amazonaws.com"]})
    assert not passing({"iam:PassedToService": ["ec2.amazonaws.com"]})
    assert not passing({})  # absent key: the condition is false, not satisfied


def test_permissions_boundary_condition_requires_the_boundary() -> None:
    boundary_arn = f"arn:aws:iam::{ACCOUNT}:policy/twin-boundary"
    statement = allow("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/twin-*",
                      Condition={"StringEquals": {"iam:PermissionsBoundary": boundary_arn}})

    def creating(context: dict[str, list[str]]) -> bool:
        return decide(statement, action="iam:CreateRole", resource=ROLE, context=context).allowed

    assert creating({"iam:PermissionsBoundary": [boundary_arn]})
    assert not creating({"iam:PermissionsBoundary": [f"arn:aws:iam::{ACCOUNT}:policy/other"]})
    assert not creating({})


# --- what the evaluator cannot decide ---------------------------------------------------------------


def test_an_unsupported_operator_never_allows_and_says_so() -> None:
    decision = decide(allow(Condition={"DateLessThan": {"aws:CurrentTime": "2100-01-01T00:00:00Z"}}),
                      context={"aws:CurrentTime": ["2026-01-01T00:00:00Z"]})
    assert not decision.allowed
    assert "condition operator 'DateLessThan' is not supported" in decision.reason


def test_an_unsupported_operator_in_a_deny_denies() -> None:
    decision = decide(allow(), deny(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    assert not decision.allowed
    assert "explicit deny" in decision.reason and "IpAddress" in decision.reason


def test_an_undecidable_deny_that_a_decidable_part_rules_out_does_not_apply() -> None:
    assert decide(allow(), deny(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
                                           "StringEquals": {"k:key": "x"}})).allowed
    assert decide(allow(), deny("s3:*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})).allowed


def test_an_unknown_set_operator_is_refused() -> None:
    decision = decide(allow(Condition={"ForSomeValues:StringEquals": {"k:key": "x"}}), context={"k:key": ["x"]})
    assert not decision.allowed
    assert "unknown condition set operator 'ForSomeValues'" in decision.reason


def test_policy_variables_are_not_evaluated() -> None:
    decision = decide(allow(resource="arn:aws:lambda:us-east-1:123456789012:function:${aws:username}-*"),
                      context={"aws:username": ["twin"]})
    assert not decision.allowed
    assert "policy variables are not supported" in decision.reason
    assert not decide(allow(), deny(Condition={"StringEquals": {"k:key": "${aws:username}"}})).allowed
    # Another Resource entry that matches decides the statement.
    assert decide(allow(resource=["arn:aws:s3:::${aws:username}/*", FUNCTION])).allowed


# --- principal() against moto's IAM backend -----------------------------------------------------------


@mock_aws
def test_principal_reads_a_roles_inline_and_managed_policies_and_boundary() -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    trust = policy({"Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"},
                    "Action": "sts:AssumeRole"})
    boundary_arn = iam.create_policy(PolicyName="boundary", PolicyDocument=json.dumps(policy(allow("lambda:*"))))[
        "Policy"]["Arn"]
    managed_arn = iam.create_policy(PolicyName="managed", PolicyDocument=json.dumps(policy(allow("s3:*"))))[
        "Policy"]["Arn"]
    iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=json.dumps(trust),
                    PermissionsBoundary=boundary_arn)
    iam.put_role_policy(RoleName="deployer", PolicyName="inline", PolicyDocument=json.dumps(policy(allow())))
    iam.attach_role_policy(RoleName="deployer", PolicyArn=managed_arn)

    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/AWSCloudFormation"
    who = principal(ACCOUNT, session)
    assert who.arn == session
    assert policy(allow()) in who.identity_policies and policy(allow("s3:*")) in who.identity_policies
    assert who.boundary == policy(allow("lambda:*"))
    assert evaluate(who, Request("lambda:CreateFunction", FUNCTION)).allowed
    # s3 is granted by the managed policy but not by the boundary.
    assert not evaluate(who, Request("s3:PutObject", "arn:aws:s3:::b/k")).allowed

    assert principal(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/deployer").boundary == who.boundary
    with pytest.raises(UnknownPrincipal):
        principal(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/nobody")


@mock_aws
def test_principal_reads_a_users_own_and_group_policies() -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="dev")
    iam.put_user_policy(UserName="dev", PolicyName="own", PolicyDocument=json.dumps(policy(allow("s3:*"))))
    iam.create_group(GroupName="devs")
    iam.put_group_policy(GroupName="devs", PolicyName="group", PolicyDocument=json.dumps(policy(allow())))
    iam.add_user_to_group(GroupName="devs", UserName="dev")

    who = principal(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/dev")
    assert who.boundary is None
    assert evaluate(who, Request("lambda:CreateFunction", FUNCTION)).allowed
    assert evaluate(who, Request("s3:GetObject", "arn:aws:s3:::b/k")).allowed
    assert not evaluate(who, Request("iam:CreateRole", ROLE)).allowed
    with pytest.raises(UnknownPrincipal):
        principal(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/nobody")
    with pytest.raises(UnknownPrincipal):
        principal("999999999999", f"arn:aws:iam::{ACCOUNT}:user/dev")
