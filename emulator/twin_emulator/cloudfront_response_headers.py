"""CloudFront response headers policies, which moto 5.2.5 does not implement at all.

Owns: a store of policies on moto's CloudFront backend (so /moto-api/reset forgets them with the
rest) and the read side of the service API for them: GetResponseHeadersPolicy,
GetResponseHeadersPolicyConfig and ListResponseHeadersPolicies, added to moto's CloudFront
routes. The AWS::CloudFront::ResponseHeadersPolicy model (cfn_models_edge.py) creates, updates
and deletes policies in the store. Create/Update/Delete through the service API are not
emulated (nothing in the twin calls them).
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

from moto.cloudfront import urls as cloudfront_urls
from moto.cloudfront.exceptions import CloudFrontException
from moto.cloudfront.models import CloudFrontBackend, random_id
from moto.cloudfront.responses import CloudFrontResponse
from moto.core.responses import ActionResult
from moto.moto_api._internal import mock_random


class NoSuchResponseHeadersPolicy(CloudFrontException):
    def __init__(self) -> None:
        super().__init__("NoSuchResponseHeadersPolicy", "The specified response headers policy does not exist.")


def with_quantities(value: Any) -> Any:
    """The template writes lists as {Items: [...]}; the API also carries Quantity beside them."""
    if isinstance(value, list):
        return [with_quantities(v) for v in value]
    if not isinstance(value, dict):
        return value
    result = {k: with_quantities(v) for k, v in value.items()}
    if isinstance(result.get("Items"), list) and "Quantity" not in result:
        result["Quantity"] = len(result["Items"])
    return result


def policies(backend: CloudFrontBackend) -> dict[str, dict[str, Any]]:
    """The backend's policies, by id (kept on the backend so a reset clears them)."""
    if not hasattr(backend, "twin_response_headers_policies"):
        backend.twin_response_headers_policies = {}  # type: ignore[attr-defined]
    return backend.twin_response_headers_policies  # type: ignore[attr-defined]


def create_policy(backend: CloudFrontBackend, config: dict[str, Any]) -> dict[str, Any]:
    existing = [p for p in policies(backend).values() if p["ResponseHeadersPolicyConfig"]["Name"] == config["Name"]]
    if existing:
        raise CloudFrontException(
            "ResponseHeadersPolicyAlreadyExists",
            f"A response headers policy with this name already exists: {config['Name']}",
        )
    policy = {
        "Id": str(mock_random.uuid4()),
        "LastModifiedTime": datetime.now(timezone.utc),
        "ResponseHeadersPolicyConfig": with_quantities(copy.deepcopy(config)),
        "ETag": random_id(),
    }
    policies(backend)[policy["Id"]] = policy
    return policy


def update_policy(backend: CloudFrontBackend, policy_id: str, config: dict[str, Any]) -> dict[str, Any]:
    policy = get_policy(backend, policy_id)
    policy["ResponseHeadersPolicyConfig"] = with_quantities(copy.deepcopy(config))
    policy["LastModifiedTime"] = datetime.now(timezone.utc)
    policy["ETag"] = random_id()
    return policy


def get_policy(backend: CloudFrontBackend, policy_id: str) -> dict[str, Any]:
    if policy_id not in policies(backend):
        raise NoSuchResponseHeadersPolicy()
    return policies(backend)[policy_id]


def delete_policy(backend: CloudFrontBackend, policy_id: str) -> None:
    policies(backend).pop(policy_id, None)


# --- the service API (methods added to moto's CloudFrontResponse) ------------------------------


def get_response_headers_policy(self: CloudFrontResponse) -> ActionResult:
    policy = get_policy(self.backend, self._get_param("Id"))
    shown = {k: v for k, v in policy.items() if k != "ETag"}
    return ActionResult({"ResponseHeadersPolicy": shown, "ETag": policy["ETag"]})


def get_response_headers_policy_config(self: CloudFrontResponse) -> ActionResult:
    policy = get_policy(self.backend, self._get_param("Id"))
    return ActionResult({"ResponseHeadersPolicyConfig": policy["ResponseHeadersPolicyConfig"], "ETag": policy["ETag"]})


def list_response_headers_policies(self: CloudFrontResponse) -> ActionResult:
    wanted = self._get_param("Type")
    items = []
    if wanted in (None, "custom"):
        items = [
            {"Type": "custom", "ResponseHeadersPolicy": {k: v for k, v in p.items() if k != "ETag"}}
            for p in policies(self.backend).values()
        ]
    return ActionResult(
        {"ResponseHeadersPolicyList": {"MaxItems": 100, "Quantity": len(items), "Items": items or None}}
    )


def install() -> None:
    CloudFrontResponse.get_response_headers_policy = get_response_headers_policy  # type: ignore[attr-defined]
    CloudFrontResponse.get_response_headers_policy_config = get_response_headers_policy_config  # type: ignore[attr-defined]
    CloudFrontResponse.list_response_headers_policies = list_response_headers_policies  # type: ignore[attr-defined]
    # Routes are read when the server builds CloudFront's app, i.e. on its first request.
    cloudfront_urls.url_paths.update(
        {
            "{0}/2020-05-31/response-headers-policy$": CloudFrontResponse.dispatch,
            "{0}/2020-05-31/response-headers-policy/(?P<policy_id>[^/]+)$": CloudFrontResponse.dispatch,
            "{0}/2020-05-31/response-headers-policy/(?P<policy_id>[^/]+)/config$": CloudFrontResponse.dispatch,
        }
    )
