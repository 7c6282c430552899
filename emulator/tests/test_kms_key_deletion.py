"""ScheduleKeyDeletion as AWS KMS answers it (twin_emulator/kms_key_deletion.py): by key ARN,
within 7-30 days, and refused while the key is already pending deletion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator_process import clients, running_emulator


@pytest.fixture(scope="module")
def kms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_emulator(Path(tmp_path_factory.mktemp("kms"))) as url:
        yield clients(url, "us-east-1")("kms")


def test_a_key_arn_schedules_the_deletion_and_a_second_request_is_refused(kms: Any) -> None:
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    scheduled = kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    assert scheduled["DeletionDate"]
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    with pytest.raises(ClientError) as refused:
        kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    assert refused.value.response["Error"]["Code"] == "KMSInvalidStateException"
    assert "pending deletion" in refused.value.response["Error"]["Message"]
    kms.cancel_key_deletion(KeyId=arn)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Disabled"


def test_a_waiting_period_outside_7_to_30_days_is_refused(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as refused:
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=6)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
