"""CloudWatch over the Smithy RPC v2 CBOR protocol, which the Rust SDK speaks and moto does not.

aws-sdk-cloudwatch (Rust, 1.x) calls CloudWatch as `POST /service/GraniteServiceVersion20100801/
operation/<Operation>` with `smithy-protocol: rpc-v2-cbor` and a CBOR body (the service model
lists rpcv2Cbor first among its protocols; botocore picks awsJson there, which moto serves).
moto 5.2.5 routes CloudWatch only at `/` (awsQuery and awsJson), so the SDK got a 404 page.

The protocol (Smithy docs, "Smithy RPC v2 CBOR protocol"): the input structure is a CBOR map;
timestamps are tag 1 around epoch seconds; blobs are byte strings; a successful response is 200
with a CBOR body (none for an operation without output) and `Smithy-Protocol: rpc-v2-cbor`; an
error is a CBOR map with `__type` (the error's absolute shape id) and `message`, with the status
of the error's httpError trait, else 400 (client) or 500 (server). CloudWatch is also
awsQueryCompatible, so an error carries `x-amzn-query-error: <awsQuery code>;Sender|Receiver`,
which the Rust SDK takes as the error code (its match arms use the awsQuery codes, e.g.
"InvalidFormat" for InvalidFormatFault).

Only the wire format is added: a request parser and a response serializer for moto's
protocol-agnostic machinery (moto.core.parse / moto.core.serialize, keyed by the service model's
protocol name "smithy-rpc-v2-cbor"), and the route. Requests then run through moto's own
CloudWatchResponse: the same backend, the region from the SigV4 credential scope and the account
as moto picks it for any request (its default 123456789012 for an access key it does not know),
so every operation moto implements answers. One it does not implement (or an unknown name)
answers a CBOR error `UnsupportedOperation` (400) naming it, never a 404 page. (An answer
without a body still gets Flask's default Content-Type, text/html; clients ignore it there.)

Two encodings matter to the Rust SDK, whose decoder (minicbor) accepts only CBOR floats where
the model says double or timestamp: every timestamp is written as tag 1 around a float, every
double as a float.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any

import cbor2
from botocore.utils import parse_to_aware_datetime
from moto.cloudwatch import urls as cloudwatch_urls
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core import parse, serialize
from moto.core.common_types import TYPE_RESPONSE
from moto.core.parse import BaseJSONParser, default_timestamp_parser
from moto.core.serialize import BaseJSONSerializer
from moto.core.utils import camelcase_to_underscores, get_service_model, method_names_from_class

PROTOCOL = "smithy-rpc-v2-cbor"
SMITHY_PROTOCOL = "rpc-v2-cbor"
CONTENT_TYPE = "application/cbor"
# The Smithy shape ids of CloudWatch: service GraniteServiceVersion20100801 in this namespace.
SERVICE_NAME = "GraniteServiceVersion20100801"
NAMESPACE = "com.amazonaws.cloudwatch"
ROUTE = "{0}/service/(?P<service>[^/]+)/operation/(?P<operation>[^/]+)$"
PATH = re.compile(r"/service/(?P<service>[^/]+)/operation/(?P<operation>[^/]+)$")
# Errors of the emulator itself, not shapes of CloudWatch's model.
EMULATOR_NAMESPACE = "twin.emulator"


class RpcV2CborParser(BaseJSONParser):
    """A CBOR request body read against the operation's input shape (moto.core.parse style)."""

    def _do_parse(self, request_dict: Any, shape: Any) -> Any:
        body = request_dict["body"]
        return self._parse_shape(shape, cbor2.loads(body) if body else {})

    def _parse_shape(self, shape: Any, node: Any) -> Any:
        # The spec: CBOR `undefined` is read as null.
        return None if node is cbor2.undefined else super()._parse_shape(shape, node)

    def _parse_timestamp(self, shape: Any, value: Any) -> Any:
        # cbor2 turns tag 1 into an aware datetime; moto keeps naive UTC (see default_timestamp_parser).
        if isinstance(value, datetime):
            return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
        return default_timestamp_parser(value)

    def _parse_blob(self, shape: Any, value: Any) -> Any:
        return value  # already bytes: a CBOR byte string, not base64


class RpcV2CborSerializer(BaseJSONSerializer):
    """moto's JSON response serializer with CBOR on the wire (same shapes, same value picking)."""

    CONTENT_TYPE = CONTENT_TYPE

    def _serialize_body(self, body: Any) -> bytes:  # type: ignore[override]
        return cbor2.dumps(body)

    def _serialize_type_timestamp(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
        moment = parse_to_aware_datetime(value)
        # Epoch seconds at millisecond resolution (the spec), always a float (the Rust SDK's decoder).
        seconds = math.floor(moment.timestamp() * 1000) / 1000
        self._default_serialize(serialized, cbor2.CBORTag(1, float(seconds)), shape, key)

    def _serialize_type_blob(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
        raw = value.encode(self.DEFAULT_ENCODING) if isinstance(value, str) else bytes(value)
        self._default_serialize(serialized, raw, shape, key)

    def _serialized_result_to_response(self, resp: Any, result: Any, shape: Any, serialized_result: Any) -> Any:
        resp["headers"]["smithy-protocol"] = SMITHY_PROTOCOL
        if shape is None:
            # An operation without output: no body and no Content-Type (the spec).
            resp["body"] = b""
            return resp
        resp["body"] = self._serialize_body(serialized_result)
        resp["headers"]["Content-Type"] = CONTENT_TYPE
        return resp

    def _serialized_error_to_response(self, resp: Any, error: Any, shape: Any, serialized_error: Any) -> Any:
        resp = super()._serialized_error_to_response(resp, error, shape, serialized_error)
        # The type is in the body only (the spec: responses SHOULD NOT carry X-Amzn-ErrorType).
        resp["headers"].pop("X-Amzn-Errortype", None)
        resp["headers"]["Content-Type"] = CONTENT_TYPE
        resp["headers"]["smithy-protocol"] = SMITHY_PROTOCOL
        return resp

    def _serialize_error_metadata(self, serialized: Any, error: Exception, shape: Any) -> None:
        serialized["__type"] = f"{NAMESPACE}#{shape.name}"
        self._serialize(serialized, error, shape, "")
        message = getattr(error, "message", None) or str(error)
        if message and "message" not in serialized:
            serialized["message"] = message


class CborCloudWatchResponse(CloudWatchResponse):
    """moto's CloudWatch responses, for a request whose operation is named by its path."""

    # The body is CBOR, not text: moto must not decode it as UTF-8 or read it as a form.
    use_raw_body = True

    def _get_action(self) -> str:
        match = PATH.search(getattr(self, "path", ""))
        return match.group("operation") if match else ""


def error(status: int, type_: str, message: str) -> TYPE_RESPONSE:
    headers = {"Content-Type": CONTENT_TYPE, "smithy-protocol": SMITHY_PROTOCOL}
    return status, headers, cbor2.dumps({"__type": f"{EMULATOR_NAMESPACE}#{type_}", "message": message})


def implemented(operation: str) -> bool:
    if operation not in get_service_model("cloudwatch").operation_names:
        return False
    return camelcase_to_underscores(operation) in method_names_from_class(CloudWatchResponse)


def route(request: Any, full_url: str, headers: Any) -> TYPE_RESPONSE:
    match = PATH.search(request.path)
    service, operation = (match.group("service"), match.group("operation")) if match else ("", "")
    # The spec: the service segment is the service's shape name, or its absolute id with '.' for '#'.
    if service not in (SERVICE_NAME, f"{NAMESPACE}.{SERVICE_NAME}"):
        return error(400, "UnsupportedOperation", f"no service {service!r} here; CloudWatch is {SERVICE_NAME}")
    # The spec: an rpcv2Cbor request names its protocol, and one with X-Amz-Target is malformed.
    if request.headers.get("smithy-protocol") != SMITHY_PROTOCOL:
        return error(400, "MalformedRequest", f"an rpcv2Cbor request has the header smithy-protocol: {SMITHY_PROTOCOL}")
    if request.headers.get("X-Amz-Target") or request.headers.get("X-Amzn-Target"):
        return error(400, "MalformedRequest", "an rpcv2Cbor request must not carry X-Amz-Target")
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
    if content_type and content_type != CONTENT_TYPE:
        return error(400, "MalformedRequest", f"Content-Type must be {CONTENT_TYPE}, not {content_type}")
    if not implemented(operation):
        return error(
            400,
            "UnsupportedOperation",
            f"CloudWatch operation {operation!r} is not supported by the twin's emulator"
            " (moto implements no such operation)",
        )
    try:
        return CborCloudWatchResponse()._dispatch(request, full_url, headers)
    except cbor2.CBORDecodeError as exc:
        return error(400, "SerializationException", f"the request body is not valid CBOR: {exc}")
    except Exception as exc:  # noqa: BLE001 - a CBOR client cannot read moto's HTML error page
        return error(500, "InternalFailure", f"the emulator failed on CloudWatch {operation}: {exc!r}")


def install() -> None:
    parse.PROTOCOL_PARSERS[PROTOCOL] = RpcV2CborParser
    serialize.SERIALIZERS[PROTOCOL] = RpcV2CborSerializer
    # Routes are read when the server builds CloudWatch's app, i.e. on its first request.
    cloudwatch_urls.url_paths[ROUTE] = route
