"""Drift detection, absent from the emulator, is answered 501 NotImplemented (twin_emulator/cfn_drift.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator_process import clients, running_emulator


@pytest.fixture(scope="module")
def cfn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_emulator(Path(tmp_path_factory.mktemp("drift"))) as url:
        yield clients(url, "us-east-1")("cloudformation")


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        ("detect_stack_drift", {"StackName": "any"}),
        ("describe_stack_drift_detection_status", {"StackDriftDetectionId": "any"}),
        ("describe_stack_resource_drifts", {"StackName": "any"}),
    ],
)
def test_drift_operations_say_they_are_not_implemented(cfn: Any, call: str, kwargs: dict[str, str]) -> None:
    with pytest.raises(ClientError) as refused:
        getattr(cfn, call)(**kwargs)
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert error["Error"]["Code"] == "NotImplemented"
    assert "drift detection" in error["Error"]["Message"]
