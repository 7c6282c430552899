//! Chat models: the trait every provider implements, and the providers.
//!
//! Owns: the provider-neutral error classification (transient, key rejected, permanent),
//! which the resilience layer (`resilient`) uses to decide on retries, key refresh and the
//! circuit breaker.
//! Must not: build prompts (see `context`) or know about HTTP handlers.

mod bedrock;
mod offline;
mod openai;
mod resilient;

use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

pub use bedrock::BedrockModel;
pub use offline::OfflineModel;
pub use openai::OpenAiModel;
pub use resilient::{BreakerSettings, ResilientModel};

use crate::prompt::Prompt;
use crate::secrets::SecretError;

/// Text deltas of a reply, in order.
pub type TokenStream = BoxStream<'static, Result<String, ModelError>>;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Worth retrying: timeouts, throttling, 5xx, dropped connections.
    #[error("the model service is temporarily failing")]
    Transient(#[source] anyhow::Error),
    /// 401/403: the key is wrong or was rotated.
    #[error("the model service rejected the API key")]
    KeyRejected(#[source] anyhow::Error),
    /// Retrying will not help (bad request, model not enabled, access denied).
    #[error("the model service refused the request")]
    Permanent(#[source] anyhow::Error),
    /// The circuit breaker is open; no call was made.
    #[error("the model is unavailable after repeated failures; retry in {}s", retry_after.as_secs().max(1))]
    CircuitOpen { retry_after: Duration },
    #[error("the model's API key could not be read")]
    Secret(#[from] SecretError),
}

impl ModelError {
    /// How long a client should wait before asking again.
    pub fn retry_after(&self) -> Duration {
        match self {
            ModelError::CircuitOpen { retry_after } => *retry_after,
            ModelError::Permanent(_) | ModelError::KeyRejected(_) | ModelError::Secret(_) => Duration::from_secs(30),
            ModelError::Transient(_) => Duration::from_secs(5),
        }
    }

    /// Classifies an HTTP status from a model endpoint.
    pub fn from_status(status: u16, detail: anyhow::Error) -> Self {
        match status {
            401 | 403 => ModelError::KeyRejected(detail),
            408 | 409 | 425 | 429 | 500..=599 => ModelError::Transient(detail),
            _ => ModelError::Permanent(detail),
        }
    }
}

#[async_trait]
pub trait ChatModel: Send + Sync + std::fmt::Debug {
    /// The whole reply.
    async fn complete(&self, prompt: &Prompt) -> Result<String, ModelError>;

    /// The reply as it is generated. Errors before the first delta come back as `Err`.
    async fn stream(&self, prompt: &Prompt) -> Result<TokenStream, ModelError>;

    /// A cheap reachability check for the deep health endpoint.
    async fn check(&self) -> Result<(), ModelError>;

    /// Provider and model id, for logs and health output.
    fn describe(&self) -> String;
}
