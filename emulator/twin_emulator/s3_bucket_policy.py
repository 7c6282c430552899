"""How the emulator evaluates S3 bucket policies on object requests.

moto 5.2.5 enforces a bucket's policy on GetObject/PutObject/DeleteObject
(`FakeBucket.get_permission`), but its evaluator has no request context: a statement with any
Condition counts as DENIED whatever its Effect, and a service principal
(`{"Service": "cloudfront.amazonaws.com"}`) counts as everyone. The twin's buckets all carry the
standard TLS-only statement

    Effect: Deny, Principal: "*", Condition: {Bool: {aws:SecureTransport: "false"}}

so under moto every object request to them would answer 403.

The choice made here, as the most faithful one: the stored policy stays exactly as written
(GetBucketPolicy returns what AWS returns), and the policy is evaluated with IAM's rules against
the request context a client of the real service would present. The emulator listens on plain
HTTP on loopback, standing in for AWS's HTTPS endpoints that the SDK uses in production, so
`aws:SecureTransport` is "true"; a caller is the account's own IAM identity (moto accepts any
credentials); every other context key is absent. Consequences, as on AWS:

  * the TLS-only Deny does not apply, so the stack's own GetObject/PutObject work;
  * a statement for a service principal (CloudFront reading the site) does not apply to us;
  * an Allow whose condition names a key we cannot supply (aws:SourceArn) grants nothing;
  * an unconditional `Deny Principal "*"` still denies.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from moto.iam.access_control import PermissionResult
from moto.s3.models import FakeBucket

# The request context of a client of the emulator (see the module docstring).
REQUEST_CONTEXT = {"aws:securetransport": "true"}

# moto names the action after the HTTP method; HEAD is authorised as GetObject on AWS.
ACTION_ALIASES = {"s3:headobject": "s3:getobject"}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _matches_any(patterns: Any, value: str, case_sensitive: bool = True) -> bool:
    for pattern in _as_list(patterns):
        pattern, candidate = (str(pattern), value) if case_sensitive else (str(pattern).lower(), value.lower())
        if fnmatch.fnmatchcase(candidate, pattern.replace("[", "[[]")):
            return True
    return False


def _principal_applies(principal: Any, account_id: str) -> bool:
    """Does the statement's principal include the caller (an IAM identity of the bucket's account)?"""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for value in _as_list(principal.get("AWS")):
        value = str(value)
        if value == "*" or value == account_id or f":{account_id}:" in value:
            return True
    return False  # Service, Federated and CanonicalUser principals are not the caller


def _condition_holds(operator: str, key: str, expected: Any) -> bool:
    operator = operator.split(":")[-1]  # ForAnyValue:/ForAllValues: make no difference for one value
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    actual = REQUEST_CONTEXT.get(key.lower())
    expected_values = [str(v) for v in _as_list(expected)]

    if operator == "Null":
        wants_absent = any(v.lower() == "true" for v in expected_values)
        return (actual is None) == wants_absent
    negated = "Not" in operator
    if actual is None:
        # A missing key fails a positive operator and satisfies a negated one (IAM's rule).
        return if_exists or negated
    if operator in ("StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals"):
        found = actual in expected_values
    elif operator in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        found = actual.lower() in [v.lower() for v in expected_values]
    elif operator in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        found = _matches_any(expected_values, actual)
    elif operator == "Bool":
        found = actual.lower() in [v.lower() for v in expected_values]
    else:
        return False  # an operator we cannot evaluate never matches (Numeric*, Date*, IpAddress ...)
    return not found if negated else found


def _statement_applies(statement: dict[str, Any], action: str, resource: str, account_id: str) -> bool:
    if "NotAction" in statement:
        if _matches_any(statement["NotAction"], action, case_sensitive=False):
            return False
    elif not _matches_any(statement.get("Action"), action, case_sensitive=False):
        return False
    if "NotResource" in statement:
        if _matches_any(statement["NotResource"], resource):
            return False
    elif "Resource" in statement and not _matches_any(statement["Resource"], resource):
        return False
    if "NotPrincipal" in statement:
        if _principal_applies(statement["NotPrincipal"], account_id):
            return False
    elif not _principal_applies(statement.get("Principal"), account_id):
        return False
    for operator, checks in (statement.get("Condition") or {}).items():
        for key, expected in checks.items():
            if not _condition_holds(operator, key, expected):
                return False
    return True


def evaluate_bucket_policy(policy_text: str, action: str, resource: str, account_id: str) -> PermissionResult:
    """An explicit Deny wins, then any Allow; otherwise the policy is silent (NEUTRAL)."""
    document = json.loads(policy_text)
    action = ACTION_ALIASES.get(action.lower(), action)
    allowed = False
    for statement in _as_list(document.get("Statement")):
        if _statement_applies(statement, action, resource, account_id):
            if statement.get("Effect") == "Deny":
                return PermissionResult.DENIED
            allowed = True
    return PermissionResult.PERMITTED if allowed else PermissionResult.NEUTRAL


def get_permission(self: FakeBucket, action: str, resource: str) -> PermissionResult:
    """Replacement for FakeBucket.get_permission (same signature, same result type)."""
    if self.policy is None:
        return PermissionResult.NEUTRAL
    policy = self.policy.decode() if isinstance(self.policy, bytes) else self.policy
    return evaluate_bucket_policy(policy, action, resource, self.account_id)


def install() -> None:
    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
