"""A lifecycle rule's NoncurrentVersionExpiration keeps its NewerNoncurrentVersions, as on AWS.

moto 5.2.5 reads only NoncurrentDays out of a rule's NoncurrentVersionExpiration
(`FakeBucket.set_lifecycle` keeps NewerNoncurrentVersions for NoncurrentVersionTransition alone),
and GetBucketLifecycleConfiguration answers `{"NoncurrentDays": ...}` without it, whether the rule
came from PutBucketLifecycleConfiguration or from an AWS::S3::Bucket's LifecycleConfiguration
(cfn_models_storage.py passes it on to the same backend call). On AWS the element is kept and
returned: "Specifies how many noncurrent versions Amazon S3 will retain. You can specify up to 100
noncurrent versions to retain", Type: Integer (Amazon S3 API Reference, data type
NoncurrentVersionExpiration; the CloudFormation counterpart is AWS::S3::Bucket
NoncurrentVersionExpiration). templates/twin.yaml relies on it (NewerNoncurrentVersions:
!Ref RetainedReleases) so that twinctl's rollback always finds the object versions its retained
releases recorded.

The replacement wraps moto's two functions rather than copying them:
  - `FakeBucket.set_lifecycle` validates each rule's value before moto replaces the bucket's rules
    (so a rejected request leaves the old configuration alone), then records it on moto's
    LifecycleRule as `nve_newer_noncurrent_versions` (an int; the XML body gives a string);
  - `S3Response.get_bucket_lifecycle` adds it to the NoncurrentVersionExpiration moto renders, rule
    by rule (moto renders the bucket's rules in order, one entry each).

Validation, from that page: a value that is not an integer does not validate against the schema
(MalformedXML, moto's error for a malformed lifecycle rule); an integer outside 1..100 is an
InvalidArgument (HTTP 400). The documented range is "up to 100" and a count of retained versions
is positive; AWS's exact message for this field is not documented, so the one below follows the
shape of AWS's message for a bad NoncurrentDays ("'NoncurrentDays' for NoncurrentVersionExpiration
action must be a positive integer"). A rule without the element comes back without it.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.s3.exceptions import InvalidArgumentError, MalformedXML
from moto.s3.models import FakeBucket
from moto.s3.responses import S3Response

MAX_NEWER_NONCURRENT_VERSIONS = 100

_original_set_lifecycle = FakeBucket.set_lifecycle
_original_get_bucket_lifecycle = S3Response.get_bucket_lifecycle


def newer_noncurrent_versions(rule: dict[str, Any]) -> int | None:
    """The rule's NoncurrentVersionExpiration.NewerNoncurrentVersions as an int, validated; None if absent."""
    expiration = rule.get("NoncurrentVersionExpiration")
    if not isinstance(expiration, dict) or expiration.get("NewerNoncurrentVersions") is None:
        return None
    value = expiration["NewerNoncurrentVersions"]
    if isinstance(value, bool):
        raise MalformedXML()
    if isinstance(value, int):
        count = value
    elif isinstance(value, float) and value.is_integer():
        count = int(value)  # a CloudFormation Number parameter such as "10.0"
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        count = int(value.strip())  # the XML body's text
    else:
        raise MalformedXML()
    if not 1 <= count <= MAX_NEWER_NONCURRENT_VERSIONS:
        raise InvalidArgumentError(
            "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer "
            f"no greater than {MAX_NEWER_NONCURRENT_VERSIONS}",
            "NewerNoncurrentVersions",
            str(value),
        )
    return count


def set_lifecycle(self: FakeBucket, rules: list[dict[str, Any]]) -> None:
    counts = [newer_noncurrent_versions(rule) for rule in rules]  # before moto clears the old rules
    _original_set_lifecycle(self, rules)
    # moto appends one LifecycleRule per input rule, in order (or raises).
    for stored, count in zip(self.rules, counts):
        stored.nve_newer_noncurrent_versions = count


def get_bucket_lifecycle(self: S3Response) -> Any:
    # moto builds the answer's dict and serialises it in one method: add the value just before
    # serialisation. S3Response is instantiated per request, so shadowing the bound method is local.
    serialize = self.serialized

    def serialized(action_result: ActionResult) -> Any:
        result = action_result.result
        if isinstance(result, dict):
            stored_rules = self.backend.get_bucket_lifecycle(self.bucket_name)
            for shown, stored in zip(result.get("Rules", []), stored_rules):
                count = getattr(stored, "nve_newer_noncurrent_versions", None)
                if count is not None and "NoncurrentVersionExpiration" in shown:
                    shown["NoncurrentVersionExpiration"]["NewerNoncurrentVersions"] = count
        return serialize(action_result)

    self.serialized = serialized  # type: ignore[method-assign]
    try:
        return _original_get_bucket_lifecycle(self)
    finally:
        del self.serialized


def install() -> None:
    FakeBucket.set_lifecycle = set_lifecycle  # type: ignore[method-assign]
    S3Response.get_bucket_lifecycle = get_bucket_lifecycle  # type: ignore[method-assign]
