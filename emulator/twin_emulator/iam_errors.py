"""The error answers of the enforcing emulator, each in its service's wire protocol.

A refused request must read to an SDK exactly as AWS's own refusal does, or clients misreport it
(a CBOR client cannot read XML; botocore takes a rest-json error's code from X-Amzn-ErrorType).
This module owns only the encoding: which code, status and message to send is decided by the
caller (iam_gate.py, web_identity.py). It never decides whether a request is allowed.

Codes per protocol family (AWS's common errors,
https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html, and the S3 error code list,
https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html):

                       query / rest-xml       S3                   json / rest-json / rpc-v2-cbor
  refused              AccessDenied 403       AccessDenied 403     AccessDeniedException 403
  unknown access key   InvalidClientTokenId   InvalidAccessKeyId   UnrecognizedClientException 403
  bad signature        SignatureDoesNotMatch  SignatureDoesNotMatch InvalidSignatureException 403
  expired session      ExpiredToken 403       ExpiredToken 400     ExpiredTokenException 403
  unsigned             MissingAuthenticationToken 403 / S3: AccessDenied 403
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from enum import Enum
from xml.sax.saxutils import escape

import cbor2


class Protocol(Enum):
    QUERY = "query"  # ErrorResponse XML (STS, IAM, CloudFormation, CloudWatch's query)
    REST_XML = "rest-xml"  # ErrorResponse XML too (CloudFront)
    S3 = "s3"  # <Error> XML at the top level
    JSON = "json"  # {"__type", "message"} (Secrets Manager, KMS, CloudWatch's JSON)
    REST_JSON = "rest-json"  # code in X-Amzn-ErrorType (Lambda)
    CBOR = "rpc-v2-cbor"  # CloudWatch as the Rust SDK calls it


class Failure(Enum):
    REFUSED = "refused"
    UNKNOWN_KEY = "unknown-key"
    BAD_SIGNATURE = "bad-signature"
    EXPIRED = "expired"
    UNSIGNED = "unsigned"


_CODES: dict[Failure, tuple[str, str, str]] = {
    # (query/rest-xml, S3, json family)
    Failure.REFUSED: ("AccessDenied", "AccessDenied", "AccessDeniedException"),
    Failure.UNKNOWN_KEY: ("InvalidClientTokenId", "InvalidAccessKeyId", "UnrecognizedClientException"),
    Failure.BAD_SIGNATURE: ("SignatureDoesNotMatch", "SignatureDoesNotMatch", "InvalidSignatureException"),
    Failure.EXPIRED: ("ExpiredToken", "ExpiredToken", "ExpiredTokenException"),
    Failure.UNSIGNED: ("MissingAuthenticationToken", "AccessDenied", "MissingAuthenticationTokenException"),
}

# (failure, is S3) -> message
MESSAGES: dict[tuple[Failure, bool], str] = {
    (Failure.UNKNOWN_KEY, False): "The security token included in the request is invalid.",
    (Failure.UNKNOWN_KEY, True): "The AWS Access Key Id you provided does not exist in our records.",
    (Failure.BAD_SIGNATURE, False): (
        "The request signature we calculated does not match the signature you provided. Check your AWS "
        "Secret Access Key and signing method. Consult the service documentation for details."
    ),
    (Failure.BAD_SIGNATURE, True): (
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method."
    ),
    (Failure.EXPIRED, False): "The security token included in the request is expired",
    (Failure.EXPIRED, True): "The provided token has expired.",
    (Failure.UNSIGNED, False): "Missing Authentication Token",
    (Failure.UNSIGNED, True): "Access Denied",
}


@dataclass(frozen=True)
class ErrorAnswer:
    """One HTTP answer: status, headers and body, ready for a WSGI start_response."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def code_for(failure: Failure, protocol: Protocol) -> str:
    query_code, s3_code, json_code = _CODES[failure]
    if protocol is Protocol.S3:
        return s3_code
    if protocol in (Protocol.QUERY, Protocol.REST_XML):
        return query_code
    return json_code


def status_for(failure: Failure, protocol: Protocol) -> int:
    # S3 answers an expired token with 400 (its error code list); everything else here is 403.
    return 400 if (failure is Failure.EXPIRED and protocol is Protocol.S3) else 403


def failure_answer(
    failure: Failure,
    protocol: Protocol,
    message: str | None = None,
    query_compatible: bool = False,
    head: bool = False,
) -> ErrorAnswer:
    """The answer to an authentication or authorization failure."""
    code = code_for(failure, protocol)
    query_code = code_for(failure, Protocol.QUERY) if query_compatible else None
    text = message or MESSAGES.get((failure, protocol is Protocol.S3)) or MESSAGES.get((failure, False), "")
    return answer(status_for(failure, protocol), code, text, protocol, query_code=query_code, head=head)


def answer(
    status: int, code: str, message: str, protocol: Protocol, query_code: str | None = None, head: bool = False
) -> ErrorAnswer:
    """An error answer with any code (STS's web identity errors use this directly)."""
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id), ("x-amz-request-id", request_id)]
    if query_code:
        # awsQueryCompatible services (CloudWatch) carry the query protocol's code here, which
        # SDKs report as the error code.
        headers.append(("x-amzn-query-error", f"{query_code};Sender"))
    body = _body(code, message, protocol, request_id)
    headers += _content_headers(code, protocol)
    # A HEAD answer has no body (S3 answers HeadObject's 403 with headers only).
    return ErrorAnswer(status, headers, b"" if head else body)


def _content_headers(code: str, protocol: Protocol) -> list[tuple[str, str]]:
    if protocol in (Protocol.QUERY, Protocol.REST_XML, Protocol.S3):
        return [("Content-Type", "text/xml")]
    if protocol is Protocol.CBOR:
        return [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
    content_type = "application/json" if protocol is Protocol.REST_JSON else "application/x-amz-json-1.1"
    return [("Content-Type", content_type), ("X-Amzn-ErrorType", code)]


def _body(code: str, message: str, protocol: Protocol, request_id: str) -> bytes:
    if protocol is Protocol.S3:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
    if protocol in (Protocol.QUERY, Protocol.REST_XML):
        return (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
    if protocol is Protocol.CBOR:
        return cbor2.dumps({"__type": code, "message": message})
    if protocol is Protocol.REST_JSON:
        # Lambda's error bodies: {"Type": "User", "message": ...} (the type is in the header).
        return json.dumps({"Type": "User", "message": message}).encode()
    return json.dumps({"__type": code, "message": message}).encode()
