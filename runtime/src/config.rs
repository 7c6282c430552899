//! Runtime configuration, read once from environment variables and validated as a whole.
//!
//! Owns: the names of every variable, their defaults, and the rules that tie them together
//! (which store, which persona source, which model, where the API key may come from).
//! Must not: touch the network or the file system; building clients is `state`'s job.
//!
//! Every problem is collected, so a misconfigured function reports all of them at once.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

/// Where the twin runs. Local is the only environment with development shortcuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Local,
    Staging,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Local => "local",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which chat model answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelProvider {
    /// Deterministic echo of what the model would receive; local development and tests only.
    Offline,
    /// Any OpenAI-compatible `/chat/completions` endpoint.
    OpenAi { base_url: String, model_id: String },
    /// Amazon Bedrock's Converse API; authenticated by the function's IAM role.
    Bedrock { model_id: String },
}

impl ModelProvider {
    pub fn name(&self) -> &'static str {
        match self {
            ModelProvider::Offline => "offline",
            ModelProvider::OpenAi { .. } => "openai",
            ModelProvider::Bedrock { .. } => "bedrock",
        }
    }
}

/// Where conversations are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Directory(PathBuf),
    S3 { bucket: String, prefix: String },
}

/// Where `me.txt` is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonaLocation {
    File(PathBuf),
    S3 { bucket: String, key: String },
}

/// Where the model's API key comes from (Property 7: Secrets Manager everywhere but local).
#[derive(Debug, Clone)]
pub enum ApiKeySource {
    /// The provider needs no key (offline, Bedrock).
    NotRequired,
    SecretsManager {
        secret_id: String,
        ttl: Duration,
    },
    /// `LLM_API_KEY`, accepted only when ENVIRONMENT=local.
    LocalEnvironment(SecretString),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    pub store: StoreLocation,
    pub persona: PersonaLocation,
    pub persona_ttl: Duration,
    pub model: ModelProvider,
    pub api_key: ApiKeySource,
    pub model_timeout: Duration,
    pub model_max_retries: u32,
    pub max_message_chars: usize,
    pub max_body_bytes: usize,
    pub context_token_budget: usize,
    pub max_output_tokens: u32,
    pub cors_origins: Vec<String>,
    pub log_json: bool,
}

/// All the problems found in the environment, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} problem(s)):", self.problems.len())?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        f.write_str("see runtime/README.md for every variable")
    }
}

impl std::error::Error for ConfigError {}

const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests can supply (and observe) the variables.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let environment = match get("ENVIRONMENT").as_deref() {
            None | Some("local") => Environment::Local,
            Some("staging") => Environment::Staging,
            Some("production") => Environment::Production,
            Some(other) => {
                problems.push(format!("ENVIRONMENT={other:?} is not one of local, staging, production"));
                Environment::Local
            }
        };
        let local = environment == Environment::Local;

        let store = match get("S3_MEMORY_BUCKET") {
            Some(bucket) => {
                StoreLocation::S3 { bucket, prefix: get("S3_MEMORY_PREFIX").unwrap_or_else(|| "sessions/".to_owned()) }
            }
            None if local => {
                StoreLocation::Directory(get("LOCAL_STORAGE_PATH").unwrap_or_else(|| "data/sessions".to_owned()).into())
            }
            None => {
                problems.push(format!(
                    "S3_MEMORY_BUCKET is required when ENVIRONMENT={environment} (the local file store is for development)"
                ));
                StoreLocation::Directory(PathBuf::new())
            }
        };

        let persona = match get("S3_PERSONA_BUCKET") {
            Some(bucket) => PersonaLocation::S3 {
                bucket,
                key: get("S3_PERSONA_KEY").unwrap_or_else(|| "persona/me.txt".to_owned()),
            },
            None if local => {
                PersonaLocation::File(get("LOCAL_PERSONA_PATH").unwrap_or_else(|| "me.txt".to_owned()).into())
            }
            None => {
                problems.push(format!("S3_PERSONA_BUCKET is required when ENVIRONMENT={environment}"));
                PersonaLocation::File(PathBuf::new())
            }
        };

        let model_id = get("LLM_MODEL_ID");
        let model = match get("LLM_PROVIDER").as_deref() {
            None if local => ModelProvider::Offline,
            None => {
                problems.push(format!("LLM_PROVIDER is required when ENVIRONMENT={environment} (bedrock or openai)"));
                ModelProvider::Offline
            }
            Some("offline") => {
                if !local {
                    problems.push(format!(
                        "LLM_PROVIDER=offline is for development and tests; it refuses to run when ENVIRONMENT={environment}"
                    ));
                }
                ModelProvider::Offline
            }
            Some("openai") => ModelProvider::OpenAi {
                base_url: get("OPENAI_BASE_URL")
                    .unwrap_or_else(|| DEFAULT_OPENAI_BASE_URL.to_owned())
                    .trim_end_matches('/')
                    .to_owned(),
                model_id: model_id.clone().unwrap_or_else(|| {
                    problems.push("LLM_MODEL_ID is required when LLM_PROVIDER=openai".to_owned());
                    String::new()
                }),
            },
            Some("bedrock") => ModelProvider::Bedrock {
                model_id: model_id.clone().unwrap_or_else(|| {
                    problems.push("LLM_MODEL_ID is required when LLM_PROVIDER=bedrock".to_owned());
                    String::new()
                }),
            },
            Some(other) => {
                problems.push(format!("LLM_PROVIDER={other:?} is not one of offline, openai, bedrock"));
                ModelProvider::Offline
            }
        };
        if let ModelProvider::OpenAi { base_url, .. } = &model {
            let plain_http_allowed = local && is_loopback_url(base_url);
            if !base_url.starts_with("https://") && !plain_http_allowed {
                problems.push(format!(
                    "OPENAI_BASE_URL={base_url:?} must use https:// (plain http only to a loopback host when ENVIRONMENT=local)"
                ));
            }
        }

        let secret_ttl = Duration::from_secs(parse_number(&get, "SECRET_CACHE_TTL_SECS", 3600, &mut problems));
        let api_key = match (&model, get("SECRETS_MANAGER_SECRET_NAME")) {
            (ModelProvider::OpenAi { .. }, Some(secret_id)) => {
                ApiKeySource::SecretsManager { secret_id, ttl: secret_ttl }
            }
            // Property 7: outside local, the key variable is never even read.
            (ModelProvider::OpenAi { .. }, None) if local => match lookup("LLM_API_KEY") {
                Some(key) if !key.trim().is_empty() => {
                    ApiKeySource::LocalEnvironment(SecretString::from(key.trim().to_owned()))
                }
                _ => {
                    problems.push(
                        "LLM_PROVIDER=openai needs SECRETS_MANAGER_SECRET_NAME (or, locally only, LLM_API_KEY)"
                            .to_owned(),
                    );
                    ApiKeySource::NotRequired
                }
            },
            (ModelProvider::OpenAi { .. }, None) => {
                problems.push(format!(
                    "SECRETS_MANAGER_SECRET_NAME is required for LLM_PROVIDER=openai when ENVIRONMENT={environment}; API keys are never read from environment variables there"
                ));
                ApiKeySource::NotRequired
            }
            _ => ApiKeySource::NotRequired,
        };

        let persona_ttl = Duration::from_secs(parse_number(&get, "PERSONA_CACHE_TTL_SECS", 300, &mut problems));
        let model_timeout = Duration::from_secs(parse_number(&get, "LLM_TIMEOUT_SECS", 25, &mut problems));
        let model_max_retries = parse_number(&get, "LLM_MAX_RETRIES", 2, &mut problems) as u32;
        let max_message_chars = parse_number(&get, "MAX_MESSAGE_CHARS", 4000, &mut problems) as usize;
        let max_body_bytes = parse_number(&get, "MAX_BODY_BYTES", 64 * 1024, &mut problems) as usize;
        let context_token_budget = parse_number(&get, "CONTEXT_TOKEN_BUDGET", 6000, &mut problems) as usize;
        let max_output_tokens = parse_number(&get, "LLM_MAX_OUTPUT_TOKENS", 1024, &mut problems) as u32;
        if max_message_chars == 0 {
            problems.push("MAX_MESSAGE_CHARS must be at least 1".to_owned());
        }
        if model_timeout.is_zero() {
            problems.push("LLM_TIMEOUT_SECS must be at least 1".to_owned());
        }

        let cors_origins: Vec<String> = get("CORS_ORIGINS")
            .map(|v| v.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect())
            .unwrap_or_default();
        for origin in &cors_origins {
            if origin == "*" && !local {
                problems.push(format!(
                    "CORS_ORIGINS=* is not allowed when ENVIRONMENT={environment}; list the frontend's origin"
                ));
            } else if origin != "*" && http::HeaderValue::from_str(origin).is_err() {
                problems.push(format!("CORS_ORIGINS contains an invalid origin {origin:?}"));
            }
        }

        let on_lambda = get("AWS_LAMBDA_RUNTIME_API").is_some();
        let log_json = match get("LOG_FORMAT").as_deref() {
            None => on_lambda,
            Some("json") => true,
            Some("text") => false,
            Some(other) => {
                problems.push(format!("LOG_FORMAT={other:?} is not one of json, text"));
                on_lambda
            }
        };

        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        Ok(Config {
            environment,
            store,
            persona,
            persona_ttl,
            model,
            api_key,
            model_timeout,
            model_max_retries,
            max_message_chars,
            max_body_bytes,
            context_token_budget,
            max_output_tokens,
            cors_origins,
            log_json,
        })
    }

    /// Whether any component talks to AWS, so local runs can skip loading the SDK config.
    pub fn needs_aws(&self) -> bool {
        matches!(self.store, StoreLocation::S3 { .. })
            || matches!(self.persona, PersonaLocation::S3 { .. })
            || matches!(self.model, ModelProvider::Bedrock { .. })
            || matches!(self.api_key, ApiKeySource::SecretsManager { .. })
    }
}

fn parse_number(get: &impl Fn(&str) -> Option<String>, name: &str, default: u64, problems: &mut Vec<String>) -> u64 {
    match get(name) {
        None => default,
        Some(raw) => raw.parse().unwrap_or_else(|_| {
            problems.push(format!("{name}={raw:?} is not a whole number"));
            default
        }),
    }
}

fn is_loopback_url(url: &str) -> bool {
    url.parse::<http::Uri>().ok().is_some_and(|uri| {
        uri.scheme_str() == Some("http") && matches!(uri.host(), Some("127.0.0.1" | "localhost" | "[::1]"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn local_defaults_need_nothing() {
        let config = config(&[]).expect("local defaults are valid");
        assert_eq!(config.environment, Environment::Local);
        assert_eq!(config.model, ModelProvider::Offline);
        assert_eq!(config.store, StoreLocation::Directory("data/sessions".into()));
        assert_eq!(config.max_message_chars, 4000);
        assert_eq!(config.max_body_bytes, 65536);
        assert!(!config.needs_aws());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = config(&[
            ("ENVIRONMENT", "production"),
            ("LLM_PROVIDER", "offline"),
            ("MAX_MESSAGE_CHARS", "many"),
            ("CORS_ORIGINS", "*"),
        ])
        .expect_err("production without buckets is invalid");
        let text = err.to_string();
        for expected in [
            "S3_MEMORY_BUCKET is required",
            "S3_PERSONA_BUCKET is required",
            "refuses to run when ENVIRONMENT=production",
            "MAX_MESSAGE_CHARS=\"many\"",
            "CORS_ORIGINS=* is not allowed",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert_eq!(err.problems.len(), 5, "{text}");
    }

    #[test]
    fn unknown_environment_and_provider_are_named() {
        let err = config(&[("ENVIRONMENT", "prod"), ("LLM_PROVIDER", "gpt")]).expect_err("invalid");
        assert!(err.to_string().contains("ENVIRONMENT=\"prod\" is not one of local, staging, production"));
        assert!(err.to_string().contains("LLM_PROVIDER=\"gpt\" is not one of offline, openai, bedrock"));
    }

    #[test]
    fn openai_outside_local_requires_a_secret_and_https() {
        let err = config(&[
            ("ENVIRONMENT", "staging"),
            ("S3_MEMORY_BUCKET", "memory"),
            ("S3_PERSONA_BUCKET", "persona"),
            ("LLM_PROVIDER", "openai"),
            ("LLM_MODEL_ID", "gpt-4o-mini"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"),
            ("LLM_API_KEY", "sk-from-env"),
        ])
        .expect_err("no secret name");
        let text = err.to_string();
        assert!(text.contains("SECRETS_MANAGER_SECRET_NAME is required"), "{text}");
        assert!(text.contains("must use https://"), "{text}");
    }

    #[test]
    fn bedrock_in_production_is_valid_and_needs_aws() {
        let config = config(&[
            ("ENVIRONMENT", "production"),
            ("S3_MEMORY_BUCKET", "memory"),
            ("S3_PERSONA_BUCKET", "persona"),
            ("LLM_PROVIDER", "bedrock"),
            ("LLM_MODEL_ID", "anthropic.claude-3-haiku-20240307-v1:0"),
            ("CORS_ORIGINS", "https://twin.example.com"),
        ])
        .expect("valid");
        assert!(config.needs_aws());
        assert!(matches!(config.api_key, ApiKeySource::NotRequired));
        assert_eq!(config.cors_origins, vec!["https://twin.example.com".to_owned()]);
    }
}
