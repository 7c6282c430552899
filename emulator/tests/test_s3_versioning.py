"""GetBucketVersioning answers under S3's root element (twin_emulator/s3_versioning.py)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator_process import clients, running_emulator


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    with running_emulator(Path(tmp_path_factory.mktemp("versioning"))) as url:
        yield url, clients(url, "us-east-1")("s3")


def raw(url: str) -> str:
    with urllib.request.urlopen(url) as answer:  # noqa: S310 - the local emulator
        return answer.read().decode()


def test_the_root_is_versioning_configuration_with_and_without_a_status(emulator: tuple[str, Any]) -> None:
    url, s3 = emulator
    s3.create_bucket(Bucket="never-configured")
    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    never = raw(f"{url}/never-configured?versioning")
    assert "<VersioningConfiguration" in never and "<Status>" not in never
    enabled = raw(f"{url}/versioned?versioning")
    assert "<VersioningConfiguration" in enabled and "<Status>Enabled</Status>" in enabled
    assert "GetBucketVersioningResponse" not in enabled
    assert s3.get_bucket_versioning(Bucket="versioned")["Status"] == "Enabled"
