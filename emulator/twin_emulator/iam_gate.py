"""IAM enforcement in front of every service: the gate each request passes before moto sees it.

Active only when `iam_policy.enforcing()` (TWIN_EMULATOR_IAM=enforce); otherwise `install()`
changes nothing and moto authorises nothing, as before. When enforcing, moto's own coarse
authorization (INITIAL_NO_AUTH_ACTION_COUNT, resource "*" outside S3) stays off and this gate
replaces it, wrapping moto server's WSGI dispatcher so that every service and route (S3, the
query, JSON, REST and CloudWatch's CBOR protocols alike) is checked in one place:

  1. /moto-api/* passes (the emulator's own control plane: reset, config, data).
  2. An unsigned request is refused (MissingAuthenticationToken; S3: AccessDenied), except
     AssumeRoleWithWebIdentity, which web_identity.py decides.
  3. The SigV4 signature is verified and the access key resolved to a principal (iam_authn.py).
  4. The operation is found with moto's own request router; iam_requests.py turns it into the
     actions, resource ARNs and context keys AWS evaluates; iam_policy.evaluate decides each one
     for the principal's identity policies and permissions boundary (an explicit Deny wins). For
     AssumeRole the role's trust policy must allow the caller too (iam_trust.py).
  5. The first refusal answers as the service answers it (iam_errors.py), with the evaluator's
     reason naming the action and resource, and is logged to stderr.

Not evaluated in this pass: resource-based policies (bucket policies, key policies, secret
policies, Lambda function policies: none of them grants, none of them is consulted here; an
explicit Deny in a bucket policy still refuses object requests afterwards, through moto's own
check and s3_bucket_policy.py), session policies, SCPs and RCPs. Presigned URLs are refused as
unsigned, and so are requests moto would send to itself. A role's trust policy is evaluated, for
AssumeRole and AssumeRoleWithWebIdentity only. The administrator that bootstraps everything is
iam_admin.py's.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from moto.core.request import Request, determine_request_protocol
from moto.core.routing import get_service_router
from moto.core.utils import get_service_model
from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition

from . import iam_admin, iam_policy, iam_requests, web_identity
from .iam_authn import AuthenticationFailure, Caller, authenticate, parse_authorization
from .iam_errors import ErrorAnswer, Failure, Protocol, answer, failure_answer
from .iam_requests import Call, Context, Params
from .iam_trust import TrustCaller, evaluate_trust

STATE_DIR_VARIABLE = "TWIN_EMULATOR_STATE_DIR"
# A signing name that is not its service's botocore name (CloudWatch signs as "monitoring").
SIGNING_NAMES = {"monitoring": ("cloudwatch",), "apigateway": ("apigatewayv2", "apigateway")}
CBOR_PATH = re.compile(r"/service/[^/]+/operation/(?P<operation>[^/]+)$")
PASSING_PATHS = ("/moto-api", "/favicon.ico")


@dataclass(frozen=True)
class Route:
    """Which service and operation a request is, and how its errors are written."""

    service: str
    operation: str
    protocol: Protocol
    uri_params: dict[str, Any] = field(default_factory=dict)
    query_compatible: bool = False


def state_dir() -> Path:
    """Where admin.env and the issuer's key pair live (scripts/emulator passes .twin/emulator)."""
    configured = os.environ.get(STATE_DIR_VARIABLE)
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / ".twin" / "emulator"


def install() -> None:
    """When enforcing: the administrator, the trusted issuer, and the gate (idempotent)."""
    if not iam_policy.enforcing():
        return
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    state = state_dir()
    iam_admin.install(state)
    web_identity.install(state)
    if getattr(DomainDispatcherApplication.__call__, "_iam_gate", False):
        return
    dispatch = DomainDispatcherApplication.__call__

    def gated(self: Any, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return gate(environ, start_response, lambda: dispatch(self, environ, start_response))

    gated._iam_gate = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.__call__ = gated  # type: ignore[method-assign]
    print(f"iam: enforcing; the administrator's keys are in {state / iam_admin.ENV_FILE}", file=sys.stderr, flush=True)


def gate(
    environ: dict[str, Any], start_response: Callable[..., Any], forward: Callable[[], Iterable[bytes]]
) -> Iterable[bytes]:
    if str(environ.get("PATH_INFO", "")).startswith(PASSING_PATHS):
        return forward()
    body = Request(environ).get_data(cache=False)
    try:
        refusal = decide(environ, body)
    except Exception:  # noqa: BLE001 - a fault in the gate must read as a server error, never as a grant
        traceback.print_exc()
        refusal = answer(500, "InternalFailure", "the emulator's IAM gate failed; see its log", Protocol.QUERY)
    # The body was read here; moto reads it again from the start.
    environ["wsgi.input"] = io.BytesIO(body)
    if refusal is None:
        return forward()
    start_response(f"{refusal.status} {HTTPStatus(refusal.status).phrase}", refusal.headers)
    return [refusal.body]


def decide(environ: dict[str, Any], body: bytes) -> ErrorAnswer | None:
    """None when the request may proceed; else the service's refusal."""
    environ["wsgi.input"] = io.BytesIO(body)
    request = Request(environ)
    credential = parse_authorization(request.headers.get("Authorization", ""))
    if credential is None:
        return unsigned(request)
    route = identify(request, credential.service)
    if route.service == "sts" and route.operation == "AssumeRoleWithWebIdentity":
        return assume_with_web_identity(request, credential.region)
    head = request.method == "HEAD"
    try:
        caller = authenticate(
            credential, request.method, request.raw_path, _raw_query(environ), request.headers, body
        )
    except AuthenticationFailure as failure:
        print(f"iam: {route.service}:{route.operation} not authenticated: {failure}", file=sys.stderr, flush=True)
        return failure_answer(failure.failure, route.protocol, query_compatible=route.query_compatible, head=head)
    partition = get_partition(credential.region)
    values = params(request, route, body)
    call = Call(route.service, route.operation, values, credential.region, caller.account_id, partition)
    context = caller_context(caller, credential.region, str(environ.get("REMOTE_ADDR", "127.0.0.1")))
    refusal = authorize(caller, call, context)
    if refusal is None and (call.service, call.operation) == ("sts", "AssumeRole"):
        refusal = trust_refusal(caller, call, context)
    if refusal is None:
        return None
    print(f"iam: refused {caller.arn}: {refusal}", file=sys.stderr, flush=True)
    return failure_answer(Failure.REFUSED, route.protocol, refusal, query_compatible=route.query_compatible, head=head)


def caller_context(caller: Caller, region: str, source_ip: str) -> Context:
    """The context keys every request of this caller carries."""
    return {
        **iam_requests.request_context(region, source_ip),
        **iam_requests.principal_context(caller.principal_arn, caller.account_id, caller.principal_type, caller.user_name),
    }


def authorize(caller: Caller, call: Call, context: Context) -> str | None:
    """The evaluator's reason for the first refused check, or None when every check is allowed."""
    checks = iam_requests.checks(call)
    if not checks:
        return None
    try:
        principal = iam_policy.principal(caller.account_id, caller.arn)
    except iam_policy.UnknownPrincipal as unknown:
        # A session whose role was deleted since: its policies are gone, so nothing is allowed.
        first = checks[0]
        return f"User: {caller.arn} is not authorized to perform: {first.action} on resource: {first.resource}; {unknown}"
    for check in checks:
        asked = iam_policy.Request(action=check.action, resource=check.resource, context={**context, **check.context})
        decision = iam_policy.evaluate(principal, asked)
        if not decision.allowed:
            return decision.reason
    return None


def trust_refusal(caller: Caller, call: Call, context: Context) -> str | None:
    """AssumeRole also needs the role's trust policy to allow the caller. Stricter than AWS in one
    case: a same-account trust naming the caller's own ARN grants on AWS without an identity policy;
    here the identity policy must allow sts:AssumeRole too (the administrator's does)."""
    role_arn = call.params.get("RoleArn") or ""
    refused = f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    try:
        role = iam_backends[call.account_id][call.partition].get_role_by_arn(role_arn)
    except Exception:  # noqa: BLE001 - an unknown role is refused, as STS refuses it
        return refused
    names = (caller.arn, caller.principal_arn)
    trust_caller = TrustCaller(kind="AWS", account_id=caller.account_id, names=names, arn=caller.arn)
    session_keys = iam_requests.assume_role(call)[0].context
    decision = evaluate_trust(role, trust_caller, "sts:AssumeRole", {**context, **session_keys})
    if decision.allowed:
        return None
    print(f"iam: the trust policy of {role_arn} refuses {caller.arn}: {decision.reason}", file=sys.stderr, flush=True)
    return refused


def unsigned(request: Request) -> ErrorAnswer | None:
    action = request.args.get("Action") or (request.form.get("Action") if _is_form(request) else None)
    if action == "AssumeRoleWithWebIdentity":
        return assume_with_web_identity(request, "us-east-1")
    protocol = Protocol.QUERY if _is_form(request) else Protocol.S3
    print(f"iam: refused an unsigned {request.method} {request.path}", file=sys.stderr, flush=True)
    return failure_answer(Failure.UNSIGNED, protocol, head=request.method == "HEAD")


def assume_with_web_identity(request: Request, region: str) -> ErrorAnswer | None:
    values = {**request.args.to_dict(), **(request.form.to_dict() if _is_form(request) else {})}
    source_ip = str(request.environ.get("REMOTE_ADDR", "127.0.0.1"))
    refusal = web_identity.check(values, iam_requests.request_context(region, source_ip))
    if refusal is None:
        return None
    role = values.get("RoleArn")
    print(f"iam: AssumeRoleWithWebIdentity {role}: {refusal.code}: {refusal.message}", file=sys.stderr, flush=True)
    return answer(refusal.status, refusal.code, refusal.message, Protocol.QUERY)


def identify(request: Request, signing_name: str) -> Route:
    """The service and operation, as moto's own router finds them."""
    for service in SIGNING_NAMES.get(signing_name, (signing_name,)):
        try:
            model = get_service_model(service)
        except Exception:  # noqa: BLE001 - a signing name botocore does not know
            continue
        query_compatible = "awsQueryCompatible" in model.metadata
        cbor = CBOR_PATH.search(request.path)
        if service == "cloudwatch" and cbor:
            return Route(service, cbor.group("operation"), Protocol.CBOR, query_compatible=query_compatible)
        try:
            operation, uri_params = get_service_router(service).match(request)
        except Exception:  # noqa: BLE001 - NotFound, or a protocol the model lacks: try the next
            continue
        protocol = _error_protocol(service, model, request)
        return Route(service, operation.name, protocol, dict(uri_params), query_compatible)
    service = SIGNING_NAMES.get(signing_name, (signing_name,))[0]
    return Route(service, "", Protocol.S3 if service == "s3" else Protocol.QUERY)


def _error_protocol(service: str, model: Any, request: Request) -> Protocol:
    if service == "s3":
        return Protocol.S3
    try:
        wire = determine_request_protocol(model, request.content_type)
    except NotImplementedError:
        wire = str(model.protocol)
    return {
        "query": Protocol.QUERY,
        "ec2": Protocol.QUERY,
        "rest-xml": Protocol.REST_XML,
        "json": Protocol.JSON,
        "rest-json": Protocol.REST_JSON,
        "smithy-rpc-v2-cbor": Protocol.CBOR,
    }.get(wire, Protocol.QUERY)


def params(request: Request, route: Route, body: bytes) -> Params:
    """Every parameter by its wire name; later sources win (path labels last)."""
    values: dict[str, Any] = {}
    if route.protocol in (Protocol.JSON, Protocol.REST_JSON) and body:
        values.update(_json_object(body))
    if route.protocol is Protocol.CBOR and body:
        import cbor2

        decoded = cbor2.loads(body)
        values.update(decoded if isinstance(decoded, dict) else {})
    if route.protocol is Protocol.QUERY and _is_form(request):
        values.update(request.form.to_dict())
    values.update(request.args.to_dict())
    values.update(route.uri_params)
    copy_source = request.headers.get("x-amz-copy-source")
    if route.service == "s3" and copy_source:
        values["x-amz-copy-source"] = copy_source
    if (route.service, route.operation) == ("s3", "DeleteObjects"):
        # The keys it deletes are in its XML payload (member Delete), which iam_requests reads as the
        # raw bytes moto reads, aws-chunked when x-amz-content-sha256 says the SDK streamed it. Set
        # last, so that no query parameter can stand in for it.
        values["Delete"] = body
        values["x-amz-content-sha256"] = request.headers.get("x-amz-content-sha256", "")
    return Params(values)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        decoded = json.loads(body)
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _is_form(request: Request) -> bool:
    return (request.content_type or "").startswith("application/x-www-form-urlencoded")


def _raw_query(environ: dict[str, Any]) -> str:
    query = environ.get("QUERY_STRING", "")
    return query.decode("latin-1") if isinstance(query, bytes) else str(query)
