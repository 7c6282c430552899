//! Requests must come through CloudFront. The HTTP API's public `execute-api` endpoint reaches
//! the function without CloudFront's WAF, HTTPS policy or caching, so CloudFront adds
//! `X-Origin-Verify: <secret>` (an origin custom header whose value the stack resolves from
//! Secrets Manager) to every request it forwards, and outside local the runtime refuses a
//! request without the value. The smoke test and canary probes send it too.
//!
//! Rotation: after the secret rotates, CloudFront keeps sending the old value until the stack
//! is deployed again, so the previous version (`AWSPREVIOUS`) is accepted as well; a value
//! not in the cache makes one refetch (at most every [`REFETCH_EVERY`]), so the new value is
//! accepted as soon as CloudFront sends it.
//!
//! Owns: the cached values and the constant-time comparison. Must not: log or return a value.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;

use crate::secrets::{SecretBackend, SecretError};

/// The header CloudFront adds to every request to the API origin.
pub const HEADER: &str = "x-origin-verify";

/// The least time between two fetches prompted by an unknown value: someone calling the public
/// endpoint with wrong values must not turn each request into a Secrets Manager call.
pub const REFETCH_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Cached {
    values: Vec<SecretString>,
    fetched_at: Instant,
}

pub struct OriginVerifier {
    backend: Box<dyn SecretBackend>,
    secret_id: String,
    ttl: Duration,
    cached: Mutex<Option<Cached>>,
}

/// Names the secret only: neither the values nor the backend's state are shown.
impl std::fmt::Debug for OriginVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginVerifier")
            .field("secret_id", &self.secret_id)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl OriginVerifier {
    pub fn new(backend: Box<dyn SecretBackend>, secret_id: impl Into<String>, ttl: Duration) -> Self {
        Self { backend, secret_id: secret_id.into(), ttl, cached: Mutex::new(None) }
    }

    /// Whether `presented` (the header's value; empty when absent) is the current or the
    /// previous value of the secret.
    pub async fn admits(&self, presented: &[u8]) -> Result<bool, SecretError> {
        if presented.is_empty() {
            return Ok(false);
        }
        let mut cached = self.cached.lock().await;
        let stale = cached.as_ref().is_none_or(|c| c.fetched_at.elapsed() >= self.ttl);
        if stale {
            *cached = Some(self.fetch().await?);
        }
        if cached.as_ref().is_some_and(|c| matches(&c.values, presented)) {
            return Ok(true);
        }
        let may_refetch = cached.as_ref().is_some_and(|c| c.fetched_at.elapsed() >= REFETCH_EVERY);
        if !may_refetch {
            return Ok(false);
        }
        let fresh = self.fetch().await?;
        let admitted = matches(&fresh.values, presented);
        *cached = Some(fresh);
        Ok(admitted)
    }

    async fn fetch(&self) -> Result<Cached, SecretError> {
        let mut values = vec![self.backend.fetch(&self.secret_id).await?];
        values.extend(self.backend.fetch_previous(&self.secret_id).await?);
        Ok(Cached { values, fetched_at: Instant::now() })
    }

    pub fn describe(&self) -> String {
        format!("secretsmanager:{}", self.secret_id)
    }
}

fn matches(values: &[SecretString], presented: &[u8]) -> bool {
    // Every value is compared, in constant time each: the answer's timing says nothing.
    values.iter().fold(false, |any, value| any | bool::from(value.expose_secret().as_bytes().ct_eq(presented)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use async_trait::async_trait;

    use super::*;

    #[derive(Debug)]
    struct Rotating {
        current: std::sync::Mutex<String>,
        previous: Option<String>,
        fetches: Arc<AtomicU32>,
    }

    #[async_trait]
    impl SecretBackend for Rotating {
        async fn fetch(&self, _secret_id: &str) -> Result<SecretString, SecretError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            Ok(SecretString::from(self.current.lock().expect("lock").clone()))
        }
        async fn fetch_previous(&self, _secret_id: &str) -> Result<Option<SecretString>, SecretError> {
            Ok(self.previous.clone().map(SecretString::from))
        }
    }

    fn verifier(previous: Option<&str>) -> (OriginVerifier, Arc<AtomicU32>) {
        let fetches = Arc::new(AtomicU32::new(0));
        let backend = Rotating {
            current: std::sync::Mutex::new("current-value".into()),
            previous: previous.map(str::to_owned),
            fetches: fetches.clone(),
        };
        (OriginVerifier::new(Box::new(backend), "twin/staging/origin-verify", Duration::from_secs(3600)), fetches)
    }

    #[tokio::test]
    async fn the_current_and_previous_values_pass_anything_else_does_not() {
        let (verifier, fetches) = verifier(Some("previous-value"));
        assert!(verifier.admits(b"current-value").await.expect("check"));
        assert!(verifier.admits(b"previous-value").await.expect("check"));
        assert!(!verifier.admits(b"").await.expect("check"), "no header");
        assert!(!verifier.admits(b"current-valu").await.expect("check"), "a prefix");
        assert!(!verifier.admits(b"guess").await.expect("check"));
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "wrong values within the refetch interval cost no fetch");
    }

    #[tokio::test]
    async fn the_value_never_shows_in_debug_output() {
        let (verifier, _) = verifier(None);
        assert!(verifier.admits(b"current-value").await.expect("check"));
        assert!(!format!("{verifier:?}").contains("current-value"));
    }
}
