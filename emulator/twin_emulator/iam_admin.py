"""The enforcing emulator's administrator: an IAM user allowed everything, with stable keys.

Under enforcement nothing works without credentials IAM knows, so someone has to exist before
the first request: this module owns that principal (user `twin-emulator-admin` in moto's default
account, inline policy Allow `*` on `*`), its keys in `admin.env` (KEY=value lines,
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, mode 0600, in the emulator's state directory) and
its survival of `/moto-api/reset`, which otherwise forgets every IAM user. The keys are read back
from admin.env when it exists, so they stay the same across restarts, resets, and emulators
started from one checkout on other ports.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import IAMBackend, iam_backends

USER_NAME = "twin-emulator-admin"
POLICY_NAME = "administrator"
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
ENV_FILE = "admin.env"
# IAM user access key ids are "AKIA" and 16 more of these (moto's key lookup expects 20 characters).
_KEY_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "/+"

_keys: AdminKeys | None = None


@dataclass(frozen=True)
class AdminKeys:
    access_key_id: str
    secret_access_key: str


def load_or_create_keys(state_dir: Path) -> AdminKeys:
    """The keys in admin.env, written first (atomically, mode 0600) when absent or unreadable."""
    path = state_dir / ENV_FILE
    existing = _read(path)
    if existing:
        return existing
    keys = AdminKeys(
        "AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)),
        "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40)),
    )
    state_dir.mkdir(parents=True, exist_ok=True)
    temporary = state_dir / f".{ENV_FILE}.{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"AWS_ACCESS_KEY_ID={keys.access_key_id}\nAWS_SECRET_ACCESS_KEY={keys.secret_access_key}\n")
    try:
        # link, not rename: an emulator starting at the same time keeps the keys the other wrote.
        os.link(temporary, path)
    except FileExistsError:
        return _read(path) or keys
    finally:
        temporary.unlink()
    return keys


def _read(path: Path) -> AdminKeys | None:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    values = dict(line.split("=", 1) for line in lines if "=" in line)
    key_id, secret = values.get("AWS_ACCESS_KEY_ID", "").strip(), values.get("AWS_SECRET_ACCESS_KEY", "").strip()
    if len(key_id) == 20 and key_id.isalnum() and key_id.isupper() and secret:
        return AdminKeys(key_id, secret)
    return None


def _backend() -> IAMBackend:
    return iam_backends[DEFAULT_ACCOUNT_ID]["aws"]


def ensure_admin() -> None:
    """Creates the administrator (idempotent): after start and after every reset."""
    if _keys is None:
        return
    backend = _backend()
    if USER_NAME not in backend.users:
        backend.create_user(region_name="us-east-1", user_name=USER_NAME)
    backend.put_user_policy(USER_NAME, POLICY_NAME, json.dumps(POLICY))
    if _keys.access_key_id in backend.access_keys:
        return
    # moto generates key ids; ours must be the ones in admin.env, so the generated key is renamed.
    key = backend.create_access_key(USER_NAME)
    del backend.access_keys[key.access_key_id]
    key.access_key_id = _keys.access_key_id
    key.secret_access_key = _keys.secret_access_key
    backend.access_keys[key.access_key_id] = key


def _reset_then_restore_admin(original: Any) -> Any:
    def reset(self: Any) -> None:
        original(self)
        ensure_admin()

    return reset


def install(state_dir: Path) -> AdminKeys:
    """Creates the administrator now and again after each /moto-api/reset."""
    global _keys
    from moto.moto_api._internal.models import MotoAPIBackend

    _keys = load_or_create_keys(state_dir)
    ensure_admin()
    # /moto-api/reset calls moto_api_backend.reset() at request time: patching the class reaches it.
    if not getattr(MotoAPIBackend.reset, "_keeps_admin", False):
        MotoAPIBackend.reset = _reset_then_restore_admin(MotoAPIBackend.reset)  # type: ignore[method-assign]
        MotoAPIBackend.reset._keeps_admin = True  # type: ignore[attr-defined]
    return _keys
