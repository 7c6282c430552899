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
