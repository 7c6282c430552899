"""One emulator subprocess per test module or session, on a free port of its own, as
`scripts/emulator start` runs it (`python -m twin_emulator`), so that tests never touch an
emulator someone else is using; and boto3 clients for it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3

EMULATOR_DIR = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_emulator(log_dir: Path, enforce_iam: bool = False) -> Iterator[str]:
    """Starts the emulator, waits until it answers, yields its URL and stops it.

    With `enforce_iam` it runs as `TWIN_EMULATOR_IAM=enforce scripts/emulator start` does, with
    `log_dir` as its state directory: the administrator's keys are in `log_dir / "admin.env"`
    (see `admin_keys`) and the test issuer's key pair beside them."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(EMULATOR_DIR))
    env.pop("TWIN_EMULATOR_IAM", None)
    if enforce_iam:
        env.update(TWIN_EMULATOR_IAM="enforce", TWIN_EMULATOR_STATE_DIR=str(log_dir))
    with open(log_dir / "emulator.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "twin_emulator", "--port", str(port)],
            cwd=EMULATOR_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    # The same readiness probe as scripts/emulator.
                    urllib.request.urlopen(f"{url}/moto-api/config", timeout=2).read()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the emulator did not start; see {log.name}")
                    time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def clients(endpoint: str, region: str) -> Callable[[str], Any]:
    """`client("s3")` etc. against the emulator at `endpoint`."""

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client


def signed_client(
    url: str, service: str, key_id: str, secret: str, token: str | None = None, region: str = "us-east-1"
) -> Any:
    """A boto3 client at `url` signing with these keys (an enforcing emulator checks them)."""
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
    )


def admin_keys(state_dir: Path) -> dict[str, str]:
    """The enforcing emulator's administrator credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)."""
    lines = (state_dir / "admin.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def admin_clients(url: str, state_dir: Path) -> Callable[[str], Any]:
    """Clients of the enforcing emulator at `url` signed as its administrator."""
    keys = admin_keys(state_dir)
    return lambda service: signed_client(url, service, keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"])


def unique(prefix: str) -> str:
    """A resource name no other test uses."""
    import uuid

    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    """An Allow statement."""
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def refusal(request: Callable[[], Any]) -> Any:
    """The ClientError that `request` raises (the test fails if it raises none)."""
    import pytest
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as raised:
        request()
    return raised.value
