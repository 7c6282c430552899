"""A locally run function gets its execution role's session, as Lambda gives it
(twin_emulator/lambda_credentials.py), and under enforcement is held to that role's policies."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator_process import admin_keys, running_emulator, signed_client

REGION = "us-east-1"
TRUST_LAMBDA = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def client(url: str, service: str, keys: dict[str, str]) -> Any:
    return signed_client(
        url, service, keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"], keys.get("AWS_SESSION_TOKEN"), REGION
    )


def zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bootstrap", "#!/bin/sh\n")
    return buffer.getvalue()


def ask(url: str, body: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/moto-api/twin/lambda/credentials", data=json.dumps(body).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


@pytest.fixture(scope="module")
def enforcing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    state = tmp_path_factory.mktemp("lambda-credentials")
    with running_emulator(state, enforce_iam=True) as url:
        yield url, admin_keys(state)


def test_the_function_runs_as_its_role_and_only_with_its_roles_grants(
    enforcing: tuple[str, dict[str, str]],
) -> None:
    url, admin = enforcing
    s3 = client(url, "s3", admin)
    for bucket in ("its-memory", "someone-elses"):
        s3.create_bucket(Bucket=bucket)
    iam = client(url, "iam", admin)
    role = iam.create_role(RoleName="twin-fn", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]["Arn"]
    iam.put_role_policy(
        RoleName="twin-fn",
        PolicyName="memory",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::its-memory"}],
            }
        ),
    )
    function = client(url, "lambda", admin).create_function(
        FunctionName="twin-api", Runtime="provided.al2023", Role=role, Handler="bootstrap", Code={"ZipFile": zipped()}
    )
    version = client(url, "lambda", admin).publish_version(FunctionName="twin-api")["FunctionArn"]

    for name in (function["FunctionName"], version):
        status, answer = ask(url, {"FunctionName": name, "Region": REGION})
        assert status == 200, answer
        assert answer["RoleArn"] == role
        keys = {
            "AWS_ACCESS_KEY_ID": answer["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": answer["SecretAccessKey"],
            "AWS_SESSION_TOKEN": answer["SessionToken"],
        }
        identity = client(url, "sts", keys).get_caller_identity()
        assert identity["Arn"].endswith(":assumed-role/twin-fn/twin-api"), identity
        as_function = client(url, "s3", keys)
        as_function.list_objects_v2(Bucket="its-memory")
        with pytest.raises(ClientError) as refused:
            as_function.list_objects_v2(Bucket="someone-elses")
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        assert "s3:ListBucket" in refused.value.response["Error"]["Message"]


def test_an_unknown_function_gets_nothing(enforcing: tuple[str, dict[str, str]]) -> None:
    url, _ = enforcing
    status, answer = ask(url, {"FunctionName": "no-such-function", "Region": REGION})
    assert status == 404
    assert "no-such-function" in answer["Error"]


def test_only_post_is_answered(enforcing: tuple[str, dict[str, str]]) -> None:
    url, _ = enforcing
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{url}/moto-api/twin/lambda/credentials", timeout=10)
    assert refused.value.code == 405
