"""NewerNoncurrentVersions of a lifecycle rule's NoncurrentVersionExpiration round-trips
(twin_emulator/s3_lifecycle.py)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

import twin_emulator

BUCKET = "site"


@pytest.fixture
def s3() -> Any:
    twin_emulator.install()
    with mock_aws():
        # No client-side range checks: the emulator's own answer is what is tested.
        client = boto3.client("s3", region_name="us-east-1", config=Config(parameter_validation=False))
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def rule(rule_id: str, **expiration: Any) -> dict[str, Any]:
    return {
        "ID": rule_id,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30, **expiration},
    }


def put(s3: Any, *rules: dict[str, Any]) -> None:
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": list(rules)})


def expirations(s3: Any) -> dict[str, dict[str, Any]]:
    rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    return {r["ID"]: r["NoncurrentVersionExpiration"] for r in rules}


def test_newer_noncurrent_versions_round_trips(s3: Any) -> None:
    put(s3, rule("keep-ten", NewerNoncurrentVersions=10))
    assert expirations(s3) == {"keep-ten": {"NoncurrentDays": 30, "NewerNoncurrentVersions": 10}}


def test_a_rule_without_it_comes_back_without_it(s3: Any) -> None:
    put(s3, rule("days-only"), rule("keep-one", NewerNoncurrentVersions=1), rule("keep-max", NewerNoncurrentVersions=100))
    assert expirations(s3) == {
        "days-only": {"NoncurrentDays": 30},
        "keep-one": {"NoncurrentDays": 30, "NewerNoncurrentVersions": 1},
        "keep-max": {"NoncurrentDays": 30, "NewerNoncurrentVersions": 100},
    }
    # Replacing the configuration replaces the value too.
    put(s3, rule("keep-one"))
    assert expirations(s3) == {"keep-one": {"NoncurrentDays": 30}}


@pytest.mark.parametrize("count", [0, -1, 101])
def test_a_count_outside_1_to_100_is_refused_and_the_old_configuration_stays(s3: Any, count: int) -> None:
    put(s3, rule("keep-ten", NewerNoncurrentVersions=10))
    with pytest.raises(ClientError) as refused:
        put(s3, rule("bad", NewerNoncurrentVersions=count))
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert refused.value.response["Error"]["Code"] == "InvalidArgument"
    assert expirations(s3) == {"keep-ten": {"NoncurrentDays": 30, "NewerNoncurrentVersions": 10}}


def test_a_count_that_is_not_an_integer_is_malformed(s3: Any) -> None:
    with pytest.raises(ClientError) as refused:
        put(s3, rule("bad", NewerNoncurrentVersions="ten"))
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert refused.value.response["Error"]["Code"] == "MalformedXML"


def test_the_cloudformation_shape_reaches_the_bucket(s3: Any) -> None:
    # What AWS::S3::Bucket's model hands the backend (a Number parameter arrives as an int).
    from moto.s3.models import s3_backends

    from twin_emulator.cfn_models_storage import lifecycle_rules_to_api

    template_rules = [
        {"Id": "ExpireOldSiteVersions", "Status": "Enabled",
         "NoncurrentVersionExpiration": {"NoncurrentDays": 30, "NewerNoncurrentVersions": 10}},
        {"Id": "DaysOnly", "Status": "Enabled", "NoncurrentVersionExpirationInDays": 7},
    ]
    s3_backends["123456789012"]["aws"].put_bucket_lifecycle_configuration(BUCKET, lifecycle_rules_to_api(template_rules))
    assert expirations(s3) == {
        "ExpireOldSiteVersions": {"NoncurrentDays": 30, "NewerNoncurrentVersions": 10},
        "DaysOnly": {"NoncurrentDays": 7},
    }
