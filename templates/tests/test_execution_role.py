"""ExecutionRole (templates/environment-access.yaml) against CloudFormation's own registry schemas.

CloudFormation runs every change set of an environment's two twin stacks under ExecutionRole: the app stack
(templates/twin.yaml) and the data stack (templates/twin-data.yaml). Both templates are read as one set of
resources (load_twin: their logical ids must be distinct), and "twin.yaml" below means that union. What the
role needs is not guessed here but read from the resource schemas that cfn-lint ships
(cfnlint/data/schemas/providers/us-east-1.json -> resources/<hash>.json): `handlers.{create,read,update,
delete,list}.permissions` name the IAM actions each handler calls. The union over every resource type in
twin.yaml and twin-data.yaml (conditional resources included) must be covered exactly:

- every handler permission is granted (an Allow statement of ExecutionRole) or waived, with a reason, in
  templates/execution-role-waivers.yaml;
- every granted action is a handler permission, or is recorded under `granted_outside_handlers` with the
  reason a documented service behaviour needs it;
- a waiver must be a handler permission (else stale), must not be granted (else contradictory), and must give
  a specific reason that names the twin.yaml resource it is about; the grounds an entry states are checked:
  `unset:` properties are unset in twin.yaml (so using a feature voids its waivers), `retained:` resources
  are retained (DeletionPolicy and UpdateReplacePolicy Retain: RetainExceptOnCreate does not count, since a
  create that rolls back runs the delete handler), `list_only:` actions serve list handlers only, `not_an_action:` names are no IAM action,
  `set:` properties (of granted_outside_handlers) are still set;
- every granted action exists in the Service Authorization Reference data cfn-lint also ships
  (cfnlint/data/AdditionalSpecs/Policies.json), is granted on `Resource: "*"` exactly when it has no
  resource-level permission (an ARN-scoped grant of such an action never matches);
- every role write the iam:PermissionsBoundary condition key governs is granted only under it (FunctionBoundary);
- the role's inline policies fit IAM's 10,240-character quota with the longest names the parameters allow.

IAM action names are case-insensitive (the schemas spell some `s3:getObject`, `wafv2:listWebACLs`), so they
are compared case-insensitively. Run with the tools venv (scripts/lint-templates installs it):

    .twin/tools/venv/bin/python -m pytest -q templates/tests/test_execution_role.py
    .twin/tools/venv/bin/python templates/tests/test_execution_role.py --report
"""

from __future__ import annotations

import copy
import functools
import json
import re
import sys
from pathlib import Path

import cfnlint
import yaml
from cfnlint.decode import cfn_yaml
from cfnlint.version import __version__ as cfnlint_version

TEMPLATES = Path(__file__).resolve().parent.parent
TWIN = TEMPLATES / "twin.yaml"
TWIN_DATA = TEMPLATES / "twin-data.yaml"
# The templates whose stacks ExecutionRole runs: the app stack and the data stack of an environment.
TWIN_TEMPLATES = (TWIN, TWIN_DATA)
ACCESS = TEMPLATES / "environment-access.yaml"
WAIVERS = TEMPLATES / "execution-role-waivers.yaml"
ROLE = "ExecutionRole"
HANDLERS = ("create", "read", "update", "delete", "list")
CFNLINT_DATA = Path(cfnlint.__file__).resolve().parent / "data"
SCHEMA_REGION = "us-east-1"

# Reasons that say nothing about this template.
GENERIC_REASONS = {
    "-",
    "feature not used",
    "n/a",
    "na",
    "no reason",
    "none",
    "not applicable",
    "not needed",
    "not required",
    "not used",
    "tbd",
    "todo",
    "unneeded",
    "unused",
}
MIN_REASON_WORDS = 6
# Optional, machine-checked grounds of an entry (besides its reason):
#   unset: [Head.Property.Path, ...]  no resource named by Head (a logical id, or every resource of an AWS::
#                                     type) sets that property (or resource attribute such as UpdatePolicy);
#   list_only: true                   only list handlers name the action;
#   not_an_action: true               the Service Authorization Reference defines no such action;
#   retained: [LogicalId, ...]        a delete-handler permission of resources twin(-data).yaml retain (see RETAINING);
#   set: [Head.Property.Path, ...]    (granted_outside_handlers) the property that needs the grant is set.
WAIVER_KEYS = {"action", "reason", "retained", "unset", "list_only", "not_an_action"}
EXCEPTION_KEYS = {"action", "reason", "set"}
RESOURCE_ATTRIBUTES = {"Condition", "CreationPolicy", "DeletionPolicy", "DependsOn", "Metadata", "UpdatePolicy",
                       "UpdateReplacePolicy"}
# The policies under which CloudFormation never runs a resource's delete handler: stack deletion and removal
# from the template (DeletionPolicy), replacement by an update (UpdateReplacePolicy). DeletionPolicy
# RetainExceptOnCreate is not one of them: "If the stack operation that created the resource is rolled back,
# CloudFormation deletes the resource" (AWS CloudFormation, "DeletionPolicy attribute",
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html), so a failed
# first deploy runs the delete handler and the execution role needs its permissions.
RETAINING = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}


# --- loading ----------------------------------------------------------------------------------------------


def load_template(path: Path) -> dict:
    """A template parsed by cfn-lint's own loader (short-form tags such as !Sub and !If included)."""
    return cfn_yaml.load(str(path))


def load_twin(paths: tuple[Path, ...] = TWIN_TEMPLATES) -> dict:
    """The environment's twin templates as one: Resources, Parameters and Conditions of each, merged. A
    logical id in two templates is refused (a waiver's grounds name resources by logical id); a parameter
    or condition both declare must be declared alike."""
    merged: dict = {"Parameters": {}, "Conditions": {}, "Resources": {}}
    origin: dict[tuple[str, str], str] = {}
    for path in paths:
        template = load_template(path)
        for section, entries in merged.items():
            for name, value in (template.get(section) or {}).items():
                seen = origin.get((section, str(name)))
                if seen is not None and (section == "Resources" or entries[name] != value):
                    raise ValueError(f"{section} {name} is declared by both {seen} and {path.name}"
                                     + ("" if section == "Resources" else ", differently"))
                origin[(section, str(name))] = path.name
                entries[name] = value
    return merged


def load_waivers(path: Path = WAIVERS) -> dict:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


@functools.lru_cache(maxsize=None)
def _providers() -> dict:
    path = CFNLINT_DATA / "schemas" / "providers" / f"{SCHEMA_REGION}.json"
    return json.loads(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def _schema(resource_type: str) -> dict:
    digest = _providers()[resource_type]
    return json.loads((CFNLINT_DATA / "schemas" / "resources" / f"{digest}.json").read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def _sar() -> dict:
    """Service Authorization Reference data as cfn-lint ships it: service -> Actions -> lower-case name."""
    return json.loads((CFNLINT_DATA / "AdditionalSpecs" / "Policies.json").read_text(encoding="utf-8"))


# --- the pieces -------------------------------------------------------------------------------------------


def key(action: str) -> str:
    """IAM action names compare case-insensitively."""
    service, _, name = str(action).partition(":")
    return f"{service.lower()}:{name.lower()}"


def _spelling(variants: list[str]) -> str:
    """The conventional spelling among a schema's variants (s3:GetObject over s3:getObject)."""
    for variant in variants:
        if variant.partition(":")[2][:1].isupper():
            return variant
    service, _, name = variants[0].partition(":")
    return f"{service}:{name[:1].upper()}{name[1:]}"


def resource_types(twin: dict) -> list[str]:
    """Every resource type of the template, conditional resources included."""
    return sorted({str(r["Type"]) for r in twin["Resources"].values() if isinstance(r, dict) and "Type" in r})


def handler_permissions(twin: dict) -> dict[str, dict]:
    """key(action) -> {"action": spelling, "where": {type: {handler, ...}}} over all handlers of all types."""
    found: dict[str, dict] = {}
    for resource_type in resource_types(twin):
        if resource_type not in _providers():
            raise LookupError(f"{resource_type}: no registry schema in cfn-lint's {SCHEMA_REGION} data")
        for handler, spec in _schema(resource_type).get("handlers", {}).items():
            if handler not in HANDLERS:
                continue
            for action in spec.get("permissions", []):
                entry = found.setdefault(key(action), {"variants": [], "where": {}})
                if action not in entry["variants"]:
                    entry["variants"].append(action)
                entry["where"].setdefault(resource_type, set()).add(handler)
    return {k: {"action": _spelling(v["variants"]), "where": v["where"]} for k, v in found.items()}


def _items(value) -> list:
    return list(value) if isinstance(value, list) else [value]


def allow_statements(access: dict, role: str = ROLE) -> list[tuple[str, dict]]:
    """(policy name, statement) of the role's inline policies whose Effect is Allow (the Deny policy is not
    a grant)."""
    found = []
    for policy in _items(access["Resources"][role]["Properties"].get("Policies", [])):
        for statement in _items(policy["PolicyDocument"]["Statement"]):
            if isinstance(statement, dict) and statement.get("Effect") == "Allow":
                found.append((str(policy["PolicyName"]), statement))
    return found


def granted_actions(access: dict) -> dict[str, str]:
    """key(action) -> the action as the role spells it."""
    granted: dict[str, str] = {}
    for _, statement in allow_statements(access):
        for action in _items(statement.get("Action", [])):
            granted.setdefault(key(action), str(action))
    return granted


def twin_names(twin: dict) -> set[str]:
    """What a specific reason can name: the template's logical ids and resource types."""
    return set(map(str, twin["Resources"])) | set(resource_types(twin))


def reason_problem(reason, names: set[str]) -> str | None:
    if not isinstance(reason, str) or not reason.strip():
        return "empty reason"
    text = " ".join(reason.split())
    if text.lower().strip(" .") in GENERIC_REASONS or len(text.split()) < MIN_REASON_WORDS:
        return f"generic reason {text!r}"
    if not any(re.search(rf"(?<![A-Za-z0-9]){re.escape(n)}(?![A-Za-z0-9])", text) for n in names):
        return f"reason names no resource of twin.yaml or twin-data.yaml (a logical id or an AWS:: type): {text!r}"
    return None


def _retained_problems(entry: dict, twin: dict, perms: dict) -> list[str]:
    action, ids = entry["action"], entry.get("retained")
    if ids is None:
        return []
    if not isinstance(ids, list) or not ids:
        return [f"{action}: `retained` must list the retained logical ids"]
    problems = []
    resources = twin["Resources"]
    for logical_id in ids:
        resource = resources.get(logical_id)
        if not isinstance(resource, dict):
            problems.append(f"{action}: retained resource {logical_id} is not in twin.yaml or twin-data.yaml")
            continue
        for attribute, retaining in RETAINING.items():
            value = resource.get(attribute)
            if value == "RetainExceptOnCreate":
                problems.append(f"{action}: {logical_id} has {attribute} RetainExceptOnCreate, not {retaining}: a"
                                " create that rolls back runs its delete handler")
            elif value != retaining:
                problems.append(f"{action}: {logical_id} has {attribute} {value!r}, not {retaining}")
    for resource_type, handlers in perms.get(key(action), {}).get("where", {}).items():
        if handlers != {"delete"}:
            problems.append(f"{action}: the {sorted(handlers - {'delete'})} handler(s) of {resource_type} need it too")
        others = sorted(lid for lid, r in resources.items() if r.get("Type") == resource_type and lid not in ids)
        if others:
            problems.append(f"{action}: {resource_type} resources {others} are not retained, their delete needs it")
    return problems


def _resources_named(twin: dict, head: str) -> list[tuple[str, dict]]:
    """A logical id, or every resource of an AWS:: type."""
    resources = twin["Resources"]
    if "::" in head:
        return [(str(lid), r) for lid, r in resources.items() if isinstance(r, dict) and r.get("Type") == head]
    return [(head, resources[head])] if isinstance(resources.get(head), dict) else []


def _no_value(value) -> bool:
    return isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] == "AWS::NoValue"


def _is_set(value, path: list[str]) -> bool:
    """Whether the property at path is set anywhere below value (either branch of an Fn::If counts)."""
    if isinstance(value, dict) and set(value) == {"Fn::If"} and isinstance(value["Fn::If"], list):
        return any(_is_set(branch, path) for branch in value["Fn::If"][1:])
    if not path:
        return value is not None and not _no_value(value)
    if isinstance(value, list):
        return any(_is_set(item, path) for item in value)
    if isinstance(value, dict) and path[0] in value:
        return _is_set(value[path[0]], path[1:])
    return False


def setting_resources(twin: dict, target: str) -> tuple[list[str], list[str]]:
    """(resources the target's head names, those of them that set the target's property path)."""
    head, _, rest = target.partition(".")
    path = rest.split(".") if rest else []
    named = _resources_named(twin, head)
    setting = []
    for logical_id, resource in named:
        where = resource if path and path[0] in RESOURCE_ATTRIBUTES else resource.get("Properties", {})
        if path and _is_set(where, path):
            setting.append(logical_id)
    return [lid for lid, _ in named], setting


def _basis_problems(entry: dict, twin: dict, perms: dict) -> list[str]:
    """The machine-checked grounds of a waiver or an exception, against the twin templates and the reference
    data."""
    action, problems = entry["action"], []
    for target in _items(entry.get("unset", [])):
        named, setting = setting_resources(twin, str(target))
        if not named:
            problems.append(f"{action}: unset {target}: twin.yaml and twin-data.yaml have no such resource")
        elif "." not in str(target):
            problems.append(f"{action}: unset {target}: name a property (Head.Property)")
        elif setting:
            problems.append(f"{action}: waived because {target} is unset, but {', '.join(setting)} set(s) it")
    for target in _items(entry.get("set", [])):
        named, setting = setting_resources(twin, str(target))
        if not setting:
            problems.append(f"{action}: recorded for {target}, which no resource of twin.yaml or twin-data.yaml"
                            " sets any more")
    if entry.get("list_only"):
        where = perms.get(key(action), {}).get("where", {})
        others = {t: sorted(h - {"list"}) for t, h in where.items() if h - {"list"}}
        if others:
            problems.append(f"{action}: not list-only, also needed by {others}")
    if entry.get("not_an_action"):
        service, _, name = action.partition(":")
        if name.lower() in _sar().get(service, {}).get("Actions", {}):
            problems.append(f"{action}: is an action of the Service Authorization Reference after all")
    return problems


def sar_problems(access: dict) -> list[str]:
    """Each grant against the Service Authorization Reference data: a real action, on "*" exactly when it
    has no resource-level permission."""
    problems = []
    for policy, statement in allow_statements(access):
        sid = statement.get("Sid", "?")
        resources = _items(statement.get("Resource", []))
        star = any(str(r) == "*" for r in resources)
        for action in _items(statement.get("Action", [])):
            service, _, name = str(action).partition(":")
            entry = _sar().get(service, {}).get("Actions", {}).get(name.lower())
            if entry is None:
                problems.append(f"{policy}/{sid}: {action} is not an action of the Service Authorization Reference")
            elif star and entry.get("Resources"):
                problems.append(
                    f"{policy}/{sid}: {action} supports resource-level permissions ({', '.join(entry['Resources'])})"
                    ' but is granted on Resource "*"'
                )
            elif not star and not entry.get("Resources"):
                problems.append(
                    f"{policy}/{sid}: {action} has no resource-level permission: granted on ARNs it never matches"
                    ' (it needs Resource: "*" # allow-star: <reason>)'
                )
    return problems


def longest_match(pattern: str, unbounded: int = 64) -> int:
    """The length of the longest string an AllowedPattern accepts (the longest of its alternatives), or
    `unbounded` when it has no bound (or there is no pattern)."""
    import re._parser as parser  # noqa: PLC0415 - the stdlib's regex parser, for getwidth()

    if not pattern:
        return unbounded
    width = parser.parse(pattern).getwidth()[1]
    return unbounded if width >= parser.MAXREPEAT else width


def inline_policy_size(access: dict, role: str = ROLE, previews: bool = False) -> int:
    """The role's inline policies as IAM counts them against its quota (non-whitespace characters, all
    policies together), with every parameter at the longest its AllowedPattern permits, in the access stack of
    one environment or in the previews' (`!If [Previews, A, B]` is A there, B in an environment's;
    `!Ref AWS::NoValue` drops the list item)."""
    parameters = access.get("Parameters", {})
    refs = {
        "AWS::Partition": "aws-us-gov",
        "AWS::Region": "ap-southeast-99",
        "AWS::AccountId": "123456789012",
        "AWS::StackName": "s" * 128,
        "ArtifactsBucketName": "b" * 63,
    }
    for name, spec in parameters.items():
        if name not in refs:
            refs[str(name)] = "p" * longest_match(str(spec.get("AllowedPattern", "")))
    refs["FunctionBoundary"] = (
        f"arn:{refs['AWS::Partition']}:iam::{refs['AWS::AccountId']}:policy/"
        f"{refs['ProjectName']}-ci-{refs['EnvironmentName']}-boundary-{refs['AWS::Region']}"
    )

    refs["ExecutionRole.Arn"] = f"arn:{refs['AWS::Partition']}:iam::{refs['AWS::AccountId']}:role/" + "r" * 64
    no_value = object()

    def render(value):
        if isinstance(value, dict):
            if set(value) == {"Fn::Sub"}:
                text = value["Fn::Sub"][0] if isinstance(value["Fn::Sub"], list) else value["Fn::Sub"]
                return re.sub(r"\$\{([^}]+)\}", lambda m: refs[m.group(1)], str(text))
            if set(value) == {"Ref"}:
                return no_value if value["Ref"] == "AWS::NoValue" else refs[str(value["Ref"])]
            if set(value) == {"Fn::GetAtt"}:
                return refs[".".join(map(str, value["Fn::GetAtt"]))]
            if set(value) == {"Fn::If"}:
                name, when_true, when_false = value["Fn::If"]
                if name != "Previews":
                    raise ValueError(f"{role}: !If on {name}, only Previews is rendered")
                return render(when_true if previews else when_false)
            return {str(k): render(v) for k, v in value.items()}
        if isinstance(value, list):
            return [item for item in map(render, value) if item is not no_value]
        return value if isinstance(value, (bool, int, float)) else str(value)

    policies = _items(access["Resources"][role]["Properties"].get("Policies", []))
    return sum(len(json.dumps(render(p["PolicyDocument"]), separators=(",", ":"))) for p in policies)


# Role writes whose authorization the iam:PermissionsBoundary condition key takes part in (Service
# Authorization Reference, "Actions, resources, and condition keys for AWS Identity and Access Management").
# Granted, each must sit under the condition that the role carries FunctionBoundary.
BOUNDARY_GOVERNED_ROLE_WRITES = {
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
}


def unbounded_role_writes(access: dict) -> list[str]:
    problems = []
    governed = {key(a) for a in BOUNDARY_GOVERNED_ROLE_WRITES}
    for policy, statement in allow_statements(access):
        condition = (statement.get("Condition") or {}).get("StringEquals") or {}
        bounded = condition.get("iam:PermissionsBoundary") == {"Ref": "FunctionBoundary"}
        for action in _items(statement.get("Action", [])):
            if key(action) in governed and not bounded:
                sid = statement.get("Sid", "?")
                problems.append(f"{policy}/{sid}: {action} without the FunctionBoundary condition")
    return problems


# IAM and AWS STS quotas: a role's inline policies together hold at most 10,240 characters (whitespace not
# counted); past it IAM refuses the role and the environment stack cannot be created.
IAM_ROLE_INLINE_POLICY_QUOTA = 10_240


# --- the audit --------------------------------------------------------------------------------------------


def audit(twin: dict, access: dict, waivers: dict) -> dict[str, list[str]]:
    """Every problem, by kind; all lists empty when ExecutionRole and the waivers match the schemas."""
    perms = handler_permissions(twin)
    granted = granted_actions(access)
    names = twin_names(twin)
    problems: dict[str, list[str]] = {
        "file": [],
        "missing": [],
        "unjustified": [],
        "stale_waivers": [],
        "contradictions": [],
        "weak_reasons": [],
        "retained": [],
        "bases": [],
        "stale_exceptions": [],
    }

    sections = {"waived": WAIVER_KEYS, "granted_outside_handlers": EXCEPTION_KEYS}
    unknown_sections = sorted(set(waivers) - set(sections))
    if unknown_sections:
        problems["file"].append(f"unknown top-level keys {unknown_sections} (expected {sorted(sections)})")
    entries: dict[str, list[dict]] = {}
    seen: dict[str, str] = {}
    for section, allowed in sections.items():
        entries[section] = []
        for entry in waivers.get(section) or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("action"), str):
                problems["file"].append(f"{section}: not an {{action, reason}} entry: {entry!r}")
                continue
            extra = sorted(set(entry) - allowed)
            if extra:
                problems["file"].append(f"{section}: {entry['action']}: unknown keys {extra}")
            if key(entry["action"]) in seen:
                problems["file"].append(f"{entry['action']} is listed twice ({seen[key(entry['action'])]}, {section})")
            seen[key(entry["action"])] = section
            entries[section].append(entry)
    waived = {key(e["action"]): e for e in entries["waived"]}
    outside = {key(e["action"]): e for e in entries["granted_outside_handlers"]}

    for k, perm in sorted(perms.items()):
        if k not in granted and k not in waived:
            where = "; ".join(
                f"{t} {'/'.join(h for h in HANDLERS if h in hs)}" for t, hs in sorted(perm["where"].items())
            )
            problems["missing"].append(f"{perm['action']} (needed by {where})")
    for k, action in sorted(granted.items()):
        if k not in perms and k not in outside:
            problems["unjustified"].append(action)
    for k, entry in sorted(waived.items()):
        if k not in perms:
            problems["stale_waivers"].append(f"{entry['action']}: no handler of a twin.yaml or twin-data.yaml type"
                                             " needs it")
        if k in granted:
            problems["contradictions"].append(f"{entry['action']}: waived and granted ({granted[k]})")
        problems["retained"].extend(_retained_problems(entry, twin, perms))
    for k, entry in sorted(outside.items()):
        if k in perms:
            problems["stale_exceptions"].append(f"{entry['action']}: a handler permission, not an exception")
        if k not in granted:
            problems["stale_exceptions"].append(f"{entry['action']}: recorded as granted but not granted")
    for section in sections:
        for entry in entries[section]:
            problem = reason_problem(entry.get("reason"), names)
            if problem:
                problems["weak_reasons"].append(f"{section}: {entry['action']}: {problem}")
            problems["bases"].extend(_basis_problems(entry, twin, perms))
    return problems


def figures(twin: dict, access: dict, waivers: dict) -> dict[str, int]:
    perms = handler_permissions(twin)
    granted = granted_actions(access)
    waived = {key(e["action"]) for e in waivers.get("waived") or [] if isinstance(e, dict)}
    outside = {key(e["action"]) for e in waivers.get("granted_outside_handlers") or [] if isinstance(e, dict)}
    return {
        "types": len(resource_types(twin)),
        "handler_permissions": len(perms),
        "granted": len(granted),
        "granted_handler_permissions": len(set(granted) & set(perms)),
        "granted_outside_handlers": len(set(granted) & outside),
        "waived": len(waived),
        "waived_retained": sum(1 for e in waivers.get("waived") or [] if isinstance(e, dict) and e.get("retained")),
    }


# --- tests ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _real() -> tuple[dict, dict, dict]:
    return load_twin(), load_template(ACCESS), load_waivers()


def _audit_real() -> dict[str, list[str]]:
    return audit(*_real())


def _fail_on(kind: str, headline: str) -> None:
    found = _audit_real()[kind]
    assert not found, f"{headline} ({len(found)}):\n  " + "\n  ".join(found)


def test_every_handler_permission_is_granted_or_waived():
    _fail_on("missing", f"handler permissions neither granted by {ROLE} nor waived in {WAIVERS.name}")


def test_every_grant_serves_a_handler_or_a_recorded_exception():
    _fail_on("unjustified", f"{ROLE} grants actions no twin.yaml or twin-data.yaml handler needs"
                            " (nor granted_outside_handlers)")


def test_waivers_are_handler_permissions():
    _fail_on("stale_waivers", "stale waivers")


def test_waivers_are_not_granted():
    _fail_on("contradictions", "waived actions that are also granted")


def test_every_reason_is_specific_to_twin_yaml():
    _fail_on("weak_reasons", "empty or generic reasons")


def test_retained_waivers_match_twin_yaml():
    _fail_on("retained", "waivers that rely on retained resources")


def test_the_grounds_of_each_entry_hold_in_twin_yaml():
    _fail_on("bases", "waivers or exceptions whose unset/set/list_only/not_an_action grounds no longer hold")


def test_exceptions_are_granted_and_outside_every_handler():
    _fail_on("stale_exceptions", "granted_outside_handlers entries")


def test_the_waivers_file_is_well_formed():
    _fail_on("file", f"{WAIVERS.name}")


def test_grants_match_the_service_authorization_reference():
    found = sar_problems(_real()[1])
    assert not found, "grants against the Service Authorization Reference:\n  " + "\n  ".join(found)


def test_the_figures_add_up():
    numbers = figures(*_real())
    assert numbers["types"] > 10, numbers
    assert numbers["granted_handler_permissions"] + numbers["waived"] == numbers["handler_permissions"], numbers
    assert numbers["granted_handler_permissions"] + numbers["granted_outside_handlers"] == numbers["granted"], numbers


def test_both_twin_templates_are_audited():
    # The execution role runs the data stack's change sets too: its types (the key, the log groups) count.
    twin = _real()[0]
    for path in TWIN_TEMPLATES:
        template = load_template(path)
        assert set(resource_types(template)) <= set(resource_types(twin)), path.name
        assert set(map(str, template["Resources"])) <= set(map(str, twin["Resources"])), path.name
    assert {"AWS::KMS::Key", "AWS::Logs::LogGroup", "AWS::Lambda::Function"} <= set(resource_types(twin))
    # Audited without the data template, the grants its resources need are reported unjustified.
    app_only = audit(load_template(TWIN), _real()[1], _real()[2])["unjustified"]
    assert "kms:CreateKey" in app_only and "logs:CreateLogGroup" in app_only, app_only


def test_a_logical_id_in_both_twin_templates_is_refused(tmp_path):
    twin = tmp_path / "twin.yaml"
    twin.write_text(TWIN.read_text(encoding="utf-8"), encoding="utf-8")
    clash = tmp_path / "twin-data.yaml"
    clash.write_text("Resources:\n  Function:\n    Type: AWS::Logs::LogGroup\n", encoding="utf-8")
    try:
        load_twin((twin, clash))
    except ValueError as error:
        assert "Resources Function is declared by both twin.yaml and twin-data.yaml" in str(error), error
    else:
        raise AssertionError("a logical id declared by both templates was accepted")


def test_role_writes_require_the_function_boundary():
    found = unbounded_role_writes(_real()[1])
    assert not found, "role writes the iam:PermissionsBoundary condition could govern:\n  " + "\n  ".join(found)
    changed = copy.deepcopy(_real()[1])
    allow_statements(changed)[0][1]["Action"].append("iam:UpdateRole")
    assert any("iam:UpdateRole without" in m for m in unbounded_role_writes(changed))


def test_the_inline_policies_fit_the_iam_quota_with_the_longest_names():
    # Both roles, in both kinds of access stack: an environment's and the previews' (whose deploy role has
    # the statements of `destroy --delete-data` besides).
    sizes = {}
    for role in (ROLE, "DeployRole"):
        for previews in (False, True):
            sizes[(role, previews)] = size = inline_policy_size(_real()[1], role, previews)
            assert size <= IAM_ROLE_INLINE_POLICY_QUOTA, (
                f"{role}'s inline policies ({'previews' if previews else 'one environment'}) take {size} of"
                f" {IAM_ROLE_INLINE_POLICY_QUOTA} characters with the longest names"
            )
    assert sizes[("DeployRole", True)] > sizes[("DeployRole", False)]
    assert sizes[(ROLE, True)] == sizes[(ROLE, False)]


# Self-tests: the check can fail, and names what it finds.


def _remove_action(access: dict, action: str) -> dict:
    changed = copy.deepcopy(access)
    for _, statement in allow_statements(changed):
        actions = statement.get("Action")
        if isinstance(actions, list):
            statement["Action"] = [a for a in actions if key(a) != key(action)]
        elif actions is not None and key(actions) == key(action):
            statement["Action"] = []
    assert key(action) not in granted_actions(changed)
    return changed


def test_self_check_a_removed_grant_is_reported_missing():
    twin, access, waivers = _real()
    assert not audit(twin, access, waivers)["missing"]
    missing = audit(twin, _remove_action(access, "lambda:CreateFunction"), waivers)["missing"]
    assert len(missing) == 1 and missing[0].startswith("lambda:CreateFunction "), missing


def test_self_check_every_granted_handler_permission_is_load_bearing():
    twin, access, waivers = _real()
    perms = handler_permissions(twin)
    for k, action in granted_actions(access).items():
        if k not in perms:
            continue
        missing = audit(twin, _remove_action(access, action), waivers)["missing"]
        assert [m.split(" ")[0].lower() for m in missing] == [k], (action, missing)


def test_self_check_an_extra_grant_and_bad_waivers_are_reported():
    twin, access, _ = _real()
    extra = copy.deepcopy(access)
    allow_statements(extra)[0][1]["Action"].append("iam:CreateUser")
    waivers = {
        "waived": [
            {"action": "lambda:CreateFunction", "reason": "Function is created by twinctl's own tooling instead"},
            {"action": "ec2:RunInstances", "reason": "Function never starts an EC2 instance for twin.yaml"},
            {"action": "ec2:DescribeVpcs", "reason": "not needed"},
            {"action": "kms:DisableKey", "reason": "this action is never called by the handlers at all"},
        ],
        "granted_outside_handlers": [{"action": "s3:ListBucket", "reason": "FrontendBucket needs a listing"}],
    }
    found = audit(twin, extra, waivers)
    assert "iam:CreateUser" in found["unjustified"], found["unjustified"]
    assert any(m.startswith("ec2:RunInstances:") for m in found["stale_waivers"]), found["stale_waivers"]
    assert any(m.startswith("lambda:CreateFunction:") for m in found["contradictions"]), found["contradictions"]
    weak = "\n".join(found["weak_reasons"])
    assert "ec2:DescribeVpcs: generic reason" in weak and "kms:DisableKey: reason names no resource" in weak, weak
    assert any(m.startswith("s3:ListBucket:") for m in found["stale_exceptions"]), found["stale_exceptions"]
    assert any(m.startswith("kms:Encrypt ") for m in found["missing"]), "a dropped waiver must be reported missing"


def test_self_check_a_retained_waiver_follows_twin_yaml():
    twin, access, waivers = _real()
    # logs:DeleteLogGroup waived instead of granted, on the ground that both log groups are retained.
    waiver = {"action": "logs:DeleteLogGroup", "retained": ["FunctionLogGroup", "ApiLogGroup"],
              "reason": "FunctionLogGroup and ApiLogGroup are retained: CloudFormation never runs their delete handler"}
    with_waiver = copy.deepcopy(waivers)
    with_waiver["waived"].append(waiver)
    without_grant = _remove_action(access, "logs:DeleteLogGroup")

    def log_groups(policy: str | None) -> dict:
        changed = copy.deepcopy(twin)
        for logical_id in ("FunctionLogGroup", "ApiLogGroup"):
            changed["Resources"][logical_id]["UpdateReplacePolicy"] = "Retain"
            if policy is None:
                changed["Resources"][logical_id].pop("DeletionPolicy", None)
            else:
                changed["Resources"][logical_id]["DeletionPolicy"] = policy
        return changed

    # Retain: the ground holds, and the waiver covers the missing grant.
    found = audit(log_groups("Retain"), without_grant, with_waiver)
    assert not found["retained"] and not found["missing"] and not found["contradictions"], found
    # RetainExceptOnCreate: a create that rolls back deletes the log groups, so the ground fails.
    found = audit(log_groups("RetainExceptOnCreate"), without_grant, with_waiver)["retained"]
    assert any("FunctionLogGroup has DeletionPolicy RetainExceptOnCreate" in m and "rolls back" in m
               for m in found), found
    # No DeletionPolicy (Delete): the ground fails too.
    found = audit(log_groups(None), without_grant, with_waiver)["retained"]
    assert any("ApiLogGroup has DeletionPolicy None, not Retain" in m for m in found), found
    # The real twin.yaml: no waiver relies on retention any more than twin.yaml's policies allow.
    assert not audit(twin, access, waivers)["retained"]


def test_self_check_a_feature_twin_yaml_starts_using_voids_its_waivers():
    twin, access, waivers = _real()
    changed = copy.deepcopy(twin)
    changed["Resources"]["Function"]["Properties"]["VpcConfig"] = {"Fn::If": ["Cond", {"SubnetIds": []},
                                                                            {"Ref": "AWS::NoValue"}]}
    changed["Resources"]["AlarmEmailSubscription"]["Properties"]["RawMessageDelivery"] = True
    found = "\n".join(audit(changed, access, waivers)["bases"])
    for action in ("ec2:DescribeVpcs", "ec2:DescribeSubnets", "sns:SetSubscriptionAttributes"):
        assert f"{action}: waived because" in found, found
    lists = {"waived": [{"action": "lambda:GetFunction", "list_only": True, "reason": "Function is read by name"},
                        {"action": "kms:ListKeys", "not_an_action": True, "reason": "Key is read by its id alone"}]}
    found = "\n".join(audit(twin, access, lists)["bases"])
    assert "lambda:GetFunction: not list-only" in found and "kms:ListKeys: is an action" in found, found


def test_self_check_a_star_grant_is_checked_against_the_reference():
    _, access, _ = _real()
    changed = copy.deepcopy(access)
    statements = allow_statements(changed)
    star = next(s for _, s in statements if s.get("Resource") == "*")
    star["Action"] = _items(star["Action"]) + ["lambda:GetFunction"]
    scoped = next(s for _, s in statements if s.get("Resource") != "*")
    scoped["Action"] = _items(scoped["Action"]) + ["kms:CreateKey", "lambda:NoSuchAction"]
    found = "\n".join(sar_problems(changed))
    assert 'lambda:GetFunction supports resource-level permissions' in found, found
    assert "kms:CreateKey has no resource-level permission" in found, found
    assert "lambda:NoSuchAction is not an action" in found, found


# --- report -----------------------------------------------------------------------------------------------


def report() -> str:
    twin, access, waivers = _real()
    numbers = figures(twin, access, waivers)
    problems = audit(twin, access, waivers)
    lines = [
        f"{ROLE} vs the registry schemas of templates/twin.yaml + twin-data.yaml (cfn-lint {cfnlint_version},"
        f" {SCHEMA_REGION}):",
        f"  resource types:            {numbers['types']}",
        f"  handler permissions:       {numbers['handler_permissions']}"
        " (distinct actions of the create/read/update/delete/list handlers)",
        f"  granted by {ROLE}:  {numbers['granted']} ({numbers['granted_handler_permissions']} handler permissions"
        f" + {numbers['granted_outside_handlers']} recorded in granted_outside_handlers)",
        f"  waived:                    {numbers['waived']}"
        f" ({numbers['waived_retained']} of them delete permissions of retained resources)",
        f"  granted + waived:          {numbers['granted_handler_permissions'] + numbers['waived']}"
        f" of {numbers['handler_permissions']}",
        f"  inline policy size:        {inline_policy_size(access)} of {IAM_ROLE_INLINE_POLICY_QUOTA} characters"
        " (IAM quota, longest parameter values)",
    ]
    open_problems = {kind: found for kind, found in problems.items() if found}
    open_problems_sar = sar_problems(access)
    if open_problems_sar:
        open_problems["service_authorization_reference"] = open_problems_sar
    for kind, found in open_problems.items():
        lines.append(f"  {kind}: {len(found)}")
        lines.extend(f"    {item}" for item in found)
    if not open_problems:
        lines.append("  problems: none")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:] != ["--report"]:
        sys.exit(f"usage: {sys.argv[0]} --report   (the tests run under pytest)")
    print(report())
