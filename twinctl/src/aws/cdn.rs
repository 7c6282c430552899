//! CloudFront: invalidations, with a bounded wait. An invalidation that is still running when
//! the wait ends is not a failed deploy: CloudFront finishes it on its own, and the origin
//! already serves the new objects.
//! Must not: decide which paths changed (the site step does).

use std::time::{Duration, Instant};

use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use serde::Serialize;

use crate::aws::error::SdkContext;
use crate::error::{Error, Result};
use crate::output::Phase;

/// More changed paths than this are invalidated as `/*` (one path, one charge).
pub const COLLAPSE_ABOVE: usize = 15;

#[derive(Debug, Clone, Serialize)]
pub struct Invalidation {
    pub id: String,
    pub paths: Vec<String>,
    /// Completed within the wait; false when not waited for or still running.
    pub completed: bool,
}

/// The paths to send: the changed ones, or `/*` when there are many.
pub fn paths_for(changed: &[String]) -> Vec<String> {
    if changed.len() > COLLAPSE_ABOVE { vec!["/*".to_owned()] } else { changed.to_vec() }
}

pub async fn invalidate(
    cloudfront: &Client,
    distribution: &str,
    paths: Vec<String>,
    reference: &str,
    wait: Duration,
    phase: &Phase,
) -> Result<Invalidation> {
    let batch = InvalidationBatch::builder()
        .caller_reference(reference)
        .paths(
            Paths::builder()
                .quantity(paths.len() as i32)
                .set_items(Some(paths.clone()))
                .build()
                .map_err(|e| Error::Internal(e.into()))?,
        )
        .build()
        .map_err(|e| Error::Internal(e.into()))?;
    let created = cloudfront
        .create_invalidation()
        .distribution_id(distribution)
        .invalidation_batch(batch)
        .send()
        .await
        .sdk_context(|| format!("failed to invalidate {distribution}"))?;
    let id = created.invalidation().map(|i| i.id().to_owned()).unwrap_or_default();
    let started = Instant::now();
    loop {
        if started.elapsed() >= wait {
            return Ok(Invalidation { id, paths, completed: false });
        }
        let status = cloudfront
            .get_invalidation()
            .distribution_id(distribution)
            .id(&id)
            .send()
            .await
            .sdk_context(|| format!("failed to read invalidation {id}"))?
            .invalidation()
            .map(|i| i.status().to_owned())
            .unwrap_or_default();
        // AWS says "Completed"; the emulator says "COMPLETED".
        if status.eq_ignore_ascii_case("completed") {
            return Ok(Invalidation { id, paths, completed: true });
        }
        phase.message(format!("invalidation {id}: {status} ({:.0}s)", started.elapsed().as_secs_f64()));
        tokio::time::sleep(Duration::from_secs(2).min(wait.saturating_sub(started.elapsed()))).await;
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationOutput;
    use aws_sdk_cloudfront::operation::get_invalidation::GetInvalidationOutput;
    use aws_sdk_cloudfront::types::Invalidation as Cf;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;
    use crate::output::{OutputFormat, Printer};

    fn invalidation(status: &str) -> Cf {
        Cf::builder()
            .id("I123")
            .status(status)
            .create_time(aws_smithy_types::DateTime::from_secs(0))
            .invalidation_batch(
                InvalidationBatch::builder()
                    .caller_reference("r")
                    .paths(Paths::builder().quantity(1).items("/").build().expect("paths"))
                    .build()
                    .expect("batch"),
            )
            .build()
            .expect("invalidation")
    }

    #[tokio::test]
    async fn a_wait_that_runs_out_is_reported_not_failed() {
        let created = mock!(Client::create_invalidation)
            .then_output(|| CreateInvalidationOutput::builder().invalidation(invalidation("InProgress")).build());
        let pending = mock!(Client::get_invalidation)
            .sequence()
            .output(|| GetInvalidationOutput::builder().invalidation(invalidation("InProgress")).build())
            .repeatedly()
            .build();
        let cloudfront = mock_client!(aws_sdk_cloudfront, RuleMode::Sequential, &[&created, &pending]);
        let phase = Printer::new(OutputFormat::Text, true, 0).phase("cdn");
        let result = invalidate(&cloudfront, "E1", vec!["/".into()], "r", Duration::from_millis(30), &phase)
            .await
            .expect("not a failure");
        assert_eq!(result.id, "I123");
        assert!(!result.completed);
    }

    #[test]
    fn many_paths_collapse_to_one_wildcard() {
        let few: Vec<String> = (0..COLLAPSE_ABOVE).map(|i| format!("/{i}.html")).collect();
        assert_eq!(paths_for(&few), few);
        let many: Vec<String> = (0..=COLLAPSE_ABOVE).map(|i| format!("/{i}.html")).collect();
        assert_eq!(paths_for(&many), ["/*"]);
    }
}
