"""ScheduleKeyDeletion and CancelKeyDeletion as AWS KMS answers them.

moto 5.2.5 looks the key up by the raw KeyId it was given, so a key ARN (which the API accepts:
"Specify the key ID or key ARN of the KMS key", AWS KMS API reference, ScheduleKeyDeletion)
crashes it with an HTTP 500. It also reschedules a key already pending deletion, where KMS
refuses with KMSInvalidStateException ("... is pending deletion"), and accepts a waiting period
outside 7-30 days without a word. `twinctl destroy --delete-data` schedules the deletion by ARN
and treats "pending deletion" as done on a rerun, so both matter.
"""

from __future__ import annotations

from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.kms.models import KmsBackend


class KMSInvalidStateException(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("KMSInvalidStateException", message)


class ValidationException(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("ValidationException", message)


_original_schedule = KmsBackend.schedule_key_deletion
_original_cancel = KmsBackend.cancel_key_deletion


def schedule_key_deletion(self: KmsBackend, key_id: str, pending_window_in_days: int) -> Any:
    resolved = self.any_id_to_key_id(key_id)
    key = self.keys[resolved]
    if not 7 <= int(pending_window_in_days) <= 30:
        raise ValidationException(
            f"1 validation error detected: Value '{pending_window_in_days}' at 'pendingWindowInDays' failed to "
            "satisfy constraint: Member must have value between 7 and 30"
        )
    if key.key_state == "PendingDeletion":
        raise KMSInvalidStateException(f"{key.arn} is pending deletion.")
    return _original_schedule(self, resolved, pending_window_in_days)


def cancel_key_deletion(self: KmsBackend, key_id: str) -> Any:
    return _original_cancel(self, self.any_id_to_key_id(key_id))


def install() -> None:
    KmsBackend.schedule_key_deletion = schedule_key_deletion  # type: ignore[method-assign]
    KmsBackend.cancel_key_deletion = cancel_key_deletion  # type: ignore[method-assign]
