"""Lambda version numbers are never reused, as on AWS.

moto 5.2.5 numbers a published version `len(versions) + 1`, so once a version is deleted
(twinctl prunes old ones, see twinctl/src/retention.rs) the next publish gets the number of a
version that still exists: two versions "3" of one function, and an alias or a release record
naming "3" silently means other code. On AWS a function's version numbers only ever increase
(Lambda developer guide, "Manage Lambda function versions"). The replacement numbers from a
per-function high-water mark that deleting versions does not lower.
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.models import LambdaStorage
from moto.awslambda.utils import make_function_ver_arn

_original_publish = LambdaStorage.publish_version


def publish_version(self: LambdaStorage, name_or_arn: str, description: str = "") -> Any:
    function = self.get_function_by_name_or_arn_forbid_qualifier(name_or_arn)
    name = function.function_name
    entry = self._functions.get(name)
    if not entry or not entry["latest"]:
        return _original_publish(self, name_or_arn, description)
    published = [int(v.version) for v in entry["versions"]]
    highest = max([entry.get("twin_highest_version", 0), *published])
    entry["twin_highest_version"] = highest
    versions_before = list(entry["versions"])
    # moto will file the new version under this ARN, over any existing version holding it.
    moto_arn = make_function_ver_arn(function.region, function.account_id, name, len(versions_before) + 1)
    shadowed = self._arns.get(moto_arn)
    result = _original_publish(self, name_or_arn, description)
    if result is not None and result not in versions_before:
        if shadowed is not None:
            self._arns[moto_arn] = shadowed
        else:
            self._arns.pop(moto_arn, None)
        result.set_version(highest + 1)
        self._arns[result.function_arn] = result
        entry["twin_highest_version"] = highest + 1
    return result


def install() -> None:
    LambdaStorage.publish_version = publish_version  # type: ignore[method-assign]
