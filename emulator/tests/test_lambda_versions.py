"""Lambda version numbers are never reused after a version is deleted (twin_emulator/lambda_versions.py)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest
from moto import mock_aws

import twin_emulator


@pytest.fixture
def aws_lambda() -> Any:
    twin_emulator.install()
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(
            RoleName="fn",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        client = boto3.client("lambda", region_name="us-east-1")
        client.create_function(
            FunctionName="twin-api",
            Runtime="provided.al2023",
            Role=role,
            Handler="bootstrap",
            Code={"ZipFile": code("one")},
        )
        yield client


def code(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bootstrap", text)
    return buffer.getvalue()


def publish(client: Any, text: str) -> str:
    client.update_function_code(FunctionName="twin-api", ZipFile=code(text))
    return client.publish_version(FunctionName="twin-api")["Version"]


def versions(client: Any) -> list[str]:
    listed = client.list_versions_by_function(FunctionName="twin-api")["Versions"]
    return [v["Version"] for v in listed]


def test_a_deleted_versions_number_is_never_given_again(aws_lambda: Any) -> None:
    assert [publish(aws_lambda, t) for t in ("a", "b", "c")] == ["1", "2", "3"]
    aws_lambda.delete_function(FunctionName="twin-api", Qualifier="1")
    assert publish(aws_lambda, "d") == "4"
    assert versions(aws_lambda) == ["$LATEST", "2", "3", "4"]
    # Each number still names its own code.
    three = aws_lambda.get_function_configuration(FunctionName="twin-api", Qualifier="3")
    four = aws_lambda.get_function_configuration(FunctionName="twin-api", Qualifier="4")
    assert three["CodeSha256"] != four["CodeSha256"]
    assert three["Version"] == "3" and four["Version"] == "4"


def test_deleting_the_newest_version_does_not_lower_the_next_number(aws_lambda: Any) -> None:
    assert [publish(aws_lambda, t) for t in ("a", "b")] == ["1", "2"]
    aws_lambda.delete_function(FunctionName="twin-api", Qualifier="2")
    assert publish(aws_lambda, "c") == "3"


def test_an_unchanged_function_publishes_nothing_new(aws_lambda: Any) -> None:
    assert [publish(aws_lambda, t) for t in ("a", "b")] == ["1", "2"]
    aws_lambda.delete_function(FunctionName="twin-api", Qualifier="1")
    assert aws_lambda.publish_version(FunctionName="twin-api")["Version"] == "2"
    assert versions(aws_lambda) == ["$LATEST", "2"]
