//! Resilience around any model: a timeout per attempt, retries with jittered exponential
//! backoff on transient errors, one key refresh when the key is rejected, and a circuit
//! breaker that opens after `failure_threshold` consecutive failed attempts and lets one
//! trial call through after `cooldown`.
//!
//! While the breaker is open no call is made, so a failing provider costs the function
//! milliseconds instead of its full timeout, and clients get 503 with Retry-After.
//!
//! Attempts and retries all end by the request's deadline ([`crate::deadline`]): an attempt
//! gets at most the time left, and no retry starts that could not finish in it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{ChatModel, ModelError, TokenStream};
use crate::prompt::Prompt;
use crate::secrets::ApiKeyProvider;

#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    pub failure_threshold: u32,
    pub cooldown: Duration,
    pub attempt_timeout: Duration,
    pub max_retries: u32,
    pub initial_backoff: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cooldown: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(25),
            max_retries: 2,
            initial_backoff: Duration::from_millis(200),
        }
    }
}

#[derive(Debug, Default)]
struct BreakerState {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    trial_in_flight: bool,
}

#[derive(Debug)]
pub struct ResilientModel {
    inner: Arc<dyn ChatModel>,
    keys: Arc<ApiKeyProvider>,
    settings: BreakerSettings,
    state: Mutex<BreakerState>,
}

impl ResilientModel {
    pub fn new(inner: Arc<dyn ChatModel>, keys: Arc<ApiKeyProvider>, settings: BreakerSettings) -> Self {
        Self { inner, keys, settings, state: Mutex::new(BreakerState::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Lets a call through, or says how long the breaker stays open.
    fn admit(&self) -> Result<(), ModelError> {
        let mut state = self.state();
        let Some(open_until) = state.open_until else {
            return Ok(());
        };
        let now = Instant::now();
        if now < open_until {
            return Err(ModelError::CircuitOpen { retry_after: open_until - now });
        }
        if state.trial_in_flight {
            return Err(ModelError::CircuitOpen { retry_after: Duration::from_secs(1) });
        }
        state.trial_in_flight = true;
        Ok(())
    }

    fn record(&self, outcome: &Result<(), &ModelError>) {
        let mut state = self.state();
        state.trial_in_flight = false;
        match outcome {
            Ok(()) => {
                state.consecutive_failures = 0;
                state.open_until = None;
            }
            // Only the provider's own failures count; a refused request says nothing of its health.
            Err(ModelError::Transient(_)) => {
                state.consecutive_failures += 1;
                let reopen = state.open_until.is_some();
                if reopen || state.consecutive_failures >= self.settings.failure_threshold {
                    if !reopen {
                        tracing::warn!(
                            failures = state.consecutive_failures,
                            cooldown_s = self.settings.cooldown.as_secs(),
                            model = %self.inner.describe(),
                            "circuit breaker opened"
                        );
                    }
                    state.open_until = Some(Instant::now() + self.settings.cooldown);
                }
            }
            Err(_) => {
                if state.open_until.is_some() {
                    state.open_until = Some(Instant::now() + self.settings.cooldown);
                }
            }
        }
    }

    /// Whether the breaker currently refuses calls (for health output and tests).
    pub fn is_open(&self) -> bool {
        self.state().open_until.is_some_and(|until| Instant::now() < until)
    }

    /// The longest [`Self::backoff`] can wait before retry `retry`.
    fn backoff_ceiling(&self, retry: u32) -> Duration {
        self.settings.initial_backoff.saturating_mul(1 << retry.min(8))
    }

    fn backoff(&self, retry: u32) -> Duration {
        let base = self.settings.initial_backoff.saturating_mul(1 << retry.min(8));
        base / 2 + base.mul_f64(fastrand::f64() / 2.0)
    }

    async fn call<T, F, Fut>(&self, what: &'static str, mut attempt: F) -> Result<T, ModelError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ModelError>>,
    {
        let mut retries = 0;
        let mut key_refreshed = false;
        loop {
            self.admit()?;
            let left = crate::deadline::remaining();
            let timeout = left.map_or(self.settings.attempt_timeout, |left| left.min(self.settings.attempt_timeout));
            if timeout.is_zero() {
                return Err(ModelError::Transient(anyhow::anyhow!(
                    "no time left for a {what} from {} before the request's deadline",
                    self.inner.describe()
                )));
            }
            let result = match tokio::time::timeout(timeout, attempt()).await {
                Ok(result) => result,
                Err(_) => Err(ModelError::Transient(anyhow::anyhow!(
                    "no {what} from {} within {:.1}s{}",
                    self.inner.describe(),
                    timeout.as_secs_f64(),
                    if timeout < self.settings.attempt_timeout { " (the request's deadline)" } else { "" }
                ))),
            };
            self.record(&result.as_ref().map(|_| ()));
            let error = match result {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            match &error {
                ModelError::KeyRejected(_) if !key_refreshed && self.keys.can_refresh() => {
                    key_refreshed = true;
                    self.keys.invalidate().await;
                }
                ModelError::Transient(cause)
                    if retries < self.settings.max_retries
                        && crate::deadline::remaining().is_none_or(|left| left > self.backoff_ceiling(retries)) =>
                {
                    let wait = self.backoff(retries);
                    retries += 1;
                    tracing::warn!(
                        retry = retries,
                        wait_ms = wait.as_millis() as u64,
                        error = %format!("{cause:#}"),
                        "model call failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                _ => return Err(error),
            }
        }
    }
}

#[async_trait]
impl ChatModel for ResilientModel {
    async fn complete(&self, prompt: &Prompt) -> Result<String, ModelError> {
        self.call("reply", || self.inner.complete(prompt)).await
    }

    /// Retries cover opening the stream; once deltas flow, an error ends the stream.
    async fn stream(&self, prompt: &Prompt) -> Result<TokenStream, ModelError> {
        self.call("stream", || self.inner.stream(prompt)).await
    }

    async fn check(&self) -> Result<(), ModelError> {
        self.admit()?;
        let result = tokio::time::timeout(self.settings.attempt_timeout, self.inner.check())
            .await
            .unwrap_or_else(|_| Err(ModelError::Transient(anyhow::anyhow!("health check timed out"))));
        self.record(&result.as_ref().map(|_| ()));
        result
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ApiKeySource;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug, Default)]
    struct Flaky {
        calls: AtomicU32,
        fail_first: u32,
    }

    #[async_trait]
    impl ChatModel for Flaky {
        async fn complete(&self, _prompt: &Prompt) -> Result<String, ModelError> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            if call < self.fail_first {
                Err(ModelError::Transient(anyhow::anyhow!("503 from upstream")))
            } else {
                Ok("fine".to_owned())
            }
        }
        async fn stream(&self, _prompt: &Prompt) -> Result<TokenStream, ModelError> {
            Err(ModelError::Permanent(anyhow::anyhow!("unused")))
        }
        async fn check(&self) -> Result<(), ModelError> {
            Ok(())
        }
        fn describe(&self) -> String {
            "flaky".to_owned()
        }
    }

    fn prompt() -> Prompt {
        crate::prompt::build_prompt("persona", &[], "hi", 1000)
    }

    fn settings(max_retries: u32) -> BreakerSettings {
        BreakerSettings {
            max_retries,
            initial_backoff: Duration::from_millis(1),
            cooldown: Duration::from_millis(200),
            ..BreakerSettings::default()
        }
    }

    fn keys() -> Arc<ApiKeyProvider> {
        Arc::new(ApiKeyProvider::new(&ApiKeySource::NotRequired, None))
    }

    #[tokio::test]
    async fn transient_failures_are_retried() {
        let inner = Arc::new(Flaky { fail_first: 2, ..Flaky::default() });
        let model = ResilientModel::new(inner.clone(), keys(), settings(2));
        assert_eq!(model.complete(&prompt()).await.expect("third attempt works"), "fine");
        assert_eq!(inner.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn breaker_opens_after_five_failures_and_closes_after_a_good_trial() {
        let inner = Arc::new(Flaky { fail_first: 5, ..Flaky::default() });
        let model = ResilientModel::new(inner.clone(), keys(), settings(0));
        for _ in 0..5 {
            assert!(matches!(model.complete(&prompt()).await, Err(ModelError::Transient(_))));
        }
        assert!(model.is_open());
        let refused = model.complete(&prompt()).await;
        assert!(matches!(refused, Err(ModelError::CircuitOpen { .. })), "{refused:?}");
        assert_eq!(inner.calls.load(Ordering::SeqCst), 5, "an open breaker makes no call");

        tokio::time::sleep(Duration::from_millis(220)).await;
        assert_eq!(model.complete(&prompt()).await.expect("trial call"), "fine");
        assert!(!model.is_open());
    }

    #[tokio::test]
    async fn four_failures_do_not_open_the_breaker() {
        let inner = Arc::new(Flaky { fail_first: 4, ..Flaky::default() });
        let model = ResilientModel::new(inner, keys(), settings(0));
        for _ in 0..4 {
            let _ = model.complete(&prompt()).await;
        }
        assert!(!model.is_open());
        assert_eq!(model.complete(&prompt()).await.expect("fifth call reaches the model"), "fine");
    }

    #[derive(Debug)]
    struct Slow;

    #[async_trait]
    impl ChatModel for Slow {
        async fn complete(&self, _prompt: &Prompt) -> Result<String, ModelError> {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok("too late".to_owned())
        }
        async fn stream(&self, _prompt: &Prompt) -> Result<TokenStream, ModelError> {
            Err(ModelError::Permanent(anyhow::anyhow!("unused")))
        }
        async fn check(&self) -> Result<(), ModelError> {
            Ok(())
        }
        fn describe(&self) -> String {
            "slow".to_owned()
        }
    }

    #[tokio::test]
    async fn a_slow_model_ends_at_the_request_deadline_not_the_attempt_timeout() {
        let model = ResilientModel::new(Arc::new(Slow), keys(), settings(2));
        let started = std::time::Instant::now();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(150);
        let result = crate::deadline::within(deadline, model.complete(&prompt())).await;
        let error = result.expect_err("the deadline passes first");
        assert!(matches!(error, ModelError::Transient(_)), "{error:?}");
        assert!(format!("{:#}", anyhow::Error::from(error)).contains("deadline"));
        // 25 s attempts and two retries would take 75 s; the deadline ends it (no retry fits).
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn no_retry_starts_that_cannot_finish_before_the_deadline() {
        let inner = Arc::new(Flaky { fail_first: 10, ..Flaky::default() });
        let slow_backoff = BreakerSettings { initial_backoff: Duration::from_millis(400), ..settings(5) };
        let model = ResilientModel::new(inner.clone(), keys(), slow_backoff);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
        let result = crate::deadline::within(deadline, model.complete(&prompt())).await;
        assert!(matches!(result, Err(ModelError::Transient(_))), "{result:?}");
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1, "a 400 ms backoff does not fit in 100 ms");
        // Without a deadline the same model is retried as configured.
        let model = ResilientModel::new(inner.clone(), keys(), settings(2));
        let _ = model.complete(&prompt()).await;
        assert_eq!(inner.calls.load(Ordering::SeqCst), 4);
    }
}
