"""templates/environment-access.yaml in its two modes, checked statically: the stack of one environment
(Environments = EnvironmentName = staging) and the one stack of every pull request preview (EnvironmentName pr,
Environments pr-*, TwinStackName twin-pr-*).

The template is read with cfn-lint's loader and rendered for each mode as CloudFormation would: conditions
evaluated, `!If` resolved, `!Ref AWS::NoValue` dropped, `!Sub` and `!Ref` substituted. Then:

- the previews' deploy role has exactly the statements `twinctl destroy pr-<n> --delete-data --yes` needs beyond
  the CI grants (twinctl/src/destroy.rs, ADMIN_ONLY in twinctl/src/aws/permissions.rs), each under
  `!If [Previews, ...]`, and loses the Deny of deleting memory; an environment's roles are what they were;
- every grant of the previews' roles reaches a preview's resources (pr-7's, pr-12345678's) and no resource of
  staging, production or the CI stacks and roles, with IAM's wildcard matching;
- the parameters and the Rule hold the modes apart;
- every ARN a grant of the deploy role, the execution role or the boundary names has the form the Service
  Authorization Reference (cfn-lint's Policies.json) gives a resource type its action acts on — a dashboard's
  ARN has no region, a log group's is `log-group:` — so no grant is dead for a misspelt ARN.

Run with the template gates' virtualenv: .twin/tools/venv/bin/python -m pytest -q templates/tests/test_access_modes.py
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

ACCESS = Path(__file__).resolve().parents[1] / "environment-access.yaml"
REGION, ACCOUNT = "us-east-1", "123456789012"
COMMON = {"ProjectName": "twin", "ArtifactsBucketName": "twin-artifacts", "BootstrapStackName": "twin-bootstrap",
          "GitHubRepository": "o/r", "OidcProviderArn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"}
STAGING = {**COMMON, "EnvironmentName": "staging", "Environments": "staging", "TwinStackName": "twin-staging"}
PREVIEWS = {**COMMON, "EnvironmentName": "pr", "Environments": "pr-*", "TwinStackName": "twin-pr-*"}
# AWS::StackName: the deploy role reads its own access stack (ReadTheBootstrapStacks); another name here keeps
# that intended read out of the "reaches nothing else" check.
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": "the-access-stack"}

# What destroy --delete-data calls that the CI grants lack (ADMIN_ONLY's destroy entries): DeleteStack of both
# stacks, DeleteObjects (s3:DeleteObject, s3:DeleteObjectVersion), DeleteBucket, DeleteSecret,
# ScheduleKeyDeletion, DeleteLogGroup; and on the memory bucket the listing the CI role has only for persona/
# (ListObjectVersions: s3:ListBucketVersions) or not at all (HeadBucket: s3:ListBucket).
DESTROY_ACTIONS = {"cloudformation:DeleteStack", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteBucket",
                   "secretsmanager:DeleteSecret", "kms:ScheduleKeyDeletion", "logs:DeleteLogGroup"}
LISTING_THE_ROLE_LACKED = {"s3:ListBucket", "s3:ListBucketVersions"}
# And what `twinctl secrets set pr-<n>` calls (SET_SECRET in permissions.rs): the preview workflow sets the
# preview's model key from a repository secret.
SET_SECRET_ACTIONS = {"secretsmanager:PutSecretValue", "kms:GenerateDataKey"}
PREVIEW_SIDS = {"DeleteThePreviewStacks", "EmptyThePreviewBuckets", "ListThePreviewMemory",
                "DeleteThePreviewMemoryBuckets", "DeleteThePreviewSecrets", "DeleteThePreviewLogGroups",
                "ScheduleThePreviewKeysDeletion", "EncryptThePreviewModelKeys"}
# The deploy role of one environment, as it was before previews (twinctl's ci_actions(); the Rust test
# twinctl/tests/ci_roles.rs compares it with them): previews must not change it.
ENVIRONMENT_DEPLOY_ACTIONS = {
    "cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet", "cloudformation:ExecuteChangeSet",
    "cloudformation:DeleteChangeSet", "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents",
    "cloudformation:ListStackResources", "cloudformation:GetTemplate", "cloudformation:UpdateTerminationProtection",
    "iam:PassRole", "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:GetObjectVersion",
    "s3:ListBucketVersions", "lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:GetAlias",
    "lambda:UpdateAlias", "lambda:PublishVersion", "lambda:ListVersionsByFunction", "lambda:InvokeFunction",
    "lambda:DeleteFunction", "secretsmanager:GetSecretValue", "kms:Decrypt", "cloudwatch:DescribeAlarms",
    "cloudwatch:GetMetricData", "logs:FilterLogEvents", "cloudfront:CreateInvalidation", "cloudfront:GetInvalidation",
    "cloudfront:GetDistributionConfig", "cloudfront:GetResponseHeadersPolicyConfig", "s3:GetBucketVersioning",
    "s3:GetEncryptionConfiguration", "s3:GetBucketPublicAccessBlock", "s3:GetBucketPolicy", "iam:ListRolePolicies",
    "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:GetPolicy", "iam:GetPolicyVersion",
    "cloudwatch:GetDashboard", "secretsmanager:DescribeSecret",
}


# --- rendering --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return json.loads(json.dumps(cfn_yaml.load(str(ACCESS))))


class _NoValue:
    pass


NO_VALUE = _NoValue()


def sub(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)] if "." not in m.group(1)
                  else f"arn:aws:iam::{ACCOUNT}:role/{m.group(1).split('.')[0]}", text)


def condition(template: dict[str, Any], name: str, values: dict[str, str]) -> bool:
    return bool(evaluate(template["Conditions"][name], template, values))


def evaluate(node: Any, template: dict[str, Any], values: dict[str, str]) -> Any:
    """A template fragment as CloudFormation resolves it for these parameter values."""
    if isinstance(node, list):
        return [v for v in (evaluate(item, template, values) for item in node) if v is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, argument), = node.items()
        if key == "Ref":
            return NO_VALUE if argument == "AWS::NoValue" else values.get(argument, PSEUDO.get(argument, f"<{argument}>"))
        if key == "Fn::Sub":
            return sub(argument if isinstance(argument, str) else argument[0], {**PSEUDO, **values})
        if key == "Fn::GetAtt":
            return f"arn:aws:iam::{ACCOUNT}:role/<{argument[0]}>"
        if key == "Fn::If":
            chosen = argument[1] if condition(template, argument[0], values) else argument[2]
            return evaluate(chosen, template, values)
        if key == "Fn::Equals":
            left, right = (evaluate(a, template, values) for a in argument)
            return left == right
        if key == "Fn::Not":
            return not evaluate(argument[0], template, values)
        if key == "Fn::And":
            return all(evaluate(a, template, values) for a in argument)
        if key == "Fn::Or":
            return any(evaluate(a, template, values) for a in argument)
        if key == "Condition":
            return condition(template, argument, values)
    return {k: v for k, v in ((k, evaluate(v, template, values)) for k, v in node.items()) if v is not NO_VALUE}


def statements(template: dict[str, Any], logical_id: str, values: dict[str, str]) -> list[dict[str, Any]]:
    """Every statement of the resource's policies (inline policies, or a managed policy's document)."""
    resource = template["Resources"][logical_id]
    if "Condition" in resource and not condition(template, resource["Condition"], values):
        return []
    properties = evaluate(resource["Properties"], template, values)
    documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
    if "PolicyDocument" in properties:
        documents.append(properties["PolicyDocument"])
    return [s for d in documents for s in as_list(d["Statement"])]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions(found: list[dict[str, Any]], effect: str = "Allow") -> set[str]:
    return {a for s in found if s["Effect"] == effect for a in as_list(s["Action"])}


def by_sid(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in found if "Sid" in s}


# --- the previews' destroy grants ---------------------------------------------------------------------------


def preview_only(template: dict[str, Any]) -> list[dict[str, Any]]:
    environment = {json.dumps(s, sort_keys=True) for s in statements(template, "DeployRole", STAGING)}
    return [s for s in statements(template, "DeployRole", PREVIEWS) if json.dumps(s, sort_keys=True) not in environment
            and s["Effect"] == "Allow" and s.get("Sid") in PREVIEW_SIDS]


def test_the_previews_deploy_role_adds_exactly_what_destroy_needs(template: dict[str, Any]) -> None:
    added = preview_only(template)
    assert {s["Sid"] for s in added} == PREVIEW_SIDS
    assert actions(added) == DESTROY_ACTIONS | LISTING_THE_ROLE_LACKED | SET_SECRET_ACTIONS
    # Beyond the CI grants, these are new to the role: the rest (s3:DeleteObject of site objects, the
    # listings) it had on other resources only.
    new = actions(statements(template, "DeployRole", PREVIEWS)) - actions(statements(template, "DeployRole", STAGING))
    assert new == (DESTROY_ACTIONS - {"s3:DeleteObject"}) | SET_SECRET_ACTIONS
    grants = by_sid(added)
    assert grants["ListThePreviewMemory"]["Resource"] == "arn:aws:s3:::twin-pr-*-data-memorybucket-*"
    assert "Condition" not in grants["ListThePreviewMemory"]  # the whole bucket, not only persona/
    assert grants["DeleteThePreviewStacks"]["Resource"] == [
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/twin-pr-*/*",
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/twin-pr-*-data/*",
    ]
    assert grants["ScheduleThePreviewKeysDeletion"]["Condition"] == {
        "ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/twin-pr-*"},
        "ForAllValues:StringLike": {"kms:ResourceAliases": "alias/twin-pr-*"},
    }
    # No new PassRole: DeleteStack without RoleARN uses the stack's role.
    assert [s["Sid"] for s in statements(template, "DeployRole", PREVIEWS)
            if "iam:PassRole" in as_list(s["Action"]) and s["Effect"] == "Allow"] == ["PassTheExecutionRoleToCloudFormation"]


def test_only_previews_lose_the_deny_of_deleting_memory(template: dict[str, Any]) -> None:
    assert "DenyDeletingMemory" in by_sid(statements(template, "DeployRole", STAGING))
    assert "DenyDeletingMemory" not in by_sid(statements(template, "DeployRole", PREVIEWS))
    # The other Deny statements stay in both modes.
    for values in (STAGING, PREVIEWS):
        assert {"DenyChangingBootstrapStacks", "DenyChangingCiRoles"} <= set(by_sid(statements(template, "DeployRole", values)))


def test_every_if_in_the_roles_policies_is_the_previews_condition(template: dict[str, Any]) -> None:
    """twinctl's own check (twinctl/tests/ci_roles.rs) resolves `!If [Previews, ...]` and nothing else."""

    def ifs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["Fn::If"][0]] if "Fn::If" in node else []
            return found + [c for v in node.values() for c in ifs(v)]
        if isinstance(node, list):
            return [c for v in node for c in ifs(v)]
        return []

    for role in ("ExecutionRole", "DeployRole"):
        policies = template["Resources"][role]["Properties"]["Policies"]
        assert set(ifs(policies)) <= {"Previews"}, role
    assert len(ifs(template["Resources"]["DeployRole"]["Properties"]["Policies"])) == len(PREVIEW_SIDS) + 1


def test_an_environments_roles_are_unchanged(template: dict[str, Any]) -> None:
    deploy = statements(template, "DeployRole", STAGING)
    assert actions(deploy) == ENVIRONMENT_DEPLOY_ACTIONS
    assert not PREVIEW_SIDS & set(by_sid(deploy))
    # The execution role and the boundary are the same statements in both modes, only their names differ.
    for logical_id in ("ExecutionRole", "FunctionBoundary"):
        staging, previews = (statements(template, logical_id, v) for v in (STAGING, PREVIEWS))
        assert [(s.get("Sid"), sorted(as_list(s["Action"]))) for s in staging] == [
            (s.get("Sid"), sorted(as_list(s["Action"]))) for s in previews], logical_id


def test_the_trust_matches_the_environments_jobs(template: dict[str, Any]) -> None:
    for values, subject in ((STAGING, "repo:o/r:environment:staging"), (PREVIEWS, "repo:o/r:environment:pr-*")):
        trust = evaluate(template["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"], template, values)
        (statement,) = trust["Statement"]
        assert statement["Condition"] == {
            "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
            "StringLike": {"token.actions.githubusercontent.com:sub": subject},
        }


# --- what the previews' grants reach --------------------------------------------------------------------------


def arn_pattern(pattern: str) -> re.Pattern[str]:
    """IAM's Resource matching, made generous: `*` any run of characters (colons and slashes included),
    `?` one. Generous is the safe side for "reaches nothing else" (a looser matcher finds more)."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def allowed_resources(template: dict[str, Any], values: dict[str, str], action: str | None = None,
                      roles: tuple[str, ...] = ("FunctionBoundary", "ExecutionRole", "DeployRole")) -> list[str]:
    """The Resource patterns the roles' Allow statements grant (`action`'s only, when given)."""
    found = []
    for logical_id in roles:
        for statement in statements(template, logical_id, values):
            if statement["Effect"] == "Allow" and (action is None or action in as_list(statement["Action"])):
                found += [r for r in as_list(statement["Resource"]) if r != "*"]
    return found


def preview_resources(environment: str) -> list[str]:
    """ARNs of one environment's resources, named as twin.yaml and twin-data.yaml name them."""
    return [arn for _, _, arn in needed(environment)]


def needed(environment: str) -> list[tuple[str, str, str]]:
    """(role, action, ARN): what each role must be able to do on one environment's resources."""
    stack, name, r = f"twin-{environment}", f"twin-{environment}", f"{REGION}:{ACCOUNT}"
    site, memory = f"arn:aws:s3:::{stack}-frontendbucket-abcdefghijk1", f"arn:aws:s3:::{stack}-data-memorybucket-abcdefghijk1"
    secret = f"arn:aws:secretsmanager:{r}:secret:twin/{environment}"
    app, data = f"arn:aws:cloudformation:{r}:stack/{stack}/1b2c", f"arn:aws:cloudformation:{r}:stack/{stack}-data/1b2c"
    function, role = f"arn:aws:lambda:{r}:function:{name}-api", f"arn:aws:iam::{ACCOUNT}:role/{stack}-FunctionRole-ABCDEFGHIJK1"
    groups = [f"arn:aws:logs:{r}:log-group:/aws/lambda/{name}-api", f"arn:aws:logs:{r}:log-group:/aws/apigateway/{name}-api"]
    return [
        ("ExecutionRole", "s3:CreateBucket", site), ("ExecutionRole", "s3:CreateBucket", memory),
        ("ExecutionRole", "iam:CreateRole", role), ("ExecutionRole", "lambda:CreateFunction", function),
        ("ExecutionRole", "logs:CreateLogGroup", groups[0]), ("ExecutionRole", "logs:CreateLogGroup", groups[1]),
        ("ExecutionRole", "kms:CreateAlias", f"arn:aws:kms:{r}:alias/{name}"),
        ("ExecutionRole", "secretsmanager:CreateSecret", f"{secret}/origin-verify-AbCdEf"),
        ("ExecutionRole", "secretsmanager:GetSecretValue", f"{secret}/origin-verify-AbCdEf"),
        ("ExecutionRole", "sns:CreateTopic", f"arn:aws:sns:{r}:{name}-alarms"),
        ("ExecutionRole", "cloudwatch:PutMetricAlarm", f"arn:aws:cloudwatch:{r}:alarm:{name}-function-error-rate"),
        ("ExecutionRole", "cloudwatch:PutDashboard", f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{name}-{REGION}"),
        ("ExecutionRole", "wafv2:CreateWebACL", f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/{name}-{REGION}/1b2c"),
        ("DeployRole", "cloudformation:CreateChangeSet", app), ("DeployRole", "cloudformation:CreateChangeSet", data),
        ("DeployRole", "s3:PutObject", f"{site}/index.html"), ("DeployRole", "s3:PutObject", f"{memory}/persona/me.txt"),
        ("DeployRole", "s3:PutObject", f"arn:aws:s3:::twin-artifacts/locks/{environment}.json"),
        ("DeployRole", "s3:PutObject", f"arn:aws:s3:::twin-artifacts/releases/{environment}/7.json"),
        ("DeployRole", "lambda:UpdateAlias", function), ("DeployRole", "lambda:DeleteFunction", f"{function}:7"),
        ("DeployRole", "secretsmanager:GetSecretValue", f"{secret}/origin-verify-AbCdEf"),
        ("DeployRole", "secretsmanager:DescribeSecret", f"{secret}/llm-api-key-AbCdEf"),
        ("DeployRole", "logs:FilterLogEvents", groups[0]),
        ("DeployRole", "cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{r}:alarm:{name}-function-error-rate"),
        ("DeployRole", "cloudwatch:GetDashboard", f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{name}-{REGION}"),
        ("DeployRole", "iam:GetRolePolicy", role),
        ("FunctionBoundary", "logs:PutLogEvents", f"{groups[0]}:log-stream:2026/01/01/[$LATEST]abc"),
        ("FunctionBoundary", "s3:GetObject", f"{memory}/sessions/s.json"),
        ("FunctionBoundary", "secretsmanager:GetSecretValue", f"{secret}/llm-api-key-AbCdEf"),
    ]


# What only the previews' deploy role may do, on a preview's resources (destroy --delete-data).
def destroying(environment: str) -> list[tuple[str, str, str]]:
    stack, r = f"twin-{environment}", f"{REGION}:{ACCOUNT}"
    site, memory = f"arn:aws:s3:::{stack}-frontendbucket-abcdefghijk1", f"arn:aws:s3:::{stack}-data-memorybucket-abcdefghijk1"
    return [
        ("DeployRole", "cloudformation:DeleteStack", f"arn:aws:cloudformation:{r}:stack/{stack}/1b2c"),
        ("DeployRole", "cloudformation:DeleteStack", f"arn:aws:cloudformation:{r}:stack/{stack}-data/1b2c"),
        ("DeployRole", "s3:DeleteObjectVersion", f"{site}/index.html"),
        ("DeployRole", "s3:DeleteObject", f"{memory}/sessions/s.json"),
        ("DeployRole", "s3:DeleteObjectVersion", f"{memory}/sessions/s.json"),
        ("DeployRole", "s3:ListBucketVersions", memory), ("DeployRole", "s3:ListBucket", memory),
        ("DeployRole", "s3:DeleteBucket", memory),
        ("DeployRole", "secretsmanager:DeleteSecret", f"arn:aws:secretsmanager:{r}:secret:twin/{environment}/llm-api-key-AbCdEf"),
        ("DeployRole", "logs:DeleteLogGroup", f"arn:aws:logs:{r}:log-group:/aws/lambda/twin-{environment}-api"),
        ("DeployRole", "logs:DeleteLogGroup", f"arn:aws:logs:{r}:log-group:/aws/apigateway/twin-{environment}-api"),
        ("DeployRole", "kms:ScheduleKeyDeletion", f"arn:aws:kms:{r}:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
    ]


def others_resources() -> list[str]:
    """What no grant of the previews' roles may reach: staging's and production's resources, and the CI
    stacks, roles and boundaries (the previews' own included)."""
    found = [a for e in ("staging", "production", "local") for a in preview_resources(e)]
    for e in ("pr", "staging"):
        found += [f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/twin-ci-{e}/1b2c",
                  f"arn:aws:iam::{ACCOUNT}:role/twin-ci-{e}-deploy-{REGION}", f"arn:aws:iam::{ACCOUNT}:role/twin-ci-{e}-cfn-{REGION}",
                  f"arn:aws:iam::{ACCOUNT}:policy/twin-ci-{e}-boundary-{REGION}"]
    # (The bootstrap stack and the access stack itself are read, DescribeStacks, by design: not listed.)
    return found + ["arn:aws:s3:::twin-artifacts/locks/staging.json"]


def reaching(patterns: list[str], arn: str) -> list[str]:
    return [p for p in patterns if arn_pattern(p).fullmatch(arn)]


def reach_problems(template: dict[str, Any], values: dict[str, str] = PREVIEWS,
                   environments: tuple[str, ...] = ("pr-7", "pr-12345678")) -> list[str]:
    problems = [f"{role} may not {action} {arn}" for e in environments
                for role, action, arn in needed(e) + (destroying(e) if values is PREVIEWS else [])
                if not reaching(allowed_resources(template, values, action, (role,)), arn)]
    patterns = allowed_resources(template, values)
    # The previews' deploy role reads its own policies and its execution role's (verify): those two roles
    # only, never another stack's.
    own = {f"arn:aws:iam::{ACCOUNT}:role/twin-ci-{values['EnvironmentName']}-{role}-{REGION}" for role in ("deploy", "cfn")}
    mine = {*own, *(arn for e in environments for arn in preview_resources(e))}
    problems += [f"{arn} is reached by {reaching(patterns, arn)}" for arn in others_resources()
                 if reaching(patterns, arn) and arn not in mine]
    problems += [f"a grant on every project's name: {p}" for p in patterns if re.search(r"(:::|/|:)twin[-/]\*", p)]
    return problems


def test_the_previews_grants_reach_previews_and_nothing_else(template: dict[str, Any]) -> None:
    assert reach_problems(template) == []
    # The environment's grants reach staging's (destroy aside) and no preview's.
    assert reach_problems(template, STAGING, ("staging",)) == []
    patterns = allowed_resources(template, STAGING)
    assert not [arn for arn in preview_resources("pr-7") if reaching(patterns, arn)]
    assert not [arn for _, action, arn in destroying("staging")
                if reaching(allowed_resources(template, STAGING, action, ("DeployRole",)), arn)
                and action not in ("s3:DeleteObject", "s3:ListBucket", "s3:ListBucketVersions")]

    # A grant still named by EnvironmentName (twin/pr/*) misses the previews; one on twin-* reaches everything.
    broken = copy.deepcopy(template)
    grants = broken["Resources"]["ExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    secrets = next(s for s in grants if s.get("Sid") == "Secrets")
    secrets["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${ProjectName}/${EnvironmentName}/*"}
    assert (f"ExecutionRole may not secretsmanager:CreateSecret arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
            "twin/pr-7/origin-verify-AbCdEf") in reach_problems(broken)
    functions = next(s for s in grants if s.get("Sid") == "Functions")
    functions["Resource"] = [{"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${ProjectName}-*"}]
    problems = reach_problems(broken)
    assert any(p.startswith(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:twin-staging-api is reached") for p in problems)
    assert any(p.startswith("a grant on every project's name") for p in problems), problems


def test_the_ci_roles_denies_cover_the_previews_roles(template: dict[str, Any]) -> None:
    for logical_id in ("ExecutionRole", "DeployRole"):
        denied = [r for s in statements(template, logical_id, PREVIEWS) if s["Effect"] == "Deny"
                  and "iam:PutRolePolicy" in as_list(s["Action"]) for r in as_list(s["Resource"])]
        for role in ("deploy", "cfn"):
            arn = f"arn:aws:iam::{ACCOUNT}:role/twin-ci-pr-{role}-{REGION}"
            if logical_id == "DeployRole" and role == "cfn":
                continue  # the deploy role's Deny names the deploy roles; the execution role's, every CI role
            assert reaching(denied, arn), (logical_id, arn, denied)
    denied_stacks = [r for s in statements(template, "DeployRole", PREVIEWS) if s["Effect"] == "Deny"
                     and "cloudformation:DeleteStack" in as_list(s["Action"]) for r in as_list(s["Resource"])]
    assert reaching(denied_stacks, f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/twin-ci-pr/1b2c")


# --- the parameters and the rule ----------------------------------------------------------------------------


def test_environments_is_one_name_or_a_prefix_pattern(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    environments = parameters["Environments"]["AllowedPattern"]
    assert "Default" not in parameters["Environments"]
    for good in ("staging", "production", "pr-*", "local", "e" * 16, "p" * 14 + "-*"):
        assert re.fullmatch(environments, good), good
    for bad in ("*", "pr*", "-*", "pr-**", "pr-*-x", "twin-*-*", "", "Staging", "e" * 17, "p" * 15 + "-*"):
        assert not re.fullmatch(environments, bad), bad
    stacks = parameters["TwinStackName"]["AllowedPattern"]
    for good in ("twin-staging", "twin-pr-*", "p" * 21 + "-" + "e" * 16):
        assert re.fullmatch(stacks, good), good
    for bad in ("twin-*-x", "*", "twin*", "twin-pr-**"):
        assert not re.fullmatch(stacks, bad), bad
    assert re.fullmatch(parameters["EnvironmentName"]["AllowedPattern"], "pr")


def rule_holds(template: dict[str, Any], values: dict[str, str]) -> bool:
    rule = template["Rules"]["PreviewsArePullRequests"]
    if not evaluate(rule["RuleCondition"], template, values):
        return True
    return all(evaluate(a["Assert"], template, values) for a in rule["Assertions"])


def test_the_rule_and_the_conditions_hold_the_modes_apart(template: dict[str, Any]) -> None:
    assert rule_holds(template, STAGING) and rule_holds(template, PREVIEWS)
    assert not rule_holds(template, {**PREVIEWS, "Environments": "staging"})
    assert not rule_holds(template, {**PREVIEWS, "EnvironmentName": "qa", "Environments": "qa-*"})
    assert condition(template, "Previews", PREVIEWS) and not condition(template, "Previews", STAGING)
    assert condition(template, "HasDeployRole", PREVIEWS) and condition(template, "HasDeployRole", STAGING)
    # TwinStackName, which no rule can compare: a previews' stack whose pattern names other stacks has no
    # deploy role (the one that may destroy).
    assert not condition(template, "HasDeployRole", {**PREVIEWS, "TwinStackName": "twin-staging"})
    assert not condition(template, "HasDeployRole", {**PREVIEWS, "TwinStackName": "twin-*"})
    assert statements(template, "DeployRole", {**PREVIEWS, "TwinStackName": "twin-*"}) == []
    assert not condition(template, "HasDeployRole", {**STAGING, "GitHubRepository": ""})


# --- every ARN a grant names has the form the Service Authorization Reference gives its resource type ------


def policies_reference() -> dict[str, Any]:
    """The Service Authorization Reference as cfn-lint ships it: per service prefix, each action's resource
    types and each resource type's ARN formats (`arn:${Partition}:cloudwatch::${Account}:dashboard/.*`)."""
    import cfnlint

    path = Path(cfnlint.__file__).parent / "data" / "AdditionalSpecs" / "Policies.json"
    return json.loads(path.read_text(encoding="utf-8"))


def arn_format_pattern(arn_format: str) -> re.Pattern[str]:
    """An ARN format as a regex: ${Partition}, ${Region} and ${Account} as AWS spells them (a global resource
    has an empty region; AWS managed policies have the account `aws`), any other ${Name} as one or more
    characters, `.*` as it stands."""
    pieces = re.split(r"(\$\{[A-Za-z]+\}|\.\*)", arn_format)
    fixed = {"${Partition}": "aws[a-z-]*", "${Region}": "[a-z0-9-]+", "${Account}": "([0-9]{12}|aws)", ".*": ".*"}
    return re.compile("".join(fixed.get(p, ".+" if p.startswith("${") else re.escape(p)) for p in pieces) + "$")


def arn_format_problems(found: list[dict[str, Any]], reference: dict[str, Any], label: str) -> list[str]:
    """Dead grants against the reference, as IAM reads a statement (each action on each resource, an action
    that does not act on a resource's type never matching it): an action none of whose resource types has the
    form of any of the statement's ARNs, and an ARN no action of the statement acts on. A grant's wildcards
    stand for a name (`twin-pr-*` as `twin-pr-x`), so the form around them is what counts. Resource type names
    are compared case-insensitively (the data spells some `Secret`, others `secret`)."""

    def formats(action: str) -> list[str]:
        service, name = action.split(":", 1)
        entry = reference.get(service, {})
        types = {t.lower(): v for t, v in entry.get("Resources", {}).items()}
        wanted = entry.get("Actions", {}).get(name.lower(), {}).get("Resources", [])
        return [f for t in wanted for f in types.get(t.lower(), {}).get("ARNFormats", [])]

    problems = []
    for statement in found:
        if statement["Effect"] != "Allow":
            continue
        resources = [r for r in as_list(statement.get("Resource", [])) if r != "*"]  # star grants: test_execution_role.py
        if not resources:
            continue
        concrete = {r: r.replace("*", "x").replace("?", "x") for r in resources}
        acts_on = {a: [r for r in resources if any(arn_format_pattern(f).match(concrete[r]) for f in formats(a))]
                   for a in as_list(statement["Action"])}
        for action, matched in acts_on.items():
            if not matched:
                problems.append(f"{label} {statement.get('Sid')}: {action} acts on none of {resources} "
                                f"(its resource types' forms: {formats(action)})")
        for resource in resources:
            if not any(resource in matched for matched in acts_on.values()):
                problems.append(f"{label} {statement.get('Sid')}: no action of the statement acts on {resource}")
    return problems


@pytest.mark.parametrize("values", [STAGING, PREVIEWS], ids=["environment", "previews"])
def test_every_granted_arn_has_the_form_of_its_actions_resource_type(template: dict[str, Any], values: dict[str, str]) -> None:
    reference = policies_reference()
    problems = []
    for logical_id in ("DeployRole", "ExecutionRole", "FunctionBoundary"):
        problems += arn_format_problems(statements(template, logical_id, values), reference, logical_id)
    assert not problems, "\n".join(problems)


def test_a_regional_dashboard_arn_is_refused_by_the_reference() -> None:
    """The check can fail: CloudWatch dashboards are global (no region in their ARN), and CloudFront's
    response-headers policies too."""
    reference = policies_reference()
    wrong = [
        {"Effect": "Allow", "Sid": "D", "Action": "cloudwatch:GetDashboard",
         "Resource": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:dashboard/twin-staging-x"},
        {"Effect": "Allow", "Sid": "P", "Action": "cloudfront:GetResponseHeadersPolicyConfig",
         "Resource": f"arn:aws:cloudfront:{REGION}:{ACCOUNT}:response-headers-policy/x"},
        {"Effect": "Allow", "Sid": "L", "Action": "logs:FilterLogEvents",
         "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:loggroup:/aws/lambda/x"},
    ]
    problems = arn_format_problems(wrong, reference, "fixture")
    assert all(any(f"fixture {sid}:" in p for p in problems) for sid in "DPL"), problems
    right = [dict(s) for s in wrong]
    right[0]["Resource"] = f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/twin-staging-x"
    right[1]["Resource"] = f"arn:aws:cloudfront::{ACCOUNT}:response-headers-policy/x"
    right[2]["Resource"] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/x"
    assert arn_format_problems(right, reference, "fixture") == []
