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
    /// A pull request's preview, `pr-<number>`: deployed like staging, with its own data.
    Preview(u32),
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Environment::Local => f.write_str("local"),
            Environment::Staging => f.write_str("staging"),
            Environment::Production => f.write_str("production"),
            Environment::Preview(number) => write!(f, "pr-{number}"),
        }
    }
}

/// `pr-<n>` as the templates allow it: 1 to 8 digits, no leading zero.
fn preview_number(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("pr-")?;
    let valid =
        (1..=8).contains(&digits.len()) && !digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| digits.parse().ok()).flatten()
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
    /// The secret CloudFront's `X-Origin-Verify` header must match; None in local (where
    /// nothing sits in front of the runtime).
    pub origin_secret: Option<String>,
    pub model_timeout: Duration,
    /// The whole request's budget in the local server (on Lambda the invocation's deadline rules).
    pub request_timeout: Duration,
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

/// The local server's whole-request budget: what Lambda allows the function (its Timeout in
/// twin.yaml) less the margin to answer, so local and deployed time out alike.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 26;

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests can supply (and observe) the variables.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut vars = Vars { lookup: &lookup, problems: Vec::new() };
        let environment = vars.environment();
        let store = vars.store(environment);
        let persona = vars.persona(environment);
        let model = vars.model(environment);
        let api_key = vars.api_key(environment, &model);
        let origin_secret = vars.origin_secret(environment);
        let limits = vars.limits();
        let cors_origins = vars.cors_origins(environment);
        let log_json = vars.log_json();
        if !vars.problems.is_empty() {
            return Err(ConfigError { problems: vars.problems });
        }
        Ok(Config {
            environment,
            store,
            persona,
            persona_ttl: limits.persona_ttl,
            model,
            api_key,
            origin_secret,
            model_timeout: limits.model_timeout,
            request_timeout: limits.request_timeout,
            model_max_retries: limits.model_max_retries,
            max_message_chars: limits.max_message_chars,
            max_body_bytes: limits.max_body_bytes,
            context_token_budget: limits.context_token_budget,
            max_output_tokens: limits.max_output_tokens,
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
            || self.origin_secret.is_some()
    }
}

/// The variables being read and every problem found so far: each section reads its own
/// variables and adds its problems, so one error lists them all.
struct Vars<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

/// The numeric limits and timeouts, read together.
struct Limits {
    persona_ttl: Duration,
    request_timeout: Duration,
    model_timeout: Duration,
    model_max_retries: u32,
    max_message_chars: usize,
    max_body_bytes: usize,
    context_token_budget: usize,
    max_output_tokens: u32,
}

impl Vars<'_> {
    /// A set, non-blank value, trimmed.
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn problem(&mut self, problem: impl Into<String>) {
        self.problems.push(problem.into());
    }

    fn number(&mut self, name: &str, default: u64) -> u64 {
        match self.get(name) {
            None => default,
            Some(raw) => raw.parse().unwrap_or_else(|_| {
                self.problem(format!("{name}={raw:?} is not a whole number"));
                default
            }),
        }
    }

    fn environment(&mut self) -> Environment {
        match self.get("ENVIRONMENT").as_deref() {
            None | Some("local") => Environment::Local,
            Some("staging") => Environment::Staging,
            Some("production") => Environment::Production,
            Some(other) => match preview_number(other) {
                Some(number) => Environment::Preview(number),
                None => {
                    self.problem(format!(
                        "ENVIRONMENT={other:?} is not one of local, staging, production, pr-<number>"
                    ));
                    Environment::Local
                }
            },
        }
    }

    fn store(&mut self, environment: Environment) -> StoreLocation {
        match self.get("S3_MEMORY_BUCKET") {
            Some(bucket) => StoreLocation::S3 {
                bucket,
                prefix: self.get("S3_MEMORY_PREFIX").unwrap_or_else(|| "sessions/".to_owned()),
            },
            None if environment == Environment::Local => StoreLocation::Directory(
                self.get("LOCAL_STORAGE_PATH").unwrap_or_else(|| "data/sessions".to_owned()).into(),
            ),
            None => {
                self.problem(format!(
                    "S3_MEMORY_BUCKET is required when ENVIRONMENT={environment} (the local file store is for development)"
                ));
                StoreLocation::Directory(PathBuf::new())
            }
        }
    }

    fn persona(&mut self, environment: Environment) -> PersonaLocation {
        match self.get("S3_PERSONA_BUCKET") {
            Some(bucket) => PersonaLocation::S3 {
                bucket,
                key: self.get("S3_PERSONA_KEY").unwrap_or_else(|| "persona/me.txt".to_owned()),
            },
            None if environment == Environment::Local => {
                PersonaLocation::File(self.get("LOCAL_PERSONA_PATH").unwrap_or_else(|| "me.txt".to_owned()).into())
            }
            None => {
                self.problem(format!("S3_PERSONA_BUCKET is required when ENVIRONMENT={environment}"));
                PersonaLocation::File(PathBuf::new())
            }
        }
    }

    fn model(&mut self, environment: Environment) -> ModelProvider {
        let local = environment == Environment::Local;
        let model_id = self.get("LLM_MODEL_ID");
        let required_model_id = |vars: &mut Self, provider: &str| {
            model_id.clone().unwrap_or_else(|| {
                vars.problem(format!("LLM_MODEL_ID is required when LLM_PROVIDER={provider}"));
                String::new()
            })
        };
        let model = match self.get("LLM_PROVIDER").as_deref() {
            None if local => ModelProvider::Offline,
            None => {
                self.problem(format!("LLM_PROVIDER is required when ENVIRONMENT={environment} (bedrock or openai)"));
                ModelProvider::Offline
            }
            Some("offline") => {
                if !local {
                    self.problem(format!(
                        "LLM_PROVIDER=offline is for development and tests; it refuses to run when ENVIRONMENT={environment}"
                    ));
                }
                ModelProvider::Offline
            }
            Some("openai") => ModelProvider::OpenAi {
                base_url: self
                    .get("OPENAI_BASE_URL")
                    .unwrap_or_else(|| DEFAULT_OPENAI_BASE_URL.to_owned())
                    .trim_end_matches('/')
                    .to_owned(),
                model_id: required_model_id(self, "openai"),
            },
            Some("bedrock") => ModelProvider::Bedrock { model_id: required_model_id(self, "bedrock") },
            Some(other) => {
                self.problem(format!("LLM_PROVIDER={other:?} is not one of offline, openai, bedrock"));
                ModelProvider::Offline
            }
        };
        if let ModelProvider::OpenAi { base_url, .. } = &model {
            let plain_http_allowed = local && is_loopback_url(base_url);
            if !base_url.starts_with("https://") && !plain_http_allowed {
                self.problem(format!(
                    "OPENAI_BASE_URL={base_url:?} must use https:// (plain http only to a loopback host when ENVIRONMENT=local)"
                ));
            }
        }
        model
    }

    fn api_key(&mut self, environment: Environment, model: &ModelProvider) -> ApiKeySource {
        let ttl = Duration::from_secs(self.number("SECRET_CACHE_TTL_SECS", 3600));
        if !matches!(model, ModelProvider::OpenAi { .. }) {
            return ApiKeySource::NotRequired;
        }
        if let Some(secret_id) = self.get("SECRETS_MANAGER_SECRET_NAME") {
            return ApiKeySource::SecretsManager { secret_id, ttl };
        }
        if environment != Environment::Local {
            self.problem(format!(
                "SECRETS_MANAGER_SECRET_NAME is required for LLM_PROVIDER=openai when ENVIRONMENT={environment}; API keys are never read from environment variables there"
            ));
            return ApiKeySource::NotRequired;
        }
        // Property 7: outside local (above), the key variable is never even read.
        match (self.lookup)("LLM_API_KEY") {
            Some(key) if !key.trim().is_empty() => {
                ApiKeySource::LocalEnvironment(SecretString::from(key.trim().to_owned()))
            }
            _ => {
                self.problem("LLM_PROVIDER=openai needs SECRETS_MANAGER_SECRET_NAME (or, locally only, LLM_API_KEY)");
                ApiKeySource::NotRequired
            }
        }
    }

    /// Outside local the API answers only requests that came through CloudFront.
    fn origin_secret(&mut self, environment: Environment) -> Option<String> {
        if environment == Environment::Local {
            return None;
        }
        let secret = self.get("ORIGIN_VERIFY_SECRET_NAME");
        if secret.is_none() {
            self.problem(format!(
                "ORIGIN_VERIFY_SECRET_NAME is required when ENVIRONMENT={environment}: without it, requests that bypass CloudFront (and its WAF) would be served"
            ));
        }
        secret
    }

    fn limits(&mut self) -> Limits {
        let limits = Limits {
            persona_ttl: Duration::from_secs(self.number("PERSONA_CACHE_TTL_SECS", 300)),
            request_timeout: Duration::from_secs(self.number("REQUEST_TIMEOUT_SECS", DEFAULT_REQUEST_TIMEOUT_SECS)),
            model_timeout: Duration::from_secs(self.number("LLM_TIMEOUT_SECS", 25)),
            model_max_retries: self.number("LLM_MAX_RETRIES", 2) as u32,
            max_message_chars: self.number("MAX_MESSAGE_CHARS", 4000) as usize,
            max_body_bytes: self.number("MAX_BODY_BYTES", 64 * 1024) as usize,
            context_token_budget: self.number("CONTEXT_TOKEN_BUDGET", 6000) as usize,
            max_output_tokens: self.number("LLM_MAX_OUTPUT_TOKENS", 1024) as u32,
        };
        if limits.max_message_chars == 0 {
            self.problem("MAX_MESSAGE_CHARS must be at least 1");
        }
        if limits.model_timeout.is_zero() {
            self.problem("LLM_TIMEOUT_SECS must be at least 1");
        }
        if limits.request_timeout.is_zero() {
            self.problem("REQUEST_TIMEOUT_SECS must be at least 1");
        }
        limits
    }

    fn cors_origins(&mut self, environment: Environment) -> Vec<String> {
        let origins: Vec<String> = self
            .get("CORS_ORIGINS")
            .map(|v| v.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect())
            .unwrap_or_default();
        for origin in &origins {
            if origin == "*" && environment != Environment::Local {
                self.problem(format!(
                    "CORS_ORIGINS=* is not allowed when ENVIRONMENT={environment}; list the frontend's origin"
                ));
            } else if origin != "*" && http::HeaderValue::from_str(origin).is_err() {
                self.problem(format!("CORS_ORIGINS contains an invalid origin {origin:?}"));
            }
        }
        origins
    }

    fn log_json(&mut self) -> bool {
        let on_lambda = self.get("AWS_LAMBDA_RUNTIME_API").is_some();
        match self.get("LOG_FORMAT").as_deref() {
            None => on_lambda,
            Some("json") => true,
            Some("text") => false,
            Some(other) => {
                self.problem(format!("LOG_FORMAT={other:?} is not one of json, text"));
                on_lambda
            }
        }
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
    fn a_preview_is_deployed_like_staging() {
        let preview = |name: &str| config(&[("ENVIRONMENT", name), ("LLM_PROVIDER", "offline")]);
        let err = preview("pr-7").expect_err("offline is refused outside local");
        assert!(err.to_string().contains("refuses to run when ENVIRONMENT=pr-7"), "{err}");
        for invalid in ["pr-0", "pr-07", "pr-123456789", "pr-", "pr-x", "preview"] {
            let err = preview(invalid).expect_err(invalid);
            assert!(
                err.to_string().contains("is not one of local, staging, production, pr-<number>"),
                "{invalid}: {err}"
            );
        }
        assert_eq!(preview_number("pr-12345678"), Some(12_345_678));
        assert_eq!(Environment::Preview(42).to_string(), "pr-42");
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
            "ORIGIN_VERIFY_SECRET_NAME is required when ENVIRONMENT=production",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert_eq!(err.problems.len(), 6, "{text}");
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
            ("ORIGIN_VERIFY_SECRET_NAME", "twin/production/origin-verify"),
        ])
        .expect("valid");
        assert!(config.needs_aws());
        assert_eq!(config.origin_secret.as_deref(), Some("twin/production/origin-verify"));
        let local = super::tests::config(&[("ORIGIN_VERIFY_SECRET_NAME", "x")]).expect("local");
        assert_eq!(local.origin_secret, None, "nothing sits in front of the local runtime");
        assert!(matches!(config.api_key, ApiKeySource::NotRequired));
        assert_eq!(config.cors_origins, vec!["https://twin.example.com".to_owned()]);
    }
}
