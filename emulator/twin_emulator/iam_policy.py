"""IAM identity-policy evaluation for the emulator: does a principal's identity-based policies, within
its permissions boundary, allow one request?

This module owns the decision and reading the principal's policies out of moto's IAM backend. It does
not evaluate resource-based policies, SCPs, RCPs or session policies, and it does not see requests:
callers (the request hook, the stack engine) build the `Request` and act on the `Decision`.
moto's own evaluator (`moto/iam/access_control.py`) is too coarse to stand in for AWS: it authorises
against resource "*" outside S3, knows only StringEquals and counts a missing condition key as
satisfied (see /work/shared/notes/emulator.md, "IAM enforcement in moto").

Rules followed, from AWS's documentation:
  * Evaluation (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html):
    an explicit Deny in any identity policy or in the boundary wins; otherwise the request is allowed only
    if an identity policy allows it and, when a boundary is set, the boundary allows it too.
  * Action/NotAction match case-insensitively with `*` and `?`.
  * Resource/NotResource (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html)
    match case-sensitively; `*` and `?` stay within one colon-delimited segment, except that a `*` that
    ends a segment "can expand to match beyond the colon boundaries". A policy ARN pattern never matches
    the request resource "*" (the resource of an action without resource-level permissions).
  * Conditions (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html):
    operators ANDed, keys within an operator ANDed, values within a key ORed; key names case-insensitive.
    A key absent from the request context makes the condition false, except: `...IfExists` is true;
    `Null` tests presence; negated operators (StringNotEquals, StringNotLike, ArnNotLike, ...) are true;
    `ForAllValues:` is true; `ForAnyValue:` is false. IfExists on a set operator changes nothing.

What the emulator cannot evaluate never passes silently. A statement that uses an operator outside
the supported set (Date*, IpAddress, Binary*, ...) or a policy variable (`${aws:username}`) in its
Resource, NotResource or condition values is "undecidable" unless one of its decidable parts (Action,
Resource, another condition key) already rules it out: as an Allow it grants nothing, as a Deny it
denies — failing closed both ways — and the decision's reason says which statement and why.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ENFORCE_ENV = "TWIN_EMULATOR_IAM"


def enforcing() -> bool:
    """Is IAM enforcement on for this emulator process?"""
    return os.environ.get(ENFORCE_ENV) == "enforce"


@dataclass(frozen=True)
class Request:
    action: str  # "s3:PutObject" (service prefix lower-case, as in policies)
    resource: str  # an ARN, or "*" for actions without resource-level permissions
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)  # condition keys, any case


@dataclass(frozen=True)
class Principal:
    arn: str  # as AWS names the caller in messages (user ARN, or an assumed-role session ARN)
    identity_policies: tuple[dict, ...]
    boundary: dict | None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # AWS's wording


class UnknownPrincipal(LookupError):
    """The ARN names no user or role of the account's IAM backend."""


class Undecidable(Exception):
    """A statement uses something this evaluator does not support (see the module docstring)."""


# --- reading principals out of moto ------------------------------------------------------------

_PRINCIPAL_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):(?P<service>iam|sts)::(?P<account>\d{12}):"
    r"(?P<kind>user|role|assumed-role)/(?P<rest>.+)$"
)


def principal(account_id: str, arn: str) -> Principal:
    """The principal named by a user ARN, a role ARN or an assumed-role session ARN (its role's
    policies), with its policies as moto's IAM backend holds them now."""
    match = _PRINCIPAL_ARN.match(arn)
    if not match or match["account"] != account_id:
        raise UnknownPrincipal(f"{arn} is not a user, role or assumed-role ARN of account {account_id}")
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id][match["partition"]]
    kind, rest = match["kind"], match["rest"]
    if kind == "user":
        return _user_principal(backend, arn, rest.rsplit("/", 1)[-1])
    # A role ARN may carry a path (role/path/NAME); a session ARN never does (assumed-role/NAME/SESSION).
    role_name = rest.rsplit("/", 1)[-1] if kind == "role" else rest.split("/", 1)[0]
    return _role_principal(backend, arn, role_name)


def _user_principal(backend: Any, arn: str, name: str) -> Principal:
    user = backend.users.get(name)
    if user is None:
        raise UnknownPrincipal(f"no IAM user named {name} (from {arn})")
    documents = [*_inline(user.policies), *_managed(user.managed_policies)]
    for group in backend.get_groups_for_user(name):
        documents += [*_inline(group.policies), *_managed(group.managed_policies)]
    # moto 5.2.5 has no user permissions boundaries (PutUserPermissionsBoundary is unimplemented).
    boundary_arn = getattr(user, "permissions_boundary_arn", None)
    return Principal(arn, tuple(documents), _boundary(backend, boundary_arn))


def _role_principal(backend: Any, arn: str, name: str) -> Principal:
    role = next((r for r in backend.roles.values() if r.name == name), None)
    if role is None:
        raise UnknownPrincipal(f"no IAM role named {name} (from {arn})")
    documents = [*_inline(role.policies), *_managed(role.managed_policies)]
    return Principal(arn, tuple(documents), _boundary(backend, role.permissions_boundary_arn))


def _inline(policies: Mapping[str, Any]) -> list[dict]:
    return [_parse(document) for document in policies.values()]


def _managed(policies: Mapping[str, Any]) -> list[dict]:
    return [_default_version(policy) for policy in policies.values()]


def _boundary(backend: Any, policy_arn: str | None) -> dict | None:
    if not policy_arn:
        return None
    policy = backend.managed_policies.get(policy_arn)
    if policy is None:
        raise UnknownPrincipal(f"permissions boundary {policy_arn} is not a managed policy of the account")
    return _default_version(policy)


def _default_version(policy: Any) -> dict:
    for version in policy.versions:
        if version.version_id == policy.default_version_id:
            return _parse(version.document)
    raise UnknownPrincipal(f"managed policy {policy.arn} has no default version")


def _parse(document: Any) -> dict:
    return json.loads(document) if isinstance(document, str) else dict(document)


# --- evaluation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Verdict:
    """One policy's statements against a request: does any Allow / Deny apply, and which statements
    could not be evaluated."""

    allows: bool
    denies: bool
    undecidable: tuple[str, ...]


def evaluate(principal: Principal, request: Request) -> Decision:
    """AWS's decision for a request within one account, from identity policies and the boundary."""
    context = {key.lower(): [str(v) for v in values] for key, values in request.context.items()}
    identity = _verdict(principal.identity_policies, request, context)
    boundary = _verdict((principal.boundary,), request, context) if principal.boundary is not None else None
    # AWS names the resource only when the action has one ("... on resource: ARN"); for an action without
    # resource-level permissions the message stops at the action.
    on_resource = "" if request.resource == "*" else f" on resource: {request.resource}"
    prefix = f"User: {principal.arn} is not authorized to perform: {request.action}{on_resource}"
    if identity.denies:
        return Decision(False, prefix + " with an explicit deny in an identity-based policy" + _note(identity))
    if boundary is not None and boundary.denies:
        return Decision(False, prefix + " with an explicit deny in a permissions boundary" + _note(boundary))
    if not identity.allows:
        return Decision(
            False, prefix + f" because no identity-based policy allows the {request.action} action" + _note(identity)
        )
    if boundary is not None and not boundary.allows:
        return Decision(
            False, prefix + f" because no permissions boundary allows the {request.action} action" + _note(boundary)
        )
    return Decision(True, f"{principal.arn} is allowed to perform: {request.action}{on_resource}")


def _note(verdict: _Verdict) -> str:
    if not verdict.undecidable:
        return ""
    return " (the emulator could not evaluate: " + "; ".join(verdict.undecidable) + ")"


def _verdict(documents: Iterable[dict], request: Request, context: Mapping[str, list[str]]) -> _Verdict:
    allows = denies = False
    undecidable: list[str] = []
    for document in documents:
        for index, statement in enumerate(_as_list(document.get("Statement"))):
            effect = statement.get("Effect")
            try:
                applies = _statement_applies(statement, request, context)
            except Undecidable as problem:
                undecidable.append(f"statement {statement.get('Sid', index)}: {problem}")
                # Fail closed: an Allow we cannot decide grants nothing, a Deny we cannot decide denies.
                applies = effect == "Deny"
            if applies and effect == "Allow":
                allows = True
            elif applies and effect == "Deny":
                denies = True
    return _Verdict(allows, denies, tuple(undecidable))


def _statement_applies(statement: Mapping[str, Any], request: Request, context: Mapping[str, list[str]]) -> bool:
    """Raises Undecidable only when no decidable part of the statement already rules it out."""
    if not _action_matches(statement, request.action):
        return False
    problems: list[str] = []
    for part in (
        lambda: _resource_matches(statement, request.resource),
        *_condition_checks(statement.get("Condition") or {}, context),
    ):
        try:
            if not part():
                return False
        except Undecidable as problem:
            problems.append(str(problem))
    if problems:
        raise Undecidable("; ".join(problems))
    return True


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "Action" in statement:
        return any(_glob(p, ignore_case=True).fullmatch(action) for p in _as_list(statement["Action"]))
    if "NotAction" in statement:
        return not any(_glob(p, ignore_case=True).fullmatch(action) for p in _as_list(statement["NotAction"]))
    return False


def _resource_matches(statement: Mapping[str, Any], resource: str) -> bool:
    if "Resource" in statement:
        return _any_pattern_matches(statement["Resource"], resource)
    if "NotResource" in statement:
        return not _any_pattern_matches(statement["NotResource"], resource)
    return False


def _any_pattern_matches(patterns: Any, resource: str) -> bool:
    """Does one of the patterns match? Undecidable only when none that can be decided does."""
    problems: list[str] = []
    for pattern in map(str, _as_list(patterns)):
        try:
            _refuse_variables(pattern)
        except Undecidable as problem:
            problems.append(str(problem))
            continue
        if pattern == "*" or _resource_regex(pattern).fullmatch(resource) is not None:
            return True
    if problems:
        raise Undecidable("; ".join(problems))
    return False


@lru_cache(maxsize=4096)
def _resource_regex(pattern: str) -> re.Pattern[str]:
    """A Resource ARN pattern: wildcards stay within a colon-delimited segment, except a `*` ending a
    segment, which may run across colons (the Resource element page, "Using wildcards in resource ARNs")."""
    parts: list[str] = []
    for index, char in enumerate(pattern):
        if char == "*":
            ends_segment = index + 1 == len(pattern) or pattern[index + 1] == ":"
            parts.append(".*" if ends_segment else "[^:]*")
        elif char == "?":
            parts.append("[^:]")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


@lru_cache(maxsize=4096)
def _glob(pattern: Any, ignore_case: bool = False) -> re.Pattern[str]:
    """`*` any run of characters, `?` one character, everything else literal."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in str(pattern))
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _refuse_variables(value: str) -> None:
    if "${" in value:
        raise Undecidable(f"policy variables are not supported ({value!r})")


# --- conditions ------------------------------------------------------------------------------------

Compare = Callable[[str, str], bool]


def _string_like(actual: str, expected: str) -> bool:
    return _glob(expected).fullmatch(actual) is not None


def _arn_like(actual: str, expected: str) -> bool:
    """ArnEquals/ArnLike: "each of the six colon-delimited components of the ARN is checked separately
    and each can include multi-character match wildcards (*) or single-character match wildcards (?)"."""
    actual_parts, expected_parts = actual.split(":", 5), expected.split(":", 5)
    if len(actual_parts) != 6 or len(expected_parts) != 6:
        return False
    return all(_glob(e).fullmatch(a) for a, e in zip(actual_parts, expected_parts))


def _bool_equals(actual: str, expected: str) -> bool:
    return actual.lower() == expected.lower()


def _numeric(test: Callable[[float, float], bool]) -> Compare:
    def compare(actual: str, expected: str) -> bool:
        try:
            wanted = float(expected)
        except ValueError:
            raise Undecidable(f"{expected!r} is not a number") from None
        try:
            return test(float(actual), wanted)
        except ValueError:
            return False  # a context value that is not a number matches no numeric condition

    return compare


# Base operator → (comparison of one context value with one policy value, negated?).
# A negated operator holds when the context value matches none of the policy values.
_OPERATORS: dict[str, tuple[Compare, bool]] = {
    "stringequals": (lambda a, e: a == e, False),
    "stringnotequals": (lambda a, e: a == e, True),
    "stringequalsignorecase": (lambda a, e: a.lower() == e.lower(), False),
    "stringnotequalsignorecase": (lambda a, e: a.lower() == e.lower(), True),
    "stringlike": (_string_like, False),
    "stringnotlike": (_string_like, True),
    "arnequals": (_arn_like, False),
    "arnlike": (_arn_like, False),
    "arnnotequals": (_arn_like, True),
    "arnnotlike": (_arn_like, True),
    "bool": (_bool_equals, False),
    "numericequals": (_numeric(lambda a, e: a == e), False),
    "numericnotequals": (_numeric(lambda a, e: a == e), True),
    "numericlessthan": (_numeric(lambda a, e: a < e), False),
    "numericlessthanequals": (_numeric(lambda a, e: a <= e), False),
    "numericgreaterthan": (_numeric(lambda a, e: a > e), False),
    "numericgreaterthanequals": (_numeric(lambda a, e: a >= e), False),
}


@dataclass(frozen=True)
class _Operator:
    name: str  # as written in the policy
    base: str  # lower-case, without qualifier and IfExists
    qualifier: str | None  # "forallvalues" / "foranyvalue"
    if_exists: bool


def _parse_operator(name: str) -> _Operator:
    written, _, base = name.rpartition(":")
    qualifier = written.lower() or None
    if qualifier not in (None, "forallvalues", "foranyvalue"):
        raise Undecidable(f"unknown condition set operator {written!r} in {name!r}")
    base = base.lower()
    if_exists = base.endswith("ifexists") and base != "null"
    base = base.removesuffix("ifexists") if if_exists else base
    if base != "null" and base not in _OPERATORS:
        raise Undecidable(f"condition operator {name!r} is not supported")
    return _Operator(name, base, qualifier, if_exists)


def _condition_checks(condition: Mapping[str, Any], context: Mapping[str, list[str]]) -> list[Callable[[], bool]]:
    """One check per (operator, key): all must hold. Each may raise Undecidable."""

    def check(name: str, key: str, expected: Any) -> Callable[[], bool]:
        return lambda: _key_holds(_parse_operator(name), key, _policy_values(expected), context.get(key.lower(), []))

    return [check(name, key, expected) for name, keys in condition.items() for key, expected in keys.items()]


def _policy_values(expected: Any) -> list[str]:
    values = [_policy_string(v) for v in _as_list(expected)]
    for value in values:
        _refuse_variables(value)
    return values


def _policy_string(value: Any) -> str:
    # JSON true/false in a policy mean the strings "true"/"false".
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _key_holds(operator: _Operator, key: str, expected: list[str], actual: list[str]) -> bool:
    if operator.base == "null":
        return _null_holds(operator, expected, present=bool(actual))
    compare, negated = _OPERATORS[operator.base]

    def one(value: str) -> bool:
        matched = any(compare(value, e) for e in expected)
        return not matched if negated else matched

    if operator.qualifier == "forallvalues":
        return all(one(value) for value in actual)  # true for an absent key, as AWS documents
    if operator.qualifier == "foranyvalue":
        return any(one(value) for value in actual)  # false for an absent key
    if not actual:
        return operator.if_exists or negated
    # Without a set operator several context values count as one: a positive operator holds when one
    # of them matches, a negated one when none does.
    matched = any(compare(value, e) for value in actual for e in expected)
    return not matched if negated else matched


def _null_holds(operator: _Operator, expected: list[str], present: bool) -> bool:
    wanted = set()
    for value in expected:
        if value.lower() not in ("true", "false"):
            raise Undecidable(f"{operator.name} takes true or false, not {value!r}")
        wanted.add(value.lower() == "true")  # "true": the key must be absent
    return (not present) in wanted


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
