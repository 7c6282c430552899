//! The executors of `twinctl verify`'s step kinds, one module per kind: each is a plain async
//! function over plain values (a target, a URL, a bucket, a role) that returns what it saw as an
//! [`Observation`] — named facts in `checks`, the kind's own verdicts in `findings`.
//!
//! A fact the endpoint cannot establish is never a silent pass: where the emulator lacks an
//! operation, the check is `null` and a Warn finding says so (`unanswered`).
//! Must not: read plans, render templates or decide a step's outcome (the runner does, with the
//! plan's `expect`); change anything in AWS.

pub mod http;
pub mod https;
pub mod iam;
pub mod lambda;
pub mod monitoring;
pub mod s3;
pub mod secrets;

use std::time::Instant;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::aws::error::{is_internal_server_error, is_not_implemented};
use crate::target::Target;
use crate::testplan::observation::{Finding, Observation};

/// The call failed because the emulator lacks the operation (a 501 / NotImplemented, or plain
/// moto's HTML 500 for an action it does not implement). Against AWS a 500 stays an error.
pub(crate) fn emulator_cannot_answer<E: ProvideErrorMetadata>(
    target: &Target,
    error: &SdkError<E, HttpResponse>,
) -> bool {
    target.aws.is_emulator() && (is_not_implemented(error) || is_internal_server_error(error))
}

/// Records `check` as established (`Some`), or as `null` with a Warn finding naming the
/// operation the emulator cannot answer (`None`).
pub(crate) fn record(observation: &mut Observation, check: &str, operation: &str, value: Option<serde_json::Value>) {
    match value {
        Some(value) => observation.check(check, value),
        None => unanswered(observation, check, operation),
    }
}

/// `check` is `null`: the emulator cannot answer `operation`, so the fact is not established.
pub(crate) fn unanswered(observation: &mut Observation, check: &str, operation: &str) {
    observation.check(check, serde_json::Value::Null);
    observation.findings.push(Finding::warn(format!(
        "{check}: the emulator cannot answer {operation}, so this is not checked here (it is on AWS)"
    )));
}

/// Milliseconds since `started`.
pub(crate) fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
