//! The `lambda` step kind: the `live` alias against the current release, compared as
//! `drift.rs` compares them (`status --check`).
//!
//! Checks: `alias_version` (the version the alias serves; null without an alias),
//! `release_version` (the function version the current release recorded; null without one),
//! `routing_weights` (version → share of traffic the alias sends elsewhere; `{}` when none).
//! Findings (fail): the alias serves another version than the release recorded, or there is no
//! alias or no release to compare; any routing weight (a canary runs or was interrupted).
//! Must not: move the alias.

use std::time::Instant;

use serde_json::Value;

use super::elapsed_ms;
use crate::aws::lambda::{ALIAS, alias_routing};
use crate::drift::compare_alias;
use crate::error::Result;
use crate::release;
use crate::target::Target;
use crate::testplan::observation::{Finding, Observation};

/// Reads the `live` alias and the environment's current release (`release::current`), or the
/// release a deploy is verifying (`Target::release_under_test`).
pub async fn inspect(target: &Target) -> Result<Observation> {
    let started = Instant::now();
    let function = target.output("FunctionName")?;
    let routing = alias_routing(&target.aws.lambda(), function).await?;
    // During `deploy --verify`, the release being made is the one the alias must serve.
    let current = match &target.release_under_test {
        Some(release) => Some(release.clone()),
        None => release::current(&target.aws.s3(), target.artifacts_bucket()?, &target.name).await?,
    };
    let release_version = current.as_ref().and_then(|r| r.function.as_ref()).map(|f| f.version.clone());

    let mut observation = Observation::default();
    observation.check("alias_version", routing.as_ref().map(|r| r.version.clone()));
    observation.check("release_version", release_version.clone());
    let weights = routing.as_ref().map(|r| r.weights.clone()).unwrap_or_default();
    observation.check(
        "routing_weights",
        Value::Object(weights.iter().map(|(version, share)| (version.clone(), Value::from(*share))).collect()),
    );

    match (&routing, &current, &release_version) {
        (None, _, _) => {
            observation.findings.push(Finding::fail(format!("{function} has no {ALIAS} alias: nothing is live")));
        }
        (Some(_), None, _) | (Some(_), Some(_), None) => observation.findings.push(Finding::fail(format!(
            "no current release of {} records a function version to compare the {ALIAS} alias with",
            target.name
        ))),
        (Some(routing), Some(release), Some(_)) => {
            if let Some(drift) = compare_alias(release, Some(routing)) {
                observation.findings.push(Finding::fail(format!(
                    "{function}:{ALIAS} serves version {}, the current release {} recorded version {}",
                    drift.live_version, release.id, drift.recorded_version
                )));
            }
        }
    }
    if !weights.is_empty() {
        let shares: Vec<String> =
            weights.iter().map(|(version, share)| format!("{:.0}% to version {version}", share * 100.0)).collect();
        observation.findings.push(Finding::fail(format!(
            "{function}:{ALIAS} splits traffic: {} (a canary runs, or one was interrupted)",
            shares.join(", ")
        )));
    }
    observation.duration_ms = elapsed_ms(started);
    Ok(observation)
}
