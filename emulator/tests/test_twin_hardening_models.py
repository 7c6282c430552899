"""What the hardened twin.yaml needs from the emulator's models, checked in-process (moto + install()).

  * AWS::IAM::Role PermissionsBoundary is updated in place, as on AWS ("Update requires: No
    interruption"): twinctl passes the environment's boundary, so an existing role gains it on the
    next deploy (cfn_models_security.py Role.update). Before, the emulator kept whatever boundary
    the role was created with.
  * AWS::WAFv2::WebACL keeps what twin.yaml's web ACL says: AssociationConfig (64 KB body
    inspection), CustomResponseBodies, Block actions with CustomResponse, RuleActionOverrides and
    label rules; GetWebACL answers them unchanged (cfn_models_edge.py WebACL).

Run: cd emulator && ../.twin/emulator/venv/bin/python -m pytest -q tests/test_twin_hardening_models.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

import twin_emulator

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
REGION = "us-east-1"

ROLE_TEMPLATE = json.dumps({
    "Parameters": {"PermissionsBoundaryArn": {"Type": "String", "Default": ""}},
    "Conditions": {"HasPermissionsBoundary": {"Fn::Not": [{"Fn::Equals": [{"Ref": "PermissionsBoundaryArn"}, ""]}]}},
    "Resources": {
        "FunctionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "PermissionsBoundary": {"Fn::If": [
                    "HasPermissionsBoundary", {"Ref": "PermissionsBoundaryArn"}, {"Ref": "AWS::NoValue"}
                ]},
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                   "Action": "sts:AssumeRole"}],
                },
            },
        }
    },
})


@pytest.fixture
def aws() -> Any:
    twin_emulator.install()
    with mock_aws():
        yield lambda service: boto3.client(service, region_name=REGION)


def deploy(cfn: Any, name: str, template: str, parameters: dict[str, str], update: bool = False) -> dict[str, Any]:
    call = cfn.update_stack if update else cfn.create_stack
    call(
        StackName=name,
        TemplateBody=template,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack.get("StackStatusReason")
    return stack


def boundary_of(iam: Any, cfn: Any, stack: str) -> tuple[str, str | None]:
    """(role id, boundary ARN or None) of the stack's role."""
    resources = cfn.describe_stack_resources(StackName=stack)["StackResources"]
    name = next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "FunctionRole")
    role = iam.get_role(RoleName=name)["Role"]
    return role["RoleId"], role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")


def test_a_roles_permissions_boundary_is_added_changed_and_removed_in_place(aws: Any) -> None:
    cfn, iam = aws("cloudformation"), aws("iam")
    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}
    ]})
    first = iam.create_policy(PolicyName="twin-ci-local-boundary-us-east-1", PolicyDocument=document)["Policy"]["Arn"]
    second = iam.create_policy(PolicyName="twin-ci-local-boundary-2", PolicyDocument=document)["Policy"]["Arn"]

    deploy(cfn, "bounded", ROLE_TEMPLATE, {"PermissionsBoundaryArn": ""})
    role_id, boundary = boundary_of(iam, cfn, "bounded")
    assert boundary is None

    # Each update keeps the role (same id: in place, no replacement) and applies the boundary asked for.
    for wanted in (first, second, ""):
        deploy(cfn, "bounded", ROLE_TEMPLATE, {"PermissionsBoundaryArn": wanted}, update=True)
        assert boundary_of(iam, cfn, "bounded") == (role_id, wanted or None)

    # Created with a boundary, it has it from the start.
    deploy(cfn, "bounded-from-start", ROLE_TEMPLATE, {"PermissionsBoundaryArn": first})
    assert boundary_of(iam, cfn, "bounded-from-start")[1] == first


def twin_web_acl_template() -> tuple[str, dict[str, Any]]:
    """twin.yaml's WebAcl resource alone (its condition dropped), as a template, and its properties."""
    from moto.cloudformation.models import Stack

    twin = Stack.parse_template((TEMPLATES / "twin.yaml").read_text())
    web_acl = dict(twin["Resources"]["WebAcl"])
    web_acl.pop("Condition", None)
    parameters = {k: twin["Parameters"][k] for k in ("ProjectName", "EnvironmentName", "WafRateLimit")}
    template = {"Parameters": parameters, "Resources": {"WebAcl": web_acl},
                "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["WebAcl", "Arn"]}}}}
    return json.dumps(template), web_acl["Properties"]


def test_the_twins_web_acl_keeps_its_custom_responses_inspection_limit_and_label_rules(aws: Any) -> None:
    cfn, wafv2 = aws("cloudformation"), aws("wafv2")
    template, declared = twin_web_acl_template()
    stack = deploy(cfn, "waf", template, {"EnvironmentName": "staging", "WafRateLimit": "500"})
    arn = next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "Arn")
    name, acl_id = arn.split("/")[-2:]
    assert name == f"twin-staging-{REGION}"

    acl = wafv2.get_web_acl(Name=name, Id=acl_id, Scope="CLOUDFRONT")["WebACL"]
    assert acl["AssociationConfig"] == {"RequestBody": {"CLOUDFRONT": {"DefaultSizeInspectionLimit": "KB_64"}}}
    assert acl["CustomResponseBodies"] == declared["CustomResponseBodies"]
    assert all(body["ContentType"] == "APPLICATION_JSON" for body in acl["CustomResponseBodies"].values())
    rules = {r["Name"]: r for r in acl["Rules"]}
    assert list(rules) == [r["Name"] for r in declared["Rules"]]

    def status(rule: str) -> int:
        return rules[rule]["Action"]["Block"]["CustomResponse"]["ResponseCode"]

    assert (status("RateLimitPerIp"), status("BodyOver64KiB")) == (429, 413)
    assert status("BlockCommonRuleSetMatches") == status("BlockKnownBadInputsMatches") == 400
    crs = rules["AWSManagedRulesCommonRuleSet"]
    assert crs["OverrideAction"] == {"Count": {}}
    assert crs["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"] == [
        {"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}
    ]
    size = rules["BodyOver64KiB"]["Statement"]["SizeConstraintStatement"]
    assert size["FieldToMatch"] == {"Body": {"OversizeHandling": "MATCH"}} and int(size["Size"]) == 65536
    # The label rule arrives whole (its statements nest three deep).
    assert rules["BlockCommonRuleSetMatches"]["Statement"] == next(
        r["Statement"] for r in declared["Rules"] if r["Name"] == "BlockCommonRuleSetMatches"
    )

    # An update (another rate limit) keeps all of it.
    deploy(cfn, "waf", template, {"EnvironmentName": "staging", "WafRateLimit": "600"}, update=True)
    acl = wafv2.get_web_acl(Name=name, Id=acl_id, Scope="CLOUDFRONT")["WebACL"]
    assert acl["Rules"][0]["Statement"]["RateBasedStatement"]["Limit"] == 600
    assert acl["AssociationConfig"]["RequestBody"]["CLOUDFRONT"]["DefaultSizeInspectionLimit"] == "KB_64"
    assert acl["CustomResponseBodies"] == declared["CustomResponseBodies"]
