"""The local test issuer of GitHub-like OIDC tokens, standing in for token.actions.githubusercontent.com.

GitHub's signing keys are unreachable from here, so the enforcing emulator trusts a key pair of
its own for GitHub's issuer URL instead. This module owns that key pair (created once, kept in
the emulator's state directory: `oidc-issuer.key`, private, mode 0600, and `oidc-issuer.pub`)
and the tokens signed with it: RS256 JWTs with GitHub's claim names, for `scripts/emulator token`
and tests. It verifies nothing (web_identity.py does) and must not be trusted outside the emulator.

    python -m twin_emulator.oidc_issuer token --state-dir DIR --sub repo:OWNER/REPO:environment:NAME [--aud AUD]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://token.actions.githubusercontent.com"
# What aws-actions/configure-aws-credentials asks GitHub for, and what the IAM provider lists.
DEFAULT_AUDIENCE = "sts.amazonaws.com"
LIFETIME_SECONDS = 3600
PRIVATE_KEY_FILE = "oidc-issuer.key"
PUBLIC_KEY_FILE = "oidc-issuer.pub"
KEY_ID = "twin-emulator-issuer"

# GitHub's subject forms (docs.github.com/en/actions/reference/security/oidc, "Example subject
# claims"): repo:OWNER/REPO:environment:NAME, repo:OWNER/REPO:ref:REF, repo:OWNER/REPO:pull_request.
SUBJECT = re.compile(r"^repo:(?P<repository>[^/:]+/[^:]+):(?P<kind>environment|ref|pull_request)(?::(?P<value>.+))?$")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def ensure_key_pair(state_dir: Path) -> rsa.RSAPrivateKey:
    """The issuer's private key, created on first use; concurrent starts end with the same key."""
    path = state_dir / PRIVATE_KEY_FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        temporary = state_dir / f".{PRIVATE_KEY_FILE}.{os.getpid()}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        try:
            # link, not rename: a key another process created meanwhile is kept, never replaced.
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key")
    public = state_dir / PUBLIC_KEY_FILE
    if not public.exists():
        public.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    return key


def github_claims(subject: str) -> dict[str, str]:
    """The custom claims GitHub adds that a subject of GitHub's default form implies."""
    match = SUBJECT.match(subject)
    if not match:
        return {}
    repository = match.group("repository")
    claims = {"repository": repository, "repository_owner": repository.split("/")[0]}
    if match.group("kind") == "environment" and match.group("value"):
        claims["environment"] = match.group("value")
    if match.group("kind") == "ref" and match.group("value"):
        claims["ref"] = match.group("value")
    return claims


def sign(key: rsa.RSAPrivateKey, claims: dict[str, Any]) -> str:
    header = {"alg": "RS256", "typ": "JWT", "kid": KEY_ID}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def token(
    key: rsa.RSAPrivateKey,
    subject: str,
    audience: str = DEFAULT_AUDIENCE,
    issued_at: int | None = None,
    lifetime: int = LIFETIME_SECONDS,
) -> str:
    """A token as GitHub issues one to a job of `subject` (tests pass `issued_at` to backdate it)."""
    now = int(time.time()) if issued_at is None else issued_at
    claims: dict[str, Any] = {
        "jti": str(uuid.uuid4()),
        "iss": ISSUER,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        **github_claims(subject),
    }
    return sign(key, claims)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="twin_emulator.oidc_issuer", description="the emulator's test OIDC issuer")
    commands = parser.add_subparsers(dest="command", required=True)
    minted = commands.add_parser("token", help="print a token for a subject")
    minted.add_argument("--state-dir", type=Path, required=True, help="where the issuer's key pair lives")
    minted.add_argument("--sub", required=True, help="the subject, e.g. repo:OWNER/REPO:environment:staging")
    minted.add_argument("--aud", default=DEFAULT_AUDIENCE, help=f"the audience (default {DEFAULT_AUDIENCE})")
    args = parser.parse_args(argv)
    print(token(ensure_key_pair(args.state_dir), args.sub, args.aud))
    return 0


if __name__ == "__main__":
    sys.exit(main())
