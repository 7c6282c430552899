"""Who signed a request: the SigV4 access key checked and turned into an IAM principal.

Owns authentication for the enforcing emulator (iam_gate.py): reading the Authorization header,
finding the key's secret with moto's own lookup (`moto.iam.access_control.create_access_key`:
an IAM user's access key, or one STS issued for an assumed role, whose session token must match),
recomputing the signature, and describing the caller. It decides nothing about permissions.

The signature is recomputed from the headers the client says it signed (SignedHeaders), as AWS
does (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html):
the canonical path is encoded twice for every service but S3, and the payload hash is the
`x-amz-content-sha256` header when present (S3's streaming and unsigned payloads) or the body's.
Presigned URLs (credentials in the query string) are not accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import sys
from dataclasses import dataclass
from urllib.parse import quote

from botocore.utils import normalize_url_path
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.utils import utcnow
from moto.iam.access_control import CreateAccessKeyFailure, create_access_key
from moto.iam.models import get_account_id_from, iam_backends
from moto.sts.models import AssumedRole, sts_backends
from moto.utilities.utils import get_partition

from .iam_errors import Failure

ALGORITHM = "AWS4-HMAC-SHA256"
_FIELD = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]+)")


@dataclass(frozen=True)
class Credential:
    """The parts of a SigV4 Authorization header."""

    access_key_id: str
    date: str
    region: str
    service: str  # the signing name (CloudWatch's is "monitoring")
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


@dataclass(frozen=True)
class Caller:
    """The authenticated principal of a request."""

    account_id: str
    arn: str  # the user ARN, or the session ARN arn:aws:sts::ACCT:assumed-role/ROLE/SESSION
    principal_arn: str  # aws:PrincipalArn: the user, or the role a session belongs to
    principal_type: str  # aws:PrincipalType: "User" or "AssumedRole"
    user_name: str | None = None  # aws:username, for IAM users only


class AuthenticationFailure(Exception):
    def __init__(self, failure: Failure, detail: str):
        super().__init__(detail)
        self.failure = failure


def parse_authorization(header: str) -> Credential | None:
    """The credential of a SigV4 header; None when the request is not signed with SigV4."""
    if not header.startswith(ALGORITHM):
        return None
    fields = dict(_FIELD.findall(header))
    scope = fields.get("Credential", "").split("/")
    if len(scope) != 5 or "SignedHeaders" not in fields or "Signature" not in fields:
        return None
    key, date, region, service, _ = scope
    return Credential(key, date, region, service, tuple(fields["SignedHeaders"].split(";")), fields["Signature"])


def account_of(access_key_id: str, headers: object) -> str:
    """The account as moto's BaseResponse.get_current_account picks it, so both agree."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    forced = getattr(headers, "get", lambda _key: None)("x-moto-account-id")
    return str(forced) if forced else get_account_id_from(access_key_id) or DEFAULT_ACCOUNT_ID


def authenticate(
    credential: Credential, method: str, raw_path: str, raw_query: str, headers: object, body: bytes
) -> Caller:
    """The caller who signed the request, or AuthenticationFailure."""
    account_id = account_of(credential.access_key_id, headers)
    partition = get_partition(credential.region)
    try:
        key = create_access_key(account_id, partition, credential.access_key_id, headers)  # type: ignore[arg-type]
    except CreateAccessKeyFailure as failure:
        raise AuthenticationFailure(Failure.UNKNOWN_KEY, f"access key {credential.access_key_id}: {failure.reason}")
    stored = iam_backends[account_id][partition].access_keys.get(credential.access_key_id)
    if stored is not None and stored.status != "Active":
        # moto's lookup ignores a key's status; IAM refuses an inactive key as an unknown one.
        raise AuthenticationFailure(Failure.UNKNOWN_KEY, f"access key {credential.access_key_id} is inactive")
    secret = key.create_credentials().secret_key
    expected = signature(credential, secret, method, raw_path, raw_query, headers, body)
    if not hmac.compare_digest(expected, credential.signature):
        raise AuthenticationFailure(Failure.BAD_SIGNATURE, f"signature mismatch for {credential.access_key_id}")
    session = _session(account_id, partition, credential.access_key_id)
    if session is None:
        # The user's own ARN carries its path (moto's key object leaves it out).
        user = iam_backends[account_id][partition].get_user_from_access_key_id(credential.access_key_id)
        arn = str(user.arn) if user is not None else key.arn
        return Caller(account_id, arn, arn, "User", user_name=arn.rsplit("/", 1)[-1])
    if session.expiration < utcnow():
        raise AuthenticationFailure(Failure.EXPIRED, f"session {session.arn} expired at {session.expiration}Z")
    return Caller(account_id, session.arn, session.role_arn, "AssumedRole")


def _session(account_id: str, partition: str, access_key_id: str) -> AssumedRole | None:
    if not access_key_id.startswith("ASIA"):
        return None
    return sts_backends[account_id][partition].get_assumed_role_from_access_key(access_key_id)


def signature(
    credential: Credential, secret: str, method: str, raw_path: str, raw_query: str, headers: object, body: bytes
) -> str:
    canonical = canonical_request(credential, method, raw_path, raw_query, headers, body)
    amz_date = _header(headers, "x-amz-date")
    to_sign = "\n".join([ALGORITHM, amz_date, credential.scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in (credential.date, credential.region, credential.service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    computed = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if computed != credential.signature and os.environ.get("TWIN_EMULATOR_IAM_DEBUG"):
        print(f"iam: canonical request for {credential.access_key_id}:\n{canonical}", file=sys.stderr, flush=True)
    return computed


def canonical_request(
    credential: Credential, method: str, raw_path: str, raw_query: str, headers: object, body: bytes
) -> str:
    # S3 signs the path as sent; every other service signs it URI-encoded once more.
    if credential.service == "s3":
        path = raw_path or "/"
    else:
        path = quote(normalize_url_path(raw_path), safe="/~")
    canonical_headers = "".join(
        f"{name}:{' '.join(_header(headers, name).split())}\n" for name in credential.signed_headers
    )
    payload = _header(headers, "x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    signed = ";".join(credential.signed_headers)
    return "\n".join([method.upper(), path, _canonical_query(raw_query), canonical_headers, signed, payload])


def _canonical_query(raw_query: str) -> str:
    # Clients sign the query they send, already URI-encoded: only the order is canonicalised
    # (a bare key such as S3's "?versions" signs as "versions=").
    pairs = [pair.partition("=") for pair in raw_query.split("&") if pair]
    return "&".join(f"{key}={value}" for key, _, value in sorted(pairs, key=lambda p: (p[0], p[2])))


def _header(headers: object, name: str) -> str:
    value = getattr(headers, "get", lambda _key: None)(name)
    return "" if value is None else str(value)
