//! One deadline per request, so that a slow model ends as `503 model_unavailable` with
//! Retry-After from us, never as a timeout from API Gateway (504) or CloudFront.
//!
//! The chain, tightest first (each checked by `runtime/tests/timeout_chain.rs` against
//! templates/twin.yaml): this deadline — Lambda's own deadline for the invocation (from the
//! context) less [`ANSWER_MARGIN`] to store the turn and answer, or `REQUEST_TIMEOUT_SECS` in
//! the local server — then the function's Timeout, then the API Gateway integration's 30 s
//! maximum, then CloudFront's origin read timeout. Model attempts and retries all fit inside.
//!
//! Owns: the task-local deadline a request runs under. Must not: decide what a timeout answers.

use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Kept back from Lambda's deadline: storing the turn in S3 and sending the answer.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(1500);

/// Runs `work` with `deadline` as the request's deadline.
pub async fn within<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// The current request's deadline; None outside a request.
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

/// Time left before the current request's deadline (None: no deadline).
pub fn remaining() -> Option<Duration> {
    current().map(|deadline| deadline.saturating_duration_since(Instant::now()))
}

/// The deadline for an invocation Lambda ends at `invocation_deadline` (wall clock).
pub fn for_invocation(invocation_deadline: SystemTime) -> Instant {
    let left = invocation_deadline.duration_since(SystemTime::now()).unwrap_or_default();
    Instant::now() + left.saturating_sub(ANSWER_MARGIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_deadline_is_there_inside_a_request_only() {
        assert_eq!(current(), None);
        let deadline = Instant::now() + Duration::from_secs(3);
        let seen = within(deadline, async { (current(), remaining()) }).await;
        assert_eq!(seen.0, Some(deadline));
        assert!(seen.1.is_some_and(|left| left <= Duration::from_secs(3) && left > Duration::from_secs(2)));
    }

    #[test]
    fn an_invocation_keeps_the_answer_margin() {
        let deadline = for_invocation(SystemTime::now() + Duration::from_secs(10));
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(left <= Duration::from_secs(10) - ANSWER_MARGIN, "{left:?}");
        assert!(left > Duration::from_secs(8), "{left:?}");
        // Already past: no time at all, never a panic.
        let past = for_invocation(SystemTime::now() - Duration::from_secs(1));
        assert!(past <= Instant::now());
    }
}
