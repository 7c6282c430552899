"""scripts/emulator with IAM enforcement: an ordinary and an enforcing emulator side by side.

Runs the script as a developer or scripts/test does, on ports of its own (4602 enforcing, 4603
ordinary), so the emulators on the default ports are never touched; the state directory is the
checkout's .twin/emulator (admin.env and the test issuer's key pair are shared by design).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator_process import EMULATOR_DIR

ROOT = EMULATOR_DIR.parent
SCRIPT = ROOT / "scripts" / "emulator"
STATE = ROOT / ".twin" / "emulator"
ENFORCING_PORT = "4602"
ORDINARY_PORT = "4603"


def run(*args: str, port: str | None = None, enforce: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TWIN_EMULATOR_IAM", "TWIN_EMULATOR_PORT")}
    if port:
        env["TWIN_EMULATOR_PORT"] = port
    if enforce:
        env["TWIN_EMULATOR_IAM"] = "enforce"
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def emulators() -> Iterator[None]:
    for port in (ENFORCING_PORT, ORDINARY_PORT):
        if run("status", port=port).returncode == 0:
            pytest.fail(f"an emulator already runs on {port}; stop it with TWIN_EMULATOR_PORT={port} scripts/emulator stop")
    try:
        started = run("start", port=ENFORCING_PORT, enforce=True)
        assert started.returncode == 0, started.stderr
        assert "administrator credentials" in started.stderr
        started = run("start", port=ORDINARY_PORT)
        assert started.returncode == 0, started.stderr
        yield
    finally:
        run("stop", port=ENFORCING_PORT)
        run("stop", port=ORDINARY_PORT)
    for port in (ENFORCING_PORT, ORDINARY_PORT):
        assert run("status", port=port).returncode == 3


def keys() -> dict[str, str]:
    lines = (STATE / "admin.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def client(port: str, service: str, key_id: str, secret: str, token: str | None = None) -> Any:
    return boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
    )


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_both_run_with_files_of_their_own(emulators: None) -> None:
    for port in (ENFORCING_PORT, ORDINARY_PORT):
        status = run("status", port=port)
        assert status.returncode == 0 and f"running on http://127.0.0.1:{port}" in status.stdout
        assert (STATE / f"emulator-{port}.pid").exists()
        assert (STATE / f"emulator-{port}.log").exists()


def test_the_enforcing_one_writes_admin_env_privately(emulators: None) -> None:
    assert (STATE / "admin.env").stat().st_mode & 0o777 == 0o600
    admin = keys()
    assert set(admin) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    identity = client(ENFORCING_PORT, "sts", admin["AWS_ACCESS_KEY_ID"], admin["AWS_SECRET_ACCESS_KEY"]).get_caller_identity()
    assert identity["Arn"].endswith(":user/twin-emulator-admin")
    env = run("env", port=ENFORCING_PORT, enforce=True).stdout
    assert f"export AWS_ACCESS_KEY_ID={admin['AWS_ACCESS_KEY_ID']}" in env
    assert "export AWS_ACCESS_KEY_ID=testing" in run("env", port=ORDINARY_PORT).stdout


def test_only_the_enforcing_one_refuses_unknown_credentials(emulators: None) -> None:
    client(ORDINARY_PORT, "s3", "testing", "testing").list_buckets()
    with pytest.raises(ClientError) as raised:
        client(ENFORCING_PORT, "s3", "testing", "testing").list_buckets()
    assert raised.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_reset_keeps_the_administrator(emulators: None) -> None:
    before = keys()
    assert run("reset", port=ENFORCING_PORT, enforce=True).returncode == 0
    assert keys() == before
    client(ENFORCING_PORT, "s3", before["AWS_ACCESS_KEY_ID"], before["AWS_SECRET_ACCESS_KEY"]).list_buckets()


def test_token_prints_a_github_like_token_the_enforcing_one_accepts(emulators: None) -> None:
    printed = run("token", "--sub", "repo:octo/twin:environment:staging")
    assert printed.returncode == 0, printed.stderr
    token = printed.stdout.strip()
    claims = claims_of(token)
    assert claims["iss"] == "https://token.actions.githubusercontent.com"
    assert claims["aud"] == "sts.amazonaws.com"
    assert claims["sub"] == "repo:octo/twin:environment:staging"
    assert claims["repository"] == "octo/twin" and claims["environment"] == "staging"
    assert claims["exp"] - claims["iat"] == 3600
    assert claims_of(run("token", "--sub", "s", "--aud", "custom").stdout.strip())["aud"] == "custom"

    admin = keys()
    iam = client(ENFORCING_PORT, "iam", admin["AWS_ACCESS_KEY_ID"], admin["AWS_SECRET_ACCESS_KEY"])
    provider = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    if provider not in [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]:
        iam.create_open_id_connect_provider(
            Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["0" * 40]
        )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {"token.actions.githubusercontent.com:sub": claims["sub"]}},
            }
        ],
    }
    role = iam.create_role(RoleName=f"script-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument=json.dumps(trust))
    sts = boto3.client(
        "sts", endpoint_url=f"http://127.0.0.1:{ENFORCING_PORT}", region_name="us-east-1", config=Config(signature_version=UNSIGNED)
    )
    answer = sts.assume_role_with_web_identity(RoleArn=role["Role"]["Arn"], RoleSessionName="job", WebIdentityToken=token)
    assert answer["AssumedRoleUser"]["Arn"].endswith(f"assumed-role/{role['Role']['RoleName']}/job")


def test_the_key_pair_stays_private(emulators: None) -> None:
    assert (STATE / "oidc-issuer.key").stat().st_mode & 0o777 == 0o600
    assert Path(STATE / "oidc-issuer.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
