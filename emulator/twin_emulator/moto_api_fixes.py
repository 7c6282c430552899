"""A fix to moto's own /moto-api/data.json, the page that dumps the emulator's state.

/moto-api/data.json lists the emulator's state (and was scripts/emulator's readiness probe).
moto 5.2.5 builds that page by reading every public attribute of every model instance and
skips only attributes raising TypeError/AttributeError/ValueError; a Lambda function's
`docker_client` property raises DockerException on a machine without Docker, so as soon as a
stack has created a function the page answers HTTP 500. The replacement below is moto's code
with any failing attribute skipped.
"""

from __future__ import annotations

import json
from typing import Any

from moto.moto_api._internal.responses import MotoAPIResponse


def model_data(self: MotoAPIResponse, request: Any, full_url: str, headers: Any) -> Any:
    from moto.core.model_instances import model_data as tracked

    results: dict[str, dict[str, list[Any]]] = {}
    for service in sorted(tracked):
        results[service] = {}
        for name in sorted(tracked[service]):
            results[service][name] = []
            for instance in tracked[service][name].instances_tracked:
                shown = {}
                for attr in dir(instance):
                    if attr.startswith("_"):
                        continue
                    try:
                        value = getattr(instance, attr)
                        json.dumps(value)
                    except Exception:  # noqa: BLE001 - an attribute that cannot be shown is left out
                        continue
                    shown[attr] = value
                results[service][name].append(shown)
    return 200, {"Content-Type": "application/javascript"}, json.dumps(results)


def install() -> None:
    from moto.moto_api._internal import urls

    MotoAPIResponse.model_data = model_data  # type: ignore[method-assign]
    # The route holds a bound method taken when moto's module was imported: rebind it.
    urls.url_paths["{0}/moto-api/data.json"] = urls.response_instance.model_data
