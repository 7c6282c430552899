//! Resilience around any model: a timeout per attempt, retries with jittered exponential
//! backoff on transient errors, one key refresh when the key is rejected, and a circuit
//! breaker that opens after `failure_threshold` consecutive failed attempts and lets one
//! trial call through after `cooldown`.
//!
//! While the breaker is open no call is made, so a failing provider costs the function
//! milliseconds instead of its full timeout, and clients get 503 with Retry-After.

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
            let result = match tokio::time::timeout(self.settings.attempt_timeout, attempt()).await {
                Ok(result) => result,
                Err(_) => Err(ModelError::Transient(anyhow::anyhow!(
                    "no {what} from {} within {}s",
                    self.inner.describe(),
                    self.settings.attempt_timeout.as_secs_f64()
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
                ModelError::Transient(cause) if retries < self.settings.max_retries => {
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
}
