"""AssumeRoleWithWebIdentity as STS checks it, for tokens of the emulator's test issuer.

Owns the decision on a web identity request before moto's STS issues the credentials (which it
does without any check). AssumeRoleWithWebIdentity is unsigned: the token is the credential
(https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html). In the
order STS applies them:

  1. the token is a JWT whose issuer (`iss`) has an IAM OIDC provider in the role's account
     (arn:aws:iam::ACCT:oidc-provider/HOST/PATH), else InvalidIdentityToken;
  2. its RS256 signature verifies with the issuer's key, else InvalidIdentityToken. The only
     issuer trusted is https://token.actions.githubusercontent.com, with the local test key pair
     (oidc_issuer.py) standing in for GitHub's keys, which are unreachable here;
  3. it has not expired (`exp`), else ExpiredTokenException;
  4. its audience (`aud`) is in the provider's client id list, else InvalidIdentityToken;
  5. the role's trust policy allows sts:AssumeRoleWithWebIdentity for principal
     {"Federated": PROVIDER_ARN} with the token's claims as context keys, else AccessDenied
     "Not authorized to perform sts:AssumeRoleWithWebIdentity" (403).
Error codes and statuses are STS's (its service model: InvalidIdentityToken 400,
ExpiredTokenException 400, AccessDenied 403).

Context keys ("Available keys for AWS OIDC federation",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif):
PROVIDER:aud and PROVIDER:sub (PROVIDER is the issuer URL without https://; with an `azp` claim,
:aud is azp and :oaud the aud), and since 2026 GitHub's own claims as PROVIDER:actor, :actor_id,
:job_workflow_ref, :repository, :repository_id, :workflow, :ref, :environment, :enterprise_id
(https://aws.amazon.com/about-aws/whats-new/2026/01/aws-sts-supports-validation-identity-provider-claims/);
aws:FederatedProvider (the provider's ARN) and sts:RoleSessionName.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from moto.iam.models import iam_backends

from . import oidc_issuer
from .iam_requests import Context
from .iam_trust import TrustCaller, evaluate_trust

ACTION = "sts:AssumeRoleWithWebIdentity"
GITHUB_CLAIMS = (
    "actor",
    "actor_id",
    "job_workflow_ref",
    "repository",
    "repository_id",
    "workflow",
    "ref",
    "environment",
    "enterprise_id",
)

_trusted: dict[str, rsa.RSAPublicKey] = {}


@dataclass(frozen=True)
class Refusal:
    """STS's answer to a web identity request it refuses."""

    status: int
    code: str
    message: str


def install(state_dir: Path) -> None:
    """Trusts the local issuer's key for GitHub's issuer URL (the key pair is created if absent)."""
    _trusted[oidc_issuer.ISSUER] = oidc_issuer.ensure_key_pair(state_dir).public_key()


def invalid(message: str) -> Refusal:
    return Refusal(400, "InvalidIdentityToken", message)


def denied() -> Refusal:
    return Refusal(403, "AccessDenied", f"Not authorized to perform {ACTION}")


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes] | None:
    """(header, claims, signing input, signature) of a compact JWS, or None when malformed."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(oidc_issuer.b64url_decode(parts[0]))
        claims = json.loads(oidc_issuer.b64url_decode(parts[1]))
        signature = oidc_issuer.b64url_decode(parts[2])
    except ValueError:
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def signature_verifies(issuer: str, header: dict[str, Any], signing_input: bytes, signature: bytes) -> bool:
    key = _trusted.get(issuer)
    if key is None or header.get("alg") != "RS256":
        return False
    try:
        key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def provider_host(issuer: str) -> str:
    return issuer.removeprefix("https://").rstrip("/")


def audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return [str(a) for a in aud] if isinstance(aud, list) else [str(aud)] if aud is not None else []


def claim_context(host: str, claims: dict[str, Any], provider_arn: str, session_name: str | None) -> Context:
    """The token's claims as the condition keys STS offers a trust policy."""
    context: Context = {f"{host}:sub": [str(claims.get("sub", ""))]}
    if claims.get("azp"):
        context[f"{host}:aud"] = [str(claims["azp"])]
        context[f"{host}:oaud"] = audiences(claims)
    else:
        context[f"{host}:aud"] = audiences(claims)
    for claim in GITHUB_CLAIMS:
        if claims.get(claim) is not None:
            context[f"{host}:{claim}"] = [str(claims[claim])]
    context["aws:FederatedProvider"] = [provider_arn]
    if session_name:
        context["sts:RoleSessionName"] = [session_name]
    return context


def check(params: dict[str, str], base_context: Context) -> Refusal | None:
    """None when STS would issue credentials for this request; else its refusal."""
    role_arn = params.get("RoleArn", "")
    decoded = decode(params.get("WebIdentityToken", ""))
    if decoded is None:
        return invalid("The web identity token that was passed could not be validated by AWS: not a JWT.")
    header, claims, signing_input, signature = decoded
    issuer = str(claims.get("iss", ""))
    arn_parts = role_arn.split(":")
    if len(arn_parts) < 6 or arn_parts[2] != "iam" or not arn_parts[4]:
        return denied()
    partition, account_id = arn_parts[1], arn_parts[4]
    backend = iam_backends[account_id][partition]
    provider_arn = f"arn:{partition}:iam::{account_id}:oidc-provider/{provider_host(issuer)}"
    provider = backend.open_id_providers.get(provider_arn)
    if provider is None:
        return invalid(f"No OpenIDConnect provider found in your account for {issuer}")
    if not signature_verifies(issuer, header, signing_input, signature):
        return invalid("The web identity token that was passed could not be validated by AWS: bad signature.")
    now = int(time.time())
    expires = claims.get("exp")
    if not isinstance(expires, (int, float)) or expires <= now:
        return Refusal(
            400,
            "ExpiredTokenException",
            f"Token expired: current date/time {now} must be before the expiration date/time {expires}",
        )
    if not set(audiences(claims)) & set(provider.client_id_list):
        return invalid("Incorrect token audience")
    try:
        role = backend.get_role_by_arn(role_arn)
    except Exception:  # noqa: BLE001 - an unknown role is refused as STS refuses it, without detail
        return denied()
    session_name = params.get("RoleSessionName")
    context = {**base_context, **claim_context(provider_host(issuer), claims, provider_arn, session_name)}
    caller = TrustCaller(kind="Federated", account_id=account_id, names=(provider_arn,), arn=provider_arn)
    decision = evaluate_trust(role, caller, ACTION, context)
    if not decision.allowed:
        # STS names no reason; the emulator's log does.
        print(f"iam: {claims.get('sub')} may not assume {role_arn}: {decision.reason}", file=sys.stderr, flush=True)
        return denied()
    return None
