"""Role trust policies: may this caller assume this role?

A trust policy is a resource-based policy whose statements name principals; the policy evaluator
(iam_policy.py) evaluates identity policies, which name none. This module owns the step between:
it keeps the statements whose Principal (or NotPrincipal) element covers the caller, drops that
element (and, as a statement of a trust policy has no Resource element, adds Resource "*": the
policy is the role's own), and hands what is left to the evaluator as the caller's only policy,
with the role as the resource. Everything else (actions, conditions, explicit Deny winning) is
the evaluator's.

Principal matching follows "AWS JSON policy elements: Principal"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html):
"*" is everyone; {"AWS": "*"} any AWS principal; an account id or `arn:aws:iam::ACCT:root` every
principal of that account; a role ARN also the sessions of that role; {"Federated": ARN} the
identity provider a web identity token came from. Service principals never match a caller here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from . import iam_policy


@dataclass(frozen=True)
class TrustCaller:
    """Who asks to assume a role, as a trust policy's Principal element names it."""

    kind: str  # "AWS" or "Federated"
    account_id: str
    names: tuple[str, ...]  # ARNs that name the caller: user or session ARN, its role, or the provider ARN
    arn: str  # the ARN the evaluator reports the decision for


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def names_caller(principal: Any, caller: TrustCaller) -> bool:
    """Does a Principal element's value include the caller?"""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for value in _as_list(principal.get(caller.kind)):
        value = str(value)
        if value in caller.names:
            return True
        if caller.kind == "AWS" and value in ("*", caller.account_id, f"arn:aws:iam::{caller.account_id}:root"):
            return True
    return False


def applies_to(statement: dict[str, Any], caller: TrustCaller) -> bool:
    if "NotPrincipal" in statement:
        return not names_caller(statement["NotPrincipal"], caller)
    return names_caller(statement.get("Principal"), caller)


def document_of(role: Any) -> dict[str, Any]:
    """The role's trust policy (moto keeps the text as given; IAM returns it URL-encoded)."""
    text = role.assume_role_policy_document
    if isinstance(text, dict):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(unquote(text))


def statements_for(document: dict[str, Any], caller: TrustCaller) -> list[dict[str, Any]]:
    kept = []
    for statement in _as_list(document.get("Statement")):
        if isinstance(statement, dict) and applies_to(statement, caller):
            rewritten = {k: v for k, v in statement.items() if k not in ("Principal", "NotPrincipal")}
            # A trust policy names no Resource: it is the role's own. An identity policy must.
            if "Resource" not in rewritten and "NotResource" not in rewritten:
                rewritten["Resource"] = "*"
            kept.append(rewritten)
    return kept


def evaluate_trust(role: Any, caller: TrustCaller, action: str, context: dict[str, list[str]]) -> iam_policy.Decision:
    """The evaluator's decision on the statements of the role's trust policy that name the caller."""
    document = document_of(role)
    policy = {"Version": document.get("Version", "2012-10-17"), "Statement": statements_for(document, caller)}
    principal = iam_policy.Principal(arn=caller.arn, identity_policies=(policy,), boundary=None)
    return iam_policy.evaluate(principal, iam_policy.Request(action=action, resource=role.arn, context=context))
