//! The model's API key (Property 7).
//!
//! Owns: fetching the key from Secrets Manager over the SDK (IAM-authenticated, TLS), caching
//! it for a TTL (default one hour), and dropping the cached copy when the model rejects it,
//! so a rotated key is picked up on the next call instead of after the TTL.
//! The only other source is `LLM_API_KEY`, and `config` admits it only when ENVIRONMENT=local.
//! Must not: log, format or return the key except as a `SecretString`.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use crate::config::ApiKeySource;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {secret_id} has no string value")]
    NoValue { secret_id: String },
    #[error("failed to get secret {secret_id} from Secrets Manager")]
    Unreachable {
        secret_id: String,
        #[source]
        source: anyhow::Error,
    },
}

/// Where managed secrets come from; Secrets Manager in every deployed environment.
#[async_trait]
pub trait SecretBackend: Send + Sync + std::fmt::Debug {
    async fn fetch(&self, secret_id: &str) -> Result<SecretString, SecretError>;

    /// The version before the current one (`AWSPREVIOUS`), if the secret was ever rotated.
    async fn fetch_previous(&self, _secret_id: &str) -> Result<Option<SecretString>, SecretError> {
        Ok(None)
    }
}

#[derive(Debug, Clone)]
pub struct SecretsManagerBackend {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManagerBackend {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

/// A secret may hold the bare key or a JSON object with an `api_key` field (the shape the
/// console's "key/value" editor writes).
fn key_from_secret_string(value: &str) -> Option<SecretString> {
    let trimmed = value.trim();
    if trimmed.starts_with('{') {
        let parsed: serde_json::Value = serde_json::from_str(trimmed).ok()?;
        let key = parsed.get("api_key")?.as_str()?;
        return (!key.is_empty()).then(|| SecretString::from(key.to_owned()));
    }
    (!trimmed.is_empty()).then(|| SecretString::from(trimmed.to_owned()))
}

#[async_trait]
impl SecretBackend for SecretsManagerBackend {
    async fn fetch(&self, secret_id: &str) -> Result<SecretString, SecretError> {
        let output =
            self.client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| SecretError::Unreachable {
                secret_id: secret_id.to_owned(),
                source: anyhow::anyhow!("{}", DisplayErrorContext(e)),
            })?;
        output
            .secret_string()
            .and_then(key_from_secret_string)
            .ok_or_else(|| SecretError::NoValue { secret_id: secret_id.to_owned() })
    }

    async fn fetch_previous(&self, secret_id: &str) -> Result<Option<SecretString>, SecretError> {
        let answer = self.client.get_secret_value().secret_id(secret_id).version_stage("AWSPREVIOUS").send().await;
        match answer {
            Ok(output) => Ok(output.secret_string().and_then(key_from_secret_string)),
            // A secret never rotated has no AWSPREVIOUS version.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
            Err(e) => Err(SecretError::Unreachable {
                secret_id: secret_id.to_owned(),
                source: anyhow::anyhow!("{}", DisplayErrorContext(e)),
            }),
        }
    }
}

#[derive(Debug)]
enum Source {
    NotRequired,
    LocalEnvironment(SecretString),
    Managed {
        backend: Box<dyn SecretBackend>,
        secret_id: String,
        ttl: Duration,
        cached: Mutex<Option<(SecretString, Instant)>>,
    },
}

/// Hands out the current API key.
#[derive(Debug)]
pub struct ApiKeyProvider {
    source: Source,
}

impl ApiKeyProvider {
    /// `backend` is used only when the configuration names a managed secret.
    pub fn new(config: &ApiKeySource, backend: Option<Box<dyn SecretBackend>>) -> Self {
        let source = match (config, backend) {
            (ApiKeySource::SecretsManager { secret_id, ttl }, Some(backend)) => {
                Source::Managed { backend, secret_id: secret_id.clone(), ttl: *ttl, cached: Mutex::new(None) }
            }
            (ApiKeySource::LocalEnvironment(key), _) => Source::LocalEnvironment(key.clone()),
            _ => Source::NotRequired,
        };
        Self { source }
    }

    /// The key, or None when the provider needs none.
    pub async fn key(&self) -> Result<Option<SecretString>, SecretError> {
        match &self.source {
            Source::NotRequired => Ok(None),
            Source::LocalEnvironment(key) => Ok(Some(key.clone())),
            Source::Managed { backend, secret_id, ttl, cached } => {
                let mut cached = cached.lock().await;
                if let Some((key, fetched_at)) = cached.as_ref()
                    && fetched_at.elapsed() < *ttl
                {
                    return Ok(Some(key.clone()));
                }
                let key = backend.fetch(secret_id).await?;
                *cached = Some((key.clone(), Instant::now()));
                Ok(Some(key))
            }
        }
    }

    /// Forgets the cached key; called when the model answers 401/403 (the key was rotated).
    pub async fn invalidate(&self) {
        if let Source::Managed { cached, secret_id, .. } = &self.source {
            tracing::info!(%secret_id, "model rejected the API key; refreshing it from Secrets Manager");
            *cached.lock().await = None;
        }
    }

    /// Whether a rejected key can be refreshed at all.
    pub fn can_refresh(&self) -> bool {
        matches!(self.source, Source::Managed { .. })
    }

    pub fn describe(&self) -> String {
        match &self.source {
            Source::NotRequired => "not required".to_owned(),
            Source::LocalEnvironment(_) => "LLM_API_KEY (local only)".to_owned(),
            Source::Managed { secret_id, .. } => format!("secretsmanager:{secret_id}"),
        }
    }

    /// Deep health: the key can be fetched (its value is not shown).
    pub async fn check(&self) -> Result<(), SecretError> {
        self.key().await.map(|_| ())
    }
}

/// Compares keys without exposing them in a panic or log message.
pub fn same_key(a: &SecretString, b: &SecretString) -> bool {
    a.expose_secret() == b.expose_secret()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_string_forms() {
        let bare = key_from_secret_string("  sk-abc \n").expect("bare key");
        assert_eq!(bare.expose_secret(), "sk-abc");
        let json = key_from_secret_string(r#"{"api_key":"sk-json","other":1}"#).expect("json key");
        assert_eq!(json.expose_secret(), "sk-json");
        assert!(key_from_secret_string(r#"{"token":"x"}"#).is_none());
        assert!(key_from_secret_string("   ").is_none());
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let provider =
            ApiKeyProvider::new(&ApiKeySource::LocalEnvironment(SecretString::from("sk-very-secret".to_owned())), None);
        assert!(!format!("{provider:?}").contains("sk-very-secret"));
    }
}
