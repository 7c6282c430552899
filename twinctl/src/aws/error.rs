//! SDK errors: one helper gives every failed call its context ("failed to <verb> <noun>: <the
//! SDK's whole chain>"), and named predicates classify errors the same way everywhere.
//!
//! Must not: decide what an error means for a command (absent, retry, fail): callers do, by
//! name, with these predicates.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::error::{Error, Result};

/// Adds context to a failed SDK call; the result is an internal error (exit 2).
pub trait SdkContext<T> {
    fn sdk_context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E> SdkContext<T> for std::result::Result<T, SdkError<E, HttpResponse>>
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    fn sdk_context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| {
            let text = DisplayErrorContext(&e).to_string();
            if is_missing_credentials(&text) {
                return missing_credentials();
            }
            if is_access_denied(&e) {
                return access_denied(what(), &text);
            }
            Error::Internal(anyhow::anyhow!("{}: {text}", what()))
        })
    }
}

/// The SDK reports an empty credential chain as a dispatch failure; only its text tells.
pub(crate) fn is_missing_credentials(text: &str) -> bool {
    text.contains("CredentialsNotLoaded") || text.contains("no providers in chain provided credentials")
}

pub(crate) fn missing_credentials() -> Error {
    Error::user_with_hint(
        "no AWS credentials found",
        "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or pass --profile",
    )
}

/// IAM refused the call. AWS's message names the principal, the action and the resource
/// ("User: … is not authorized to perform: s3:PutObject on resource: … because no identity-based
/// policy allows the s3:PutObject action"; IAM user guide, "Troubleshoot access denied error
/// messages"); the code is `AccessDenied` on S3 and query APIs, `AccessDeniedException` on JSON ones.
pub fn is_access_denied<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    matches!(error.code(), Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation"))
}

/// The caller can fix a denial (other credentials, or the role's policy): exit 1, with the
/// whole AWS message, since it names the missing action.
fn access_denied(what: String, text: &str) -> Error {
    Error::user_with_hint(
        format!("{what}: {text}"),
        "the credentials in use lack this permission. CI roles get exactly the actions twinctl declares \
         (twinctl/src/aws/permissions.rs) from `twinctl bootstrap <env>`; rerun it after upgrading twinctl",
    )
}

fn status<E>(error: &SdkError<E, HttpResponse>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}

/// The thing named does not exist: a missing key, bucket, function, alias, stack, distribution.
/// HEAD requests carry no error body, so a bare 404 counts too. CloudFormation says a stack is
/// missing with a ValidationError whose message ends "does not exist" (DescribeStacks API reference).
pub fn is_not_found<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    matches!(
        error.code(),
        Some(
            "NotFound"
                | "NoSuchKey"
                | "NoSuchBucket"
                | "NoSuchVersion"
                | "ResourceNotFoundException"
                | "NoSuchDistribution"
                | "NoSuchInvalidation"
        )
    ) || status(error) == Some(404)
        || (error.code() == Some("ValidationError") && error.message().is_some_and(|m| m.contains("does not exist")))
}

/// AWS asked us to slow down; the call may be retried after a pause.
pub fn is_throttling<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    matches!(
        error.code(),
        Some(
            "Throttling"
                | "ThrottlingException"
                | "ThrottledException"
                | "TooManyRequestsException"
                | "RequestLimitExceeded"
                | "RequestThrottled"
                | "SlowDown"
        )
    ) || status(error) == Some(429)
}

/// A conditional request (`If-Match`, `If-None-Match`) lost: 412, or S3's 409
/// ConditionalRequestConflict when another conditional write was in flight
/// (S3 user guide, "Conditional requests").
pub fn is_precondition_failed<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    matches!(status(error), Some(412 | 409)) || matches!(error.code(), Some("PreconditionFailed"))
}

/// The endpoint does not implement the operation: 501, or an unknown-action code (the emulator
/// answers operations moto lacks this way; `twin_emulator/cfn_drift.py`). Plain moto answers an
/// action it lacks with an HTML 500, which only a caller that knows it talks to the emulator may
/// read the same way.
pub fn is_not_implemented<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    status(error) == Some(501)
        || matches!(error.code(), Some("NotImplemented" | "InvalidAction" | "UnknownOperationException"))
}

/// The service failed on its side (500).
pub fn is_internal_server_error<E>(error: &SdkError<E, HttpResponse>) -> bool {
    status(error) == Some(500)
}

/// The request named something malformed: S3 answers 400 `InvalidArgument` to a version id that
/// is not one of its own ("Invalid version id specified"); a HEAD carries no error body, so
/// there the bare 400 tells.
pub fn is_invalid_argument<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    error.code() == Some("InvalidArgument") || status(error) == Some(400)
}
