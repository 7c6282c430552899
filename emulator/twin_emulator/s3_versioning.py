"""GetBucketVersioning answered with the root element S3 uses.

moto 5.2.5 serializes GetBucketVersioning's answer generically, under a
`<GetBucketVersioningResponse>` root. S3 answers `<VersioningConfiguration>` (S3 API reference,
GetBucketVersioning, "Response Syntax"), with no `<Status>` for a bucket whose versioning was
never configured. botocore does not look at the root's name; the Rust SDK does, and refuses the
answer ("expected VersioningConfiguration"), so `twinctl verify` could not read a bucket's
versioning from the emulator.
"""

from __future__ import annotations

from typing import Any

from moto.s3.responses import S3Response

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


def get_bucket_versioning(self: S3Response) -> Any:
    status = self.backend.get_bucket_versioning(self.bucket_name)
    inner = f"<Status>{status}</Status>" if status else ""
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<VersioningConfiguration xmlns="{NAMESPACE}">{inner}</VersioningConfiguration>'
    return 200, {"Content-Type": "application/xml"}, body


def install() -> None:
    S3Response.get_bucket_versioning = get_bucket_versioning  # type: ignore[method-assign]
