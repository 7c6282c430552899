//! The application state the handlers share, and how it is assembled from `Config`.
//!
//! Owns: construction of every component and SDK client (once per process, reused across
//! Lambda invocations). Tests build `AppParts` by hand with their own components.
//! Must not: read environment variables (that is `config`'s job) or serve requests.

use std::sync::Arc;

use anyhow::Context as _;

use crate::config::{Config, Environment, ModelProvider, PersonaLocation, StoreLocation};
use crate::model::{BedrockModel, BreakerSettings, ChatModel, OfflineModel, OpenAiModel, ResilientModel};
use crate::persona::{FilePersona, PersonaCache, PersonaSource, S3Persona};
use crate::secrets::{ApiKeyProvider, SecretBackend, SecretsManagerBackend};
use crate::store::{ConversationStore, FileStore, S3Store};

/// Request limits enforced by the handlers.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The whole request's budget when no Lambda invocation deadline applies (local server).
    pub request_timeout: std::time::Duration,
    pub max_message_chars: usize,
    pub max_body_bytes: usize,
    pub context_token_budget: usize,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        Self {
            request_timeout: config.request_timeout,
            max_message_chars: config.max_message_chars,
            max_body_bytes: config.max_body_bytes,
            context_token_budget: config.context_token_budget,
        }
    }
}

/// Everything a handler can reach.
#[derive(Debug)]
pub struct AppParts {
    pub environment: Environment,
    pub persona: PersonaCache,
    pub store: Arc<dyn ConversationStore>,
    pub model: Arc<dyn ChatModel>,
    pub keys: Arc<ApiKeyProvider>,
    /// Checks CloudFront's origin header; None in local.
    pub origin: Option<Arc<crate::origin::OriginVerifier>>,
    pub limits: Limits,
    pub cors_origins: Vec<String>,
}

/// Cheap to clone; shared by every request.
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

impl From<AppParts> for AppState {
    fn from(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

/// Loads the SDK configuration the usual way (environment, profile, container or instance
/// credentials). `AWS_ENDPOINT_URL` points every client at the local emulator.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

/// An S3 client; path-style addressing when an endpoint override (the emulator) is set,
/// because `bucket.127.0.0.1` does not resolve.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some()).build();
    aws_sdk_s3::Client::from_conf(config)
}

impl AppState {
    /// Builds every component the configuration asks for.
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        let sdk = if config.needs_aws() { Some(load_sdk_config().await) } else { None };
        let sdk = || sdk.as_ref().context("an AWS client was needed but the SDK config was not loaded");

        let store: Arc<dyn ConversationStore> = match &config.store {
            StoreLocation::Directory(dir) => Arc::new(
                FileStore::open(dir).with_context(|| format!("failed to open the file store at {}", dir.display()))?,
            ),
            StoreLocation::S3 { bucket, prefix } => Arc::new(S3Store::new(s3_client(sdk()?), bucket, prefix)),
        };

        let persona_source: Box<dyn PersonaSource> = match &config.persona {
            PersonaLocation::File(path) => Box::new(FilePersona::new(path)),
            PersonaLocation::S3 { bucket, key } => Box::new(S3Persona::new(s3_client(sdk()?), bucket, key)),
        };

        let secret_backend: Option<Box<dyn SecretBackend>> = match &config.api_key {
            crate::config::ApiKeySource::SecretsManager { .. } => {
                Some(Box::new(SecretsManagerBackend::new(aws_sdk_secretsmanager::Client::new(sdk()?))))
            }
            _ => None,
        };
        let keys = Arc::new(ApiKeyProvider::new(&config.api_key, secret_backend));

        let provider: Arc<dyn ChatModel> = match &config.model {
            ModelProvider::Offline => Arc::new(OfflineModel),
            ModelProvider::OpenAi { base_url, model_id } => Arc::new(
                OpenAiModel::new(base_url, model_id, config.max_output_tokens, keys.clone())
                    .context("failed to build the HTTP client for the OpenAI-compatible model")?,
            ),
            ModelProvider::Bedrock { model_id } => Arc::new(BedrockModel::new(
                aws_sdk_bedrockruntime::Client::new(sdk()?),
                model_id,
                config.max_output_tokens,
            )),
        };
        let model = Arc::new(ResilientModel::new(
            provider,
            keys.clone(),
            BreakerSettings {
                attempt_timeout: config.model_timeout,
                max_retries: config.model_max_retries,
                ..BreakerSettings::default()
            },
        ));

        // The origin secret is cached like the API key (an hour); a value CloudFront sends that
        // is not cached yet makes a refetch (see `origin`).
        let origin = match &config.origin_secret {
            Some(secret_id) => Some(Arc::new(crate::origin::OriginVerifier::new(
                Box::new(SecretsManagerBackend::new(aws_sdk_secretsmanager::Client::new(sdk()?))),
                secret_id.clone(),
                std::time::Duration::from_secs(3600),
            ))),
            None => None,
        };

        Ok(AppParts {
            environment: config.environment,
            persona: PersonaCache::new(persona_source, config.persona_ttl),
            store,
            model,
            keys,
            origin,
            limits: Limits::from_config(config),
            cors_origins: config.cors_origins.clone(),
        }
        .into())
    }
}
