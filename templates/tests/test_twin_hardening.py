"""Static gates on templates/twin.yaml (the app stack) and templates/twin-data.yaml (the data stack it
attaches to): what they need before they can run in a real AWS account.

Self-contained (no conftest). Run with the template gates' virtualenv, which has cfn-lint:

    .twin/tools/venv/bin/python -m pytest -q templates/tests/test_twin_hardening.py

The templates are read with cfn-lint's own loader (short-form tags such as !Sub and !If become their
long forms). Each gate is a function returning the problems it finds; every test runs it on the real
template (expecting none) and on a copy broken in the way the gate exists to catch (expecting that
problem), so a gate that cannot fail fails its own test.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
from pathlib import Path
from typing import Any, Callable

import cfnlint
import pytest
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TWIN = ROOT / "templates" / "twin.yaml"
TWIN_DATA = ROOT / "templates" / "twin-data.yaml"
RUNTIME_CONFIG = ROOT / "runtime" / "src" / "config.rs"

Template = dict[str, Any]


def load(path: Path) -> Template:
    """The template as plain dicts, lists and scalars (cfn-lint's nodes, JSON round-tripped)."""
    return json.loads(json.dumps(cfn_yaml.load(str(path))))


@pytest.fixture(scope="module")
def twin() -> Template:
    return load(TWIN)


@pytest.fixture(scope="module")
def twin_data() -> Template:
    return load(TWIN_DATA)


def resources_of(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r.get("Type") == resource_type}


def props(template: Template, logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]


def walk(node: Any) -> Any:
    """Every dict inside a template fragment, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def expect(check: Callable[[Template], list[str]], template: Template, fragment: str) -> None:
    """The broken template makes `check` report a problem mentioning `fragment`."""
    problems = check(template)
    assert any(fragment in p for p in problems), f"expected a problem with {fragment!r}, got {problems}"


# --- 1. Account-global names carry the region --------------------------------------------------

# The longest values the names are built from: ProjectName's pattern allows 21 characters,
# environment names up to 16 (environment-access.yaml), region names up to 14 (ap-southeast-4).
LONGEST = {"ProjectName": "p" * 21, "EnvironmentName": "e" * 16, "AWS::Region": "ap-southeast-4"}
# A pull request's preview with the longest number twin.yaml accepts (8 digits).
LONGEST_PREVIEW = {**LONGEST, "EnvironmentName": "pr-12345678"}
PREFIX = "${ProjectName}-${EnvironmentName}-"
# EnvironmentName: the three environments and pull request previews pr-<n> (n: 1 to 8 digits, no
# leading zero), nothing else: environment-access.yaml's previews' roles reach pr-*, so no other
# environment may start with pr-.
ENVIRONMENTS_ACCEPTED = ["local", "staging", "production", "pr-1", "pr-42", "pr-10", "pr-12345678"]
ENVIRONMENTS_REFUSED = ["", "dev", "ci", "pr", "pr-", "pr-0", "pr-07", "pr-123456789", "pr-x", "pr-1a", "PR-1",
                        "pr-*", "pr-1-data", "pr-staging", "production-2", " local", "local\n"]
ENVIRONMENT_MAX_LENGTH = 16  # environment-access.yaml's EnvironmentName: the names below are checked with it


def pattern_width(pattern: str) -> tuple[int, int]:
    """The shortest and longest strings a regular expression matches (Python's own parser; MAXREPEAT
    when unbounded)."""
    import re._parser as parser  # noqa: PLC0415 - the stdlib's regex parser, for getwidth()

    return parser.parse(pattern).getwidth()


def environment_problems(template: Template) -> list[str]:
    spec = template["Parameters"]["EnvironmentName"]
    pattern = spec.get("AllowedPattern")
    if "AllowedValues" in spec or pattern is None:
        return ["EnvironmentName: an AllowedPattern (pr-<n> previews), not AllowedValues"]
    problems = [f"EnvironmentName: refuses {name!r}" for name in ENVIRONMENTS_ACCEPTED if not re.fullmatch(pattern, name)]
    problems += [f"EnvironmentName: accepts {name!r}" for name in ENVIRONMENTS_REFUSED if re.fullmatch(pattern, name)]
    longest = min(pattern_width(pattern)[1], int(spec.get("MaxLength", 10**6)))
    if longest > ENVIRONMENT_MAX_LENGTH:
        problems.append(f"EnvironmentName: up to {longest} characters, the names are checked for {ENVIRONMENT_MAX_LENGTH}")
    return problems


def test_environment_names_are_the_three_environments_and_previews(twin: Template, twin_data: Template) -> None:
    # Catches: a preview name twin.yaml refuses (twinctl deploy pr-42 would fail), a name that starts with
    # pr- without being a preview (the previews' roles would reach it), a name too long for the checks below.
    assert environment_problems(twin) == []
    assert environment_problems(twin_data) == []
    assert twin["Parameters"]["EnvironmentName"] == twin_data["Parameters"]["EnvironmentName"]

    broken = copy.deepcopy(twin)
    broken["Parameters"]["EnvironmentName"] = {"Type": "String", "AllowedValues": ["local", "staging", "production"]}
    expect(environment_problems, broken, "not AllowedValues")
    broken["Parameters"]["EnvironmentName"] = {"Type": "String", "AllowedPattern": "^(local|staging|production|pr-[0-9]+)$"}
    problems = environment_problems(broken)
    assert "EnvironmentName: accepts 'pr-07'" in problems, problems
    assert any(p.startswith("EnvironmentName: up to ") for p in problems), problems  # unbounded: any length
    broken["Parameters"]["EnvironmentName"]["AllowedPattern"] = "^(local|staging|production|pr-.*)$"
    expect(environment_problems, broken, "accepts 'pr-staging'")
    broken["Parameters"]["EnvironmentName"]["AllowedPattern"] = "^(local|staging|production)$"
    expect(environment_problems, broken, "refuses 'pr-12345678'")


# (resource, path to the name, limit, allowed characters). Sources: CloudFront API reference,
# OriginAccessControlConfig (up to 64 characters); ResponseHeadersPolicyConfig (unique per account,
# no documented limit: held to the OAC's 64); CloudWatch PutDashboard (255, A-Z a-z 0-9 - _; "All
# dashboards in your account are global"); AWS::WAFv2::WebACL Name (^[0-9A-Za-z_-]{1,128}$).
GLOBAL_NAMES = [
    ("SiteOriginAccessControl", ("OriginAccessControlConfig", "Name"), 64, r"[0-9A-Za-z_-]+"),
    ("SecurityHeaders", ("ResponseHeadersPolicyConfig", "Name"), 64, r"[0-9A-Za-z_-]+"),
    ("Dashboard", ("DashboardName",), 255, r"[0-9A-Za-z_-]+"),
    ("WebAcl", ("Name",), 128, r"[0-9A-Za-z_-]+"),
]


def substitute(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], text)


def global_name_problems(template: Template) -> list[str]:
    problems = []
    project_pattern = template["Parameters"]["ProjectName"]["AllowedPattern"]
    if project_pattern != "^[a-z][a-z0-9-]{1,20}$":
        problems.append(f"ProjectName's pattern changed ({project_pattern}); recheck the name lengths")
    problems += [p for p in environment_problems(template) if "characters" in p]
    for logical_id, path, limit, charset in GLOBAL_NAMES:
        node: Any = props(template, logical_id)
        for key in path:
            node = node[key]
        text = node.get("Fn::Sub") if isinstance(node, dict) else None
        if not isinstance(text, str):
            problems.append(f"{logical_id}: the name is not a !Sub string: {node!r}")
            continue
        if not text.startswith(PREFIX):
            problems.append(f"{logical_id}: {text!r} does not start with {PREFIX}")
        if "${AWS::Region}" not in text:
            problems.append(f"{logical_id}: {text!r} does not carry ${{AWS::Region}}")
        for values in (LONGEST, LONGEST_PREVIEW):
            longest = substitute(text, values)
            if len(longest) > limit:
                problems.append(f"{logical_id}: up to {len(longest)} characters, the limit is {limit}")
            if not re.fullmatch(charset, longest):
                problems.append(f"{logical_id}: {longest!r} has characters outside {charset}")
    return problems


def test_account_global_names_carry_the_region_within_their_limits(twin: Template) -> None:
    # Catches: a name that two regions (or two stacks) of one account would both claim, one outside
    # the execution role's {project}-{env}- grants, or one too long for the longest allowed inputs.
    assert global_name_problems(twin) == []

    broken = copy.deepcopy(twin)
    props(broken, "Dashboard")["DashboardName"] = {"Fn::Sub": "${ProjectName}-${EnvironmentName}"}
    expect(global_name_problems, broken, "Dashboard: '${ProjectName}-${EnvironmentName}' does not carry")
    broken = copy.deepcopy(twin)
    props(broken, "SiteOriginAccessControl")["OriginAccessControlConfig"]["Name"] = {
        "Fn::Sub": "${ProjectName}-${EnvironmentName}-frontend-site-access-${AWS::Region}"
    }
    expect(global_name_problems, broken, "SiteOriginAccessControl: up to 74 characters, the limit is 64")
    broken = copy.deepcopy(twin)
    props(broken, "WebAcl")["Name"] = {"Fn::Sub": "${AWS::Region}-${ProjectName}-${EnvironmentName}"}
    expect(global_name_problems, broken, "does not start with")


# --- 1b. Every name built from the environment fits its limit, previews included -------------------

CFNLINT_SCHEMAS = Path(cfnlint.__file__).resolve().parent / "data" / "schemas"
# Limits the registry schemas (cfn-lint's copy) leave out. CloudFront API reference: OriginAccessControlConfig
# Name "up to 64 characters"; DistributionConfig Comment "The comment cannot be longer than 128 characters";
# ResponseHeadersPolicyConfig Name and the HTTP API's Name document no limit: held to 64 (as GLOBAL_NAMES) and
# 128 (WAF's). CloudWatch PutDashboard: DashboardName up to 255.
LIMITS_OUTSIDE_SCHEMAS = {
    ("AWS::CloudFront::OriginAccessControl", "OriginAccessControlConfig.Name"): 64,
    ("AWS::CloudFront::ResponseHeadersPolicy", "ResponseHeadersPolicyConfig.Name"): 64,
    ("AWS::CloudFront::Distribution", "DistributionConfig.Comment"): 128,
    ("AWS::ApiGatewayV2::Api", "Name"): 128,
    ("AWS::CloudWatch::Dashboard", "DashboardName"): 255,
}
# Where a name is not a name: policy documents use the environment in ARN patterns.
NOT_NAMES = ("KeyPolicy", "PolicyDocument", "Policies", "DashboardBody")
RENDER_DEFAULTS = {"AWS::Partition": "aws-us-gov", "AWS::AccountId": "123456789012", "AWS::URLSuffix": "amazonaws.com"}


def schema_constraints(resource_type: str, path: list[str]) -> dict[str, Any]:
    """maxLength and pattern of a property in the resource type's registry schema ({} when it has none)."""
    providers = json.loads((CFNLINT_SCHEMAS / "providers" / "us-east-1.json").read_text())
    schema = json.loads((CFNLINT_SCHEMAS / "resources" / f"{providers[resource_type]}.json").read_text())
    node: dict[str, Any] = schema
    for key in path:
        while "$ref" in node:
            node = schema["definitions"][node["$ref"].rsplit("/", 1)[-1]]
        node = node.get("properties", {}).get(key, {})
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    return {k: node[k] for k in ("maxLength", "pattern") if k in node}


def environment_names(template: Template) -> list[tuple[str, str, str, str]]:
    """(logical id, type, property path, !Sub text) of every property built from ${EnvironmentName}."""
    found = []

    def visit(node: Any, path: list[str], logical_id: str, resource_type: str) -> None:
        if isinstance(node, dict):
            if set(node) == {"Fn::Sub"}:
                text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
                if "${EnvironmentName}" in text and not set(path) & set(NOT_NAMES):
                    found.append((logical_id, resource_type, ".".join(path), text))
                return
            for key, value in node.items():
                visit(value, [*path, str(key)], logical_id, resource_type)
        elif isinstance(node, list):
            for value in node:
                visit(value, path, logical_id, resource_type)

    for logical_id, resource in template["Resources"].items():
        visit(resource.get("Properties", {}), [], logical_id, resource["Type"])
    return found


def name_limit_problems(template: Template) -> list[str]:
    problems = []
    for logical_id, resource_type, path, text in environment_names(template):
        constraints = schema_constraints(resource_type, path.split("."))
        limit = constraints.get("maxLength") or LIMITS_OUTSIDE_SCHEMAS.get((resource_type, path))
        if limit is None and "pattern" not in constraints:
            problems.append(f"{logical_id}.{path}: no known limit (add it to LIMITS_OUTSIDE_SCHEMAS with its source)")
            continue
        for values in (LONGEST, LONGEST_PREVIEW):
            name = substitute(text, {**RENDER_DEFAULTS, **values})
            if limit is not None and len(name) > limit:
                problems.append(f"{logical_id}.{path}: {name!r} is {len(name)} characters, the limit is {limit}")
            if "pattern" in constraints and not re.search(constraints["pattern"], name):
                problems.append(f"{logical_id}.{path}: {name!r} does not match {constraints['pattern']}")
    return problems


def test_every_name_built_from_the_environment_fits_its_limit(twin: Template, twin_data: Template) -> None:
    # Catches: a name a 21-character project's 16-character environment (or its longest preview,
    # pr-12345678) makes too long for AWS (a Lambda function name over 64, an alias over 256, ...), found by
    # the registry schema's maxLength or pattern, or by a recorded limit.
    assert len(environment_names(twin)) >= 15 and len(environment_names(twin_data)) >= 4
    assert name_limit_problems(twin) == []
    assert name_limit_problems(twin_data) == []

    broken = copy.deepcopy(twin)
    props(broken, "Function")["FunctionName"] = {"Fn::Sub": "${ProjectName}-${EnvironmentName}-api-function-for-the-digital-twin"}
    expect(name_limit_problems, broken, "Function.FunctionName: 'ppppppppppppppppppppp-eeeeeeeeeeeeeeee-api")
    broken = copy.deepcopy(twin_data)
    props(broken, "KeyAlias")["AliasName"] = {"Fn::Sub": "alias/${ProjectName} ${EnvironmentName}"}
    expect(name_limit_problems, broken, "KeyAlias.AliasName: 'alias/ppppppppppppppppppppp pr-12345678' does not match")
    broken = copy.deepcopy(twin)
    props(broken, "HttpApi")["Description"] = {"Fn::Sub": "${EnvironmentName}"}
    expect(name_limit_problems, broken, "HttpApi.Description: no known limit")


# Names CloudFormation generates for a resource without one: {stack}-{logical id, lower-case for a bucket}-
# {12 characters}, e.g. stack123123123123-s3bucket-abcdefghijk1 (AWS CloudFormation, "Name type",
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-name.html); a name past its
# limit (63 for a bucket, 64 for a role) is shortened, and then no longer starts with {stack}-{logical id}-,
# the prefix environment-access.yaml grants on (${TwinStackName}-frontendbucket-*,
# ${TwinStackName}-data-memorybucket-*, role/${TwinStackName}-*).
GENERATED_SUFFIX = 12
GENERATED_LIMITS = {"AWS::S3::Bucket": ("BucketName", 63), "AWS::IAM::Role": ("RoleName", 64)}
# The longest ProjectName whose generated names keep their prefix, per environment (twinctl's stacks:
# {project}-{env} and {project}-{env}-data). The data stack's memory bucket is the longest; with the most
# ProjectName allows (21), an 8-digit preview's makes 64 characters: such a project's previews must keep
# to 7 digits (twinctl's to refuse), every other environment fits.
LONGEST_PROJECT_FOR_GENERATED_NAMES = {"local": 21, "staging": 21, "production": 21, "pr-1234567": 21,
                                       "pr-12345678": 20}


def generated_names(template: Template, stack: str) -> list[tuple[str, str, int]]:
    """(logical id, longest generated name, limit) of the resources the template leaves unnamed."""
    found = []
    for logical_id, resource in template["Resources"].items():
        name_property, limit = GENERATED_LIMITS.get(resource["Type"], (None, 0))
        if name_property and name_property not in resource.get("Properties", {}):
            found.append((logical_id, f"{stack}-{logical_id.lower()}-{'x' * GENERATED_SUFFIX}", limit))
    return found


def longest_project_for_generated_names(twin: Template, twin_data: Template, environment: str) -> int:
    longest = 0
    for length in range(2, 22):
        stack = f"{'p' * length}-{environment}"
        names = generated_names(twin, stack) + generated_names(twin_data, f"{stack}-data")
        if all(len(name) <= limit for _, name, limit in names):
            longest = length
    return longest


def test_generated_names_keep_the_stack_prefix_the_grants_name(twin: Template, twin_data: Template) -> None:
    # Catches: an unnamed bucket or role whose generated name would be shortened (and so leave the grants'
    # {stack}-{logical id}- prefix) for a project and environment twinctl accepts.
    names = {logical_id for logical_id, _, _ in generated_names(twin, "s") + generated_names(twin_data, "s")}
    assert {"FrontendBucket", "FunctionRole", "MemoryBucket"} <= names, names
    found = {environment: longest_project_for_generated_names(twin, twin_data, environment)
             for environment in LONGEST_PROJECT_FOR_GENERATED_NAMES}
    assert found == LONGEST_PROJECT_FOR_GENERATED_NAMES
    # twinctl's own project ("twin") fits with every environment twin.yaml accepts.
    for environment in ENVIRONMENTS_ACCEPTED:
        for _, name, limit in generated_names(twin, f"twin-{environment}") + generated_names(
                twin_data, f"twin-{environment}-data"):
            assert len(name) <= limit, name

    broken = copy.deepcopy(twin_data)
    broken["Resources"]["ConversationMemoryBucket"] = broken["Resources"].pop("MemoryBucket")
    assert longest_project_for_generated_names(twin, broken, "production") == 9


# --- 2. No /api/* answer can be rewritten to HTML -----------------------------------------------

CUSTOM_RESPONSE_CONTENT_TYPE = "APPLICATION_JSON"
# The label namespace each managed rule group's rules label with ("Baseline rule groups").
MANAGED_NAMESPACES = {
    ("AWS", "AWSManagedRulesCommonRuleSet"): "awswaf:managed:aws:core-rule-set:",
    ("AWS", "AWSManagedRulesKnownBadInputsRuleSet"): "awswaf:managed:aws:known-bad-inputs:",
}


def rewritten_statuses(template: Template) -> set[int]:
    config = props(template, "Distribution")["DistributionConfig"]
    return {int(r["ErrorCode"]) for r in config.get("CustomErrorResponses", [])}


def actions_of(acl: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, action) for the default action, every rule's action and every rule action override."""
    found = [("DefaultAction", acl["DefaultAction"])]
    for rule in acl.get("Rules", []):
        if "Action" in rule:
            found.append((f"rule {rule['Name']}", rule["Action"]))
        for node in walk(rule.get("Statement", {})):
            for override in node.get("RuleActionOverrides", []):
                found.append((f"rule {rule['Name']} override {override['Name']}", override["ActionToUse"]))
    return found


def block_statuses(acl: dict[str, Any]) -> dict[str, int]:
    return {
        where: action["Block"]["CustomResponse"]["ResponseCode"]
        for where, action in actions_of(acl)
        if "CustomResponse" in (action.get("Block") or {})
    }


def label_keys(statement: Any) -> set[tuple[str, str]]:
    return {(n["LabelMatchStatement"]["Scope"], n["LabelMatchStatement"]["Key"])
            for n in walk(statement) if "LabelMatchStatement" in n}


def waf_response_problems(template: Template) -> list[str]:
    problems = []
    acl = props(template, "WebAcl")
    rewritten = rewritten_statuses(template)
    bodies = acl.get("CustomResponseBodies", {})
    for where, action in actions_of(acl):
        kinds = set(action) - {"Allow", "Count", "Block"}
        if kinds:
            problems.append(f"{where}: {sorted(kinds)} answers with an interstitial, not JSON")
        if "Block" not in action:
            continue
        response = (action["Block"] or {}).get("CustomResponse")
        if not response:
            problems.append(f"{where}: Block without CustomResponse answers WAF's default 403")
            continue
        status = response["ResponseCode"]
        if status in rewritten:
            problems.append(f"{where}: answers {status}, which CustomErrorResponses rewrite to HTML")
        body = bodies.get(response.get("CustomResponseBodyKey", ""))
        if body is None:
            problems.append(f"{where}: no CustomResponseBodies entry {response.get('CustomResponseBodyKey')!r}")
        elif body["ContentType"] != CUSTOM_RESPONSE_CONTENT_TYPE:
            problems.append(f"{where}: body is {body['ContentType']}, not {CUSTOM_RESPONSE_CONTENT_TYPE}")
        else:
            try:
                json.loads(body["Content"])
            except ValueError:
                problems.append(f"{where}: body is not valid JSON")
    rules = sorted(acl.get("Rules", []), key=lambda r: r["Priority"])
    for index, rule in enumerate(rules):
        statement = rule["Statement"]
        if "RateBasedStatement" in statement and block_statuses({"DefaultAction": {}, "Rules": [rule]}).get(
            f"rule {rule['Name']}"
        ) != 429:
            problems.append(f"rule {rule['Name']}: the rate limit must answer 429")
        group = statement.get("ManagedRuleGroupStatement")
        if group is None:
            continue
        if rule.get("OverrideAction") != {"Count": {}}:
            problems.append(f"rule {rule['Name']}: a managed group not in Count blocks with WAF's default 403")
        namespace = MANAGED_NAMESPACES.get((group["VendorName"], group["Name"]))
        if namespace is None:
            problems.append(f"rule {rule['Name']}: no label namespace known for {group['Name']}")
            continue
        followers = [r for r in rules[index + 1:] if "Block" in r.get("Action", {})
                     and ("NAMESPACE", namespace) in label_keys(r["Statement"])]
        if not followers:
            problems.append(f"rule {rule['Name']}: nothing after it blocks by its labels ({namespace})")
    return problems


def test_waf_blocks_answer_json_with_statuses_the_distribution_never_rewrites(twin: Template) -> None:
    # Catches: a Block without CustomResponse (WAF's default 403, which CustomErrorResponses turn
    # into /404.html on /api/* too), a status that CustomErrorResponses rewrite, a body that is not
    # JSON, and a managed rule group left blocking by itself.
    assert waf_response_problems(twin) == []
    statuses = set(block_statuses(props(twin, "WebAcl")).values())
    assert statuses, "the web ACL blocks nothing"
    assert statuses.isdisjoint(rewritten_statuses(twin)), (statuses, rewritten_statuses(twin))
    assert 429 in statuses and 413 in statuses and 403 not in statuses

    broken = copy.deepcopy(twin)
    rate = next(r for r in props(broken, "WebAcl")["Rules"] if r["Name"] == "RateLimitPerIp")
    rate["Action"] = {"Block": {}}
    expect(waf_response_problems, broken, "rule RateLimitPerIp: Block without CustomResponse")
    broken = copy.deepcopy(twin)
    rate = next(r for r in props(broken, "WebAcl")["Rules"] if r["Name"] == "RateLimitPerIp")
    rate["Action"]["Block"]["CustomResponse"]["ResponseCode"] = 403
    expect(waf_response_problems, broken, "answers 403, which CustomErrorResponses rewrite")
    broken = copy.deepcopy(twin)
    group = next(r for r in props(broken, "WebAcl")["Rules"] if r["Name"] == "AWSManagedRulesKnownBadInputsRuleSet")
    group["OverrideAction"] = {"None": {}}
    expect(waf_response_problems, broken, "a managed group not in Count blocks with WAF's default 403")
    broken = copy.deepcopy(twin)
    props(broken, "WebAcl")["Rules"] = [
        r for r in props(broken, "WebAcl")["Rules"] if r["Name"] != "BlockKnownBadInputsMatches"
    ]
    expect(waf_response_problems, broken, "nothing after it blocks by its labels")
    broken = copy.deepcopy(twin)
    props(broken, "WebAcl")["CustomResponseBodies"]["request-blocked"]["ContentType"] = "TEXT_HTML"
    expect(waf_response_problems, broken, "body is TEXT_HTML")


# --- 3. The common rule set's 8 KB body rule counts; our own rule answers 413 above 64 KiB -------

# Core rule set labels, as documented in "Baseline rule groups" (AWS WAF Developer Guide), casing
# included: a mistyped label matches nothing.
CRS = "awswaf:managed:aws:core-rule-set:"
CRS_SIZE_BODY_LABEL = CRS + "SizeRestrictions_Body"
CRS_OTHER_LABELS = [CRS + name for name in (
    "NoUserAgent_Header", "BadBots_Header", "SizeRestrictions_QueryString", "SizeRestrictions_Cookie_Header",
    "SizeRestrictions_URIPath", "EC2MetaDataSSRF_Body", "EC2MetaDataSSRF_Cookie", "EC2MetaDataSSRF_URIPath",
    "EC2MetaDataSSRF_QueryArguments", "GenericLFI_QueryArguments", "GenericLFI_URIPath", "GenericLFI_Body",
    "RestrictedExtensions_URIPath", "RestrictedExtensions_QueryArguments", "GenericRFI_QueryArguments",
    "GenericRFI_Body", "GenericRFI_URIPath", "CrossSiteScripting_Cookie", "CrossSiteScripting_QueryArguments",
    "CrossSiteScripting_Body", "CrossSiteScripting_URIPath",
)]
INSPECTION_LIMITS = {"KB_16": 16 * 1024, "KB_32": 32 * 1024, "KB_48": 48 * 1024, "KB_64": 64 * 1024}


def runtime_body_limit() -> int:
    """MAX_BODY_BYTES's default in runtime/src/config.rs (the twin's function does not set it)."""
    found = re.search(r'"MAX_BODY_BYTES",\s*([0-9_]+)(?:\s*\*\s*([0-9_]+))?', RUNTIME_CONFIG.read_text())
    assert found, "MAX_BODY_BYTES's default not found in runtime/src/config.rs"
    value = int(found.group(1).replace("_", ""))
    return value * int(found.group(2).replace("_", "")) if found.group(2) else value


def label_match(statement: dict[str, Any], labels: set[str]) -> bool:
    """Whether a statement built of label matches (And/Or/Not) matches a request with these labels."""
    if "LabelMatchStatement" in statement:
        match = statement["LabelMatchStatement"]
        if match["Scope"] == "LABEL":
            return match["Key"] in labels
        return any(label.startswith(match["Key"]) for label in labels)
    if "AndStatement" in statement:
        return all(label_match(s, labels) for s in statement["AndStatement"]["Statements"])
    if "OrStatement" in statement:
        return any(label_match(s, labels) for s in statement["OrStatement"]["Statements"])
    if "NotStatement" in statement:
        return not label_match(statement["NotStatement"]["Statement"], labels)
    raise AssertionError(f"not a label statement: {statement}")


def blocked_by_labels(acl: dict[str, Any], labels: set[str]) -> bool:
    return any("Block" in r.get("Action", {}) and label_keys(r["Statement"]) and label_match(r["Statement"], labels)
               for r in acl["Rules"])


def body_limit_problems(template: Template) -> list[str]:
    problems = []
    acl = props(template, "WebAcl")
    api_limit = runtime_body_limit()
    env = props(template, "Function").get("Environment", {}).get("Variables", {})
    if "MAX_BODY_BYTES" in env:
        problems.append("the function sets MAX_BODY_BYTES; the WAF size rule follows the runtime's default")
    limit_name = (acl.get("AssociationConfig", {}).get("RequestBody", {}).get("CLOUDFRONT", {})
                  .get("DefaultSizeInspectionLimit", "KB_16"))
    inspected = INSPECTION_LIMITS[limit_name]
    size_rules = [r for r in acl["Rules"]
                  if "Body" in r["Statement"].get("SizeConstraintStatement", {}).get("FieldToMatch", {})]
    if len(size_rules) != 1:
        problems.append(f"{len(size_rules)} body size rules; want exactly one")
    for rule in size_rules:
        size = rule["Statement"]["SizeConstraintStatement"]
        oversize = size["FieldToMatch"]["Body"].get("OversizeHandling", "CONTINUE")
        if size["ComparisonOperator"] != "GT":
            problems.append(f"rule {rule['Name']}: compares with {size['ComparisonOperator']}, not GT")
        if oversize != "MATCH":
            problems.append(f"rule {rule['Name']}: OversizeHandling {oversize} lets bodies past the inspection limit through")
        # Matches a body of b bytes iff b > min(inspected, Size) (oversize bodies match): that threshold
        # must be the API's own limit, or WAF refuses bodies the API accepts (or waves through larger ones).
        threshold = min(inspected, int(size["Size"]))
        if threshold != api_limit:
            problems.append(f"rule {rule['Name']}: blocks bodies over {threshold} bytes (inspection "
                            f"{limit_name}), the API accepts {api_limit}")
        status = (rule.get("Action", {}).get("Block") or {}).get("CustomResponse", {}).get("ResponseCode")
        if status != 413:
            problems.append(f"rule {rule['Name']}: answers {status}, not 413")
    crs_rules = [r for r in acl["Rules"]
                 if r["Statement"].get("ManagedRuleGroupStatement", {}).get("Name") == "AWSManagedRulesCommonRuleSet"]
    if len(crs_rules) != 1:
        problems.append("the core rule set is not in the web ACL exactly once")
    for rule in crs_rules:
        overrides = rule["Statement"]["ManagedRuleGroupStatement"].get("RuleActionOverrides", [])
        # AWS WAF silently ignores an override naming no rule of a managed group: the exact name matters.
        if {"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}} not in overrides:
            problems.append("SizeRestrictions_BODY is not overridden to Count")
    # What the label rules make of the core rule set's labels.
    if blocked_by_labels(acl, {CRS_SIZE_BODY_LABEL}):
        problems.append("a body over 8 KB (SizeRestrictions_Body alone) is blocked")
    for label in CRS_OTHER_LABELS:
        if not blocked_by_labels(acl, {label}):
            problems.append(f"{label} is not blocked")
        if not blocked_by_labels(acl, {label, CRS_SIZE_BODY_LABEL}):
            problems.append(f"{label} is not blocked once the body passes 8 KB")
    if not blocked_by_labels(acl, {CRS + "SomeFutureRule_Body"}):
        problems.append("a core rule set label not documented today is not blocked")
    if not blocked_by_labels(acl, {"awswaf:managed:aws:known-bad-inputs:Log4JRCE_Body"}):
        problems.append("a known bad input is not blocked")
    if blocked_by_labels(acl, set()):
        problems.append("a request without labels is blocked")
    return problems


def test_body_size_is_limited_at_64_kib_by_our_own_rule(twin: Template) -> None:
    # Catches: the core rule set's SizeRestrictions_BODY blocking (8 KB) what the API accepts (64 KiB),
    # an inspection limit too small for the size rule to see 64 KiB (16 KB default: with MATCH every
    # body over 16 KB would answer 413), a size rule that lets oversize bodies through, and label
    # rules that either still block the size label or can be bypassed by padding a body past 8 KB.
    assert body_limit_problems(twin) == []

    broken = copy.deepcopy(twin)
    del props(broken, "WebAcl")["AssociationConfig"]
    expect(body_limit_problems, broken, "blocks bodies over 16384 bytes (inspection KB_16)")
    broken = copy.deepcopy(twin)
    size_rule = next(r for r in props(broken, "WebAcl")["Rules"] if r["Name"] == "BodyOver64KiB")
    size_rule["Statement"]["SizeConstraintStatement"]["FieldToMatch"]["Body"]["OversizeHandling"] = "CONTINUE"
    expect(body_limit_problems, broken, "OversizeHandling CONTINUE")
    broken = copy.deepcopy(twin)
    crs = next(r for r in props(broken, "WebAcl")["Rules"] if r["Name"] == "AWSManagedRulesCommonRuleSet")
    crs["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"][0]["Name"] = "SizeRestrictions_Body"
    expect(body_limit_problems, broken, "SizeRestrictions_BODY is not overridden to Count")
    broken = copy.deepcopy(twin)
    block = next(r for r in props(broken, "WebAcl")["Rules"] if r["Name"] == "BlockCommonRuleSetMatches")
    block["Statement"] = {"LabelMatchStatement": {"Scope": "NAMESPACE", "Key": CRS}}
    expect(body_limit_problems, broken, "a body over 8 KB (SizeRestrictions_Body alone) is blocked")
    broken = copy.deepcopy(twin)
    block = next(r for r in props(broken, "WebAcl")["Rules"] if r["Name"] == "BlockCommonRuleSetMatches")
    block["Statement"] = block["Statement"]["OrStatement"]["Statements"][0]  # the namespace branch alone
    expect(body_limit_problems, broken, "CrossSiteScripting_Body is not blocked once the body passes 8 KB")


# --- 4. Data and evidence outlive the stacks, but not a failed create ----------------------------

# All in the data stack (twin-data.yaml), which `twinctl destroy` keeps; even deleting it keeps them.
RETAINED = ["MemoryBucket", "Key", "LlmSecret", "FunctionLogGroup", "ApiLogGroup"]
# AWS CloudFormation, "DeletionPolicy attribute": RetainExceptOnCreate behaves like Retain except for the
# stack operation that created the resource, whose rollback deletes it (so a failed first deploy leaves no
# named secret or log group for twinctl's retry to collide with). "UpdateReplacePolicy attribute" offers
# only Delete, Retain and Snapshot: a replaced resource is kept with Retain.
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-updatereplacepolicy.html
POLICIES = {"DeletionPolicy": "RetainExceptOnCreate", "UpdateReplacePolicy": "Retain"}


def retention_problems(template: Template) -> list[str]:
    problems = []
    for logical_id in RETAINED:
        resource = template["Resources"].get(logical_id)
        if resource is None:
            problems.append(f"{logical_id}: not in the template")
            continue
        for policy, want in POLICIES.items():
            if resource.get(policy) != want:
                problems.append(f"{logical_id}: {policy} is {resource.get(policy)!r}, not {want}")
    return problems


def test_memory_key_secret_and_logs_are_retained_except_on_a_failed_create(twin: Template,
                                                                           twin_data: Template) -> None:
    # Catches: deleting the data stack (or an update replacing the resource) deleting conversations, the API
    # key, the logs, or scheduling the deletion of the key they are encrypted with; and a plain Retain,
    # which keeps the named secret and log groups after a failed create, so the retry fails "already exists".
    assert retention_problems(twin_data) == []
    # They are the data stack's: the app stack, which `twinctl destroy` deletes, holds none of them.
    assert retention_problems(twin) == [f"{logical_id}: not in the template" for logical_id in RETAINED]
    for logical_id, policy, value in (
        ("Key", "DeletionPolicy", None),
        ("LlmSecret", "DeletionPolicy", "Retain"),
        ("FunctionLogGroup", "DeletionPolicy", "Delete"),
        ("ApiLogGroup", "UpdateReplacePolicy", None),
        ("MemoryBucket", "UpdateReplacePolicy", "Delete"),
    ):
        broken = copy.deepcopy(twin_data)
        if value is None:
            del broken["Resources"][logical_id][policy]
        else:
            broken["Resources"][logical_id][policy] = value
        expect(retention_problems, broken, f"{logical_id}: {policy} is {value!r}, not {POLICIES[policy]}")


# --- 5. The API is HTTPS only, never redirected ----------------------------------------------


def api_protocol_problems(template: Template) -> list[str]:
    behaviours = props(template, "Distribution")["DistributionConfig"].get("CacheBehaviors", [])
    api = [b for b in behaviours if b["PathPattern"] == "/api/*"]
    if len(api) != 1:
        return [f"{len(api)} /api/* cache behaviours"]
    policy = api[0]["ViewerProtocolPolicy"]
    return [] if policy == "https-only" else [f"/api/*: ViewerProtocolPolicy {policy} (a redirected POST becomes a GET)"]


def test_api_behaviour_is_https_only(twin: Template) -> None:
    # Catches: redirect-to-https on /api/* (clients follow a 301 for a POST with a GET, losing the body).
    assert api_protocol_problems(twin) == []
    broken = copy.deepcopy(twin)
    props(broken, "Distribution")["DistributionConfig"]["CacheBehaviors"][0]["ViewerProtocolPolicy"] = "redirect-to-https"
    expect(api_protocol_problems, broken, "ViewerProtocolPolicy redirect-to-https")


# --- 6. HSTS preload only on request -----------------------------------------------------------


def evaluate(node: Any, template: Template, parameters: dict[str, str]) -> Any:
    """Fn::If / Fn::Equals / Fn::Not / Condition / Ref over parameters: enough for this template's conditions."""
    if isinstance(node, dict) and len(node) == 1:
        (key, value), = node.items()
        if key == "Ref" and value in parameters:
            return parameters[value]
        if key == "Fn::Equals":
            return evaluate(value[0], template, parameters) == evaluate(value[1], template, parameters)
        if key == "Fn::Not":
            return not evaluate(value[0], template, parameters)
        if key == "Condition":
            return evaluate(template["Conditions"][value], template, parameters)
        if key == "Fn::If":
            chosen = evaluate({"Condition": value[0]}, template, parameters)
            return evaluate(value[1] if chosen else value[2], template, parameters)
    return node


def hsts_problems(template: Template) -> list[str]:
    problems = []
    parameter = template["Parameters"].get("HstsPreload")
    if parameter is None:
        return ["no HstsPreload parameter"]
    if sorted(parameter.get("AllowedValues", [])) != ["false", "true"] or parameter.get("Default") != "false":
        problems.append(f"HstsPreload must be \"true\"/\"false\", default \"false\": {parameter}")
    hsts = props(template, "SecurityHeaders")["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"][
        "StrictTransportSecurity"
    ]
    for value, want in (("false", False), ("true", True)):
        resolved = {k: evaluate(v, template, {"HstsPreload": value}) for k, v in hsts.items()}
        for directive in ("Preload", "IncludeSubdomains"):
            if resolved.get(directive, False) is not want:
                problems.append(f"HstsPreload={value}: {directive} is {resolved.get(directive)!r}")
        if resolved["AccessControlMaxAgeSec"] != 31536000:
            problems.append(f"HstsPreload={value}: max-age is {resolved['AccessControlMaxAgeSec']}")
    return problems


def test_hsts_preload_and_subdomains_only_when_asked(twin: Template) -> None:
    # Catches: preload/includeSubDomains sent by default (a domain that cannot easily leave the browsers'
    # preload list, subdomains included), or ignored when asked for, or a changed max-age.
    assert hsts_problems(twin) == []
    broken = copy.deepcopy(twin)
    props(broken, "SecurityHeaders")["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"][
        "StrictTransportSecurity"]["Preload"] = True
    expect(hsts_problems, broken, "HstsPreload=false: Preload is True")


# --- 7. Every Lambda permission names the source account ----------------------------------------


def permission_problems(template: Template) -> list[str]:
    permissions = resources_of(template, "AWS::Lambda::Permission")
    if not permissions:
        return ["no AWS::Lambda::Permission to check"]
    return [f"{name}: SourceAccount is {p['Properties'].get('SourceAccount')!r}"
            for name, p in permissions.items()
            if p["Properties"].get("SourceAccount") != {"Ref": "AWS::AccountId"}]


def test_every_lambda_permission_names_the_source_account(twin: Template) -> None:
    # Catches: a service principal allowed to invoke the function on behalf of a resource in another
    # account (the confused deputy), in any permission added later too.
    assert permission_problems(twin) == []
    broken = copy.deepcopy(twin)
    broken["Resources"]["AnotherPermission"] = copy.deepcopy(broken["Resources"]["ApiInvokesLiveAlias"])
    del broken["Resources"]["AnotherPermission"]["Properties"]["SourceAccount"]
    expect(permission_problems, broken, "AnotherPermission: SourceAccount is None")


# --- 8. Grants only through AWS services ------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grant_problems(template: Template) -> list[str]:
    problems = []
    keys = resources_of(template, "AWS::KMS::Key")
    if not keys:
        problems.append("no AWS::KMS::Key to check")
    for name, key in keys.items():
        for statement in as_list(key["Properties"]["KeyPolicy"]["Statement"]):
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                continue
            actions = [a for a in as_list(statement.get("Action", [])) if isinstance(a, str)]
            if not any(fnmatch.fnmatchcase("kms:CreateGrant", pattern) for pattern in actions):
                continue
            flag = statement.get("Condition", {}).get("Bool", {}).get("kms:GrantIsForAWSResource")
            if flag not in ("true", True):
                problems.append(f"{name}: {statement.get('Sid', '?')} allows kms:CreateGrant without "
                                "kms:GrantIsForAWSResource true")
    return problems


def test_key_grants_only_for_aws_services(twin: Template, twin_data: Template) -> None:
    # Catches: a principal that can hand out grants on the key directly (a grant outlives policy reviews).
    # The key is the data stack's; the app stack declares none (it uses the key by ARN, DataKeyArn).
    assert grant_problems(twin_data) == []
    assert grant_problems(twin) == ["no AWS::KMS::Key to check"]
    broken = copy.deepcopy(twin_data)
    admin = props(broken, "Key")["KeyPolicy"]["Statement"][0]
    admin["Action"].append("kms:CreateGrant")
    expect(grant_problems, broken, "AccountAdministersTheKey allows kms:CreateGrant")


# --- 9. Every role carries the environment's permissions boundary -----------------------------

BOUNDARY = {"Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundaryArn"}, {"Ref": "AWS::NoValue"}]}


def boundary_problems(template: Template) -> list[str]:
    problems = []
    parameter = template["Parameters"].get("PermissionsBoundaryArn", {})
    if parameter.get("Type") != "String" or parameter.get("Default") != "":
        problems.append(f"PermissionsBoundaryArn must be a String defaulting to \"\": {parameter}")
    if template.get("Conditions", {}).get("HasPermissionsBoundary") != {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PermissionsBoundaryArn"}, ""]}]
    }:
        problems.append("HasPermissionsBoundary is not `PermissionsBoundaryArn is not empty`")
    roles = resources_of(template, "AWS::IAM::Role")
    if not roles:
        problems.append("no AWS::IAM::Role to check")
    for name, role in roles.items():
        if role["Properties"].get("PermissionsBoundary") != BOUNDARY:
            problems.append(f"{name}: PermissionsBoundary is {role['Properties'].get('PermissionsBoundary')!r}")
    return problems


def test_every_role_carries_the_permissions_boundary(twin: Template) -> None:
    # Catches: a role the execution role cannot create (it may create roles only with the environment's
    # boundary), and a boundary parameter that could not be left empty (the local emulator, old stacks).
    assert boundary_problems(twin) == []
    broken = copy.deepcopy(twin)
    broken["Resources"]["SecondRole"] = copy.deepcopy(broken["Resources"]["FunctionRole"])
    del broken["Resources"]["SecondRole"]["Properties"]["PermissionsBoundary"]
    expect(boundary_problems, broken, "SecondRole: PermissionsBoundary is None")
    broken = copy.deepcopy(twin)
    broken["Parameters"]["PermissionsBoundaryArn"]["Default"] = "arn:aws:iam::123456789012:policy/b"
    expect(boundary_problems, broken, "PermissionsBoundaryArn must be a String defaulting to")


# --- 10. The app stack attaches to the data stack -----------------------------------------------

# twinctl passes each output of the data stack to the app template's parameter of the same name. The app
# stack keeps its own outputs (twinctl and the tests read them), now valued from those parameters.
KEPT_OUTPUTS = {
    "MemoryBucketName": "DataMemoryBucketName",
    "SecretArn": "DataSecretArn",
    "KeyArn": "DataKeyArn",
    "LogGroupName": "DataFunctionLogGroupName",
    "ApiLogGroupName": "DataApiLogGroupName",
}
# What the data stack's outputs look like (any partition; CloudFormation-generated bucket names), so that a
# parameter's AllowedPattern never refuses the value twinctl passes it.
SAMPLE_OUTPUTS = {
    "DataKeyArn": ["arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                   "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"],
    "DataMemoryBucketName": ["twin-local-data-memorybucket-1a2b3c4d5e6f",
                             "pppppppppppppppppppp-production-data-memorybucket-1a2b3c4d5e6f"],
    "DataSecretArn": ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:twin/production/llm-api-key-AbC1eF",
                      "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:twin/local/llm-api-key-a1B2c3"],
    "DataFunctionLogGroupName": ["/aws/lambda/twin-production-api"],
    "DataApiLogGroupName": ["/aws/apigateway/twin-production-api"],
}
RETAINING_POLICIES = {"Retain", "RetainExceptOnCreate", "Snapshot"}


def split_problems(twin: Template, data: Template) -> list[str]:
    problems = []
    parameters, outputs = twin.get("Parameters", {}), data.get("Outputs", {})
    for name in outputs:
        parameter = parameters.get(name)
        if parameter is None:
            problems.append(f"data output {name}: twin.yaml declares no parameter {name}")
        elif parameter.get("Type") != "String":
            problems.append(f"data output {name}: twin.yaml's parameter is {parameter.get('Type')}, not String")
    for name in parameters:
        if name.startswith("Data") and name not in outputs:
            problems.append(f"twin.yaml parameter {name}: twin-data.yaml has no such output")
    for name, spec in data.get("Parameters", {}).items():
        if name in parameters and parameters[name] != spec:
            problems.append(f"parameter {name} is declared differently in twin.yaml and twin-data.yaml")
    for name in sorted(set(twin["Resources"]) & set(data["Resources"])):
        problems.append(f"{name}: in both templates")
    for output, parameter in KEPT_OUTPUTS.items():
        value = twin.get("Outputs", {}).get(output, {}).get("Value")
        if value != {"Ref": parameter}:
            problems.append(f"twin.yaml output {output} is {value!r}, not the parameter {parameter}")
    for name, samples in SAMPLE_OUTPUTS.items():
        pattern = parameters.get(name, {}).get("AllowedPattern")
        if pattern is None:
            problems.append(f"twin.yaml parameter {name} has no AllowedPattern")
            continue
        for sample in samples:
            if not re.fullmatch(pattern, sample):
                problems.append(f"twin.yaml parameter {name}: AllowedPattern refuses {sample!r}")
        if re.fullmatch(pattern, ""):
            problems.append(f"twin.yaml parameter {name}: AllowedPattern accepts an empty value")
    # `twinctl destroy` deletes the app stack and must leave nothing of it behind but the data stack.
    for name, resource in twin["Resources"].items():
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            if resource.get(policy) in RETAINING_POLICIES:
                problems.append(f"twin.yaml {name}: {policy} {resource[policy]} (the app stack keeps no data)")
    # The data stack has no PermissionsBoundaryArn: the execution role could not create a role there.
    for name in resources_of(data, "AWS::IAM::Role"):
        problems.append(f"twin-data.yaml {name}: a role in the data stack")
    return problems


def test_the_app_stack_takes_the_data_stacks_outputs(twin: Template, twin_data: Template) -> None:
    # Catches: an output twinctl would pass to no parameter (or a parameter no output fills), a shared
    # parameter that drifted apart, a resource in both stacks, an app output that no longer reports the
    # data, a pattern that refuses a real output, and anything the app stack would leave behind on destroy.
    assert split_problems(twin, twin_data) == []
    assert set(twin_data["Outputs"]) == set(SAMPLE_OUTPUTS) == set(KEPT_OUTPUTS.values())

    broken = copy.deepcopy(twin)
    del broken["Parameters"]["DataSecretArn"]
    expect(lambda t: split_problems(t, twin_data), broken, "data output DataSecretArn: twin.yaml declares no parameter")
    broken = copy.deepcopy(twin_data)
    del broken["Outputs"]["DataKeyArn"]
    expect(lambda t: split_problems(twin, t), broken, "twin.yaml parameter DataKeyArn: twin-data.yaml has no such output")
    broken = copy.deepcopy(twin_data)
    broken["Parameters"]["RetainedReleases"]["MinValue"] = 1
    expect(lambda t: split_problems(twin, t), broken, "parameter RetainedReleases is declared differently")
    broken = copy.deepcopy(twin)
    broken["Resources"]["MemoryBucket"] = copy.deepcopy(twin_data["Resources"]["MemoryBucket"])
    problems = split_problems(broken, twin_data)
    assert "MemoryBucket: in both templates" in problems, problems
    assert any("twin.yaml MemoryBucket: DeletionPolicy RetainExceptOnCreate" in p for p in problems), problems
    broken = copy.deepcopy(twin)
    broken["Outputs"]["KeyArn"]["Value"] = {"Fn::GetAtt": ["Key", "Arn"]}
    expect(lambda t: split_problems(t, twin_data), broken, "twin.yaml output KeyArn is")
    broken = copy.deepcopy(twin)
    broken["Parameters"]["DataMemoryBucketName"]["AllowedPattern"] = "^[a-z0-9-]{3,40}$"
    expect(lambda t: split_problems(t, twin_data), broken, "AllowedPattern refuses 'pppppppppppppppppppp-production")
    broken = copy.deepcopy(twin_data)
    broken["Resources"]["DataRole"] = copy.deepcopy(twin["Resources"]["FunctionRole"])
    expect(lambda t: split_problems(twin, t), broken, "twin-data.yaml DataRole: a role in the data stack")
