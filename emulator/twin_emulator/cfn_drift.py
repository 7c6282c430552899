"""CloudFormation drift detection, which the emulator does not have, answered as such.

moto 5.2.5 has no DetectStackDrift, DescribeStackDriftDetectionStatus or
DescribeStackResourceDrifts: a call fell through to an HTML "500 Internal Server Error", which a
client must take for a transient AWS failure and retry. The emulator instead answers what it
is: HTTP 501 with a query-protocol error `NotImplemented`, so `twinctl status --drift` can say
that drift detection is unsupported here rather than failing or pretending the stack is in sync
(the error shape: CloudFormation API reference, "Common Errors").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.cloudformation.responses import CloudFormationResponse

OPERATIONS = ("detect_stack_drift", "describe_stack_drift_detection_status", "describe_stack_resource_drifts")

ERROR = """<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <Error><Type>Sender</Type><Code>NotImplemented</Code><Message>{message}</Message></Error>
  <RequestId>00000000-0000-0000-0000-000000000000</RequestId>
</ErrorResponse>"""


def _not_implemented(operation: str) -> Callable[[CloudFormationResponse], tuple[str, dict[str, Any]]]:
    # moto's call_action takes (body, headers) with the status among the headers.
    def answer(self: CloudFormationResponse) -> tuple[str, dict[str, Any]]:
        message = f"the local emulator has no CloudFormation drift detection ({operation})"
        return ERROR.format(message=message), {"status": 501, "Content-Type": "text/xml"}

    return answer


def install() -> None:
    for operation in OPERATIONS:
        setattr(CloudFormationResponse, operation, _not_implemented(operation))
