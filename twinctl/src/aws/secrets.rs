//! The environment's secrets, as twinctl touches them:
//! - the value CloudFront sends the API origin as `X-Origin-Verify`, read so that the smoke test
//!   and canary probes, which invoke the function directly, carry it as CloudFront would (outside
//!   local the runtime refuses requests without it);
//! - the model's API key (`twinctl secrets`): written as the runtime reads it (`{"api_key": …}`,
//!   runtime/src/secrets.rs), and inspected for whether it is set and when it changed.
//!
//! Must not: print, log or serialize a secret value.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::aws::SdkContext;
use crate::error::{Error, Result};

/// The header CloudFront adds (the runtime's `origin::HEADER`).
pub const ORIGIN_HEADER: &str = "x-origin-verify";

/// The header's value; its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct OriginSecret(String);

impl OriginSecret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn value(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for OriginSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OriginSecret(..)")
    }
}

/// The current value of the origin secret `secret_id` (the stack's OriginVerifySecretArn).
pub async fn origin_secret(client: &aws_sdk_secretsmanager::Client, secret_id: &str) -> Result<OriginSecret> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .sdk_context(|| format!("failed to read the origin secret {secret_id}"))?;
    output
        .secret_string()
        .map(|value| OriginSecret::new(value.trim().to_owned()))
        .filter(|secret| !secret.value().is_empty())
        .ok_or_else(|| Error::user(format!("the origin secret {secret_id} has no string value")))
}

/// The model's API key as given, checked: one line, no surrounding whitespace, not empty.
pub fn api_key(input: &str) -> Result<SecretString> {
    let key = input.trim();
    if key.is_empty() {
        return Err(Error::user("no API key given: the input was empty"));
    }
    if key.chars().any(char::is_whitespace) {
        return Err(Error::user("the API key contains whitespace or several lines; give the key alone"));
    }
    Ok(SecretString::from(key.to_owned()))
}

/// What `secrets set` did: the new version, never the value.
#[derive(Debug, Serialize)]
pub struct KeyStored {
    pub secret: String,
    pub version_id: String,
}

/// Stores `key` as the secret's new current version. The request token makes a retried call
/// (the SDK retries on throttling and 5xx) one version, not two (PutSecretValue API reference,
/// ClientRequestToken).
pub async fn put_api_key(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    key: &SecretString,
) -> Result<KeyStored> {
    let document = SecretString::from(serde_json::json!({ "api_key": key.expose_secret() }).to_string());
    let output = client
        .put_secret_value()
        .secret_id(secret_id)
        .client_request_token(uuid::Uuid::new_v4().to_string())
        .secret_string(document.expose_secret())
        .send()
        .await
        .sdk_context(|| format!("failed to store the API key in {secret_id}"))?;
    Ok(KeyStored {
        secret: output.arn().unwrap_or(secret_id).to_owned(),
        version_id: output.version_id().unwrap_or_default().to_owned(),
    })
}

/// Whether the model's API key is set, and since when; never the key.
#[derive(Debug, Serialize)]
pub struct KeyStatus {
    pub secret: String,
    /// The current value holds a non-empty key (the stack creates the secret with an empty one).
    pub key_set: bool,
    /// When the value last changed (DescribeSecret LastChangedDate), RFC 3339.
    pub last_changed: Option<String>,
    pub current_version: Option<String>,
    pub kms_key: Option<String>,
}

pub async fn api_key_status(client: &aws_sdk_secretsmanager::Client, secret_id: &str) -> Result<KeyStatus> {
    let described = client
        .describe_secret()
        .secret_id(secret_id)
        .send()
        .await
        .sdk_context(|| format!("failed to describe {secret_id}"))?;
    let current_version = described.version_ids_to_stages().and_then(|versions| {
        versions.iter().find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT")).map(|(id, _)| id.clone())
    });
    // Whether the key is set can only be told from the value; it is read, judged and dropped.
    let key_set = match &current_version {
        Some(_) => {
            let value = client
                .get_secret_value()
                .secret_id(secret_id)
                .send()
                .await
                .sdk_context(|| format!("failed to read {secret_id}"))?;
            value.secret_string().is_some_and(holds_a_key)
        }
        None => false,
    };
    Ok(KeyStatus {
        secret: described.arn().unwrap_or(secret_id).to_owned(),
        key_set,
        last_changed: described
            .last_changed_date()
            .and_then(|d| d.fmt(aws_sdk_secretsmanager::primitives::DateTimeFormat::DateTime).ok()),
        current_version,
        kms_key: described.kms_key_id().map(str::to_owned),
    })
}

/// The runtime's reading of a secret string (runtime/src/secrets.rs): a JSON object's
/// `api_key`, or else the bare string.
fn holds_a_key(value: &str) -> bool {
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(serde_json::Value::Object(fields)) => {
            fields.get("api_key").and_then(|k| k.as_str()).is_some_and(|k| !k.trim().is_empty())
        }
        _ => !value.trim().is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_one_non_empty_word() {
        assert_eq!(api_key("sk-abc\n").expect("trailing newline").expose_secret(), "sk-abc");
        assert_eq!(api_key("  sk-abc\r\n").expect("crlf").expose_secret(), "sk-abc");
        for bad in ["", "  \n", "sk-a\nsk-b", "sk a"] {
            let message = api_key(bad).expect_err(bad).to_string();
            assert!(!message.contains("sk-"), "the error must not echo the input: {message}");
        }
    }

    #[test]
    fn only_a_non_empty_key_counts_as_set() {
        assert!(!holds_a_key(r#"{"api_key": "", "placeholder": "x7Gq"}"#), "the stack's initial value");
        assert!(holds_a_key(r#"{"api_key": "sk-live"}"#));
        assert!(!holds_a_key(r#"{"other": "sk-live"}"#));
        assert!(holds_a_key("sk-bare"), "the runtime also takes a bare key");
        assert!(!holds_a_key("  "));
    }

    #[test]
    fn nothing_of_the_key_shows_in_debug() {
        let key = api_key("sk-very-secret").expect("key");
        assert!(!format!("{key:?}").contains("very-secret"));
    }

    #[test]
    fn debug_output_never_shows_the_value() {
        assert_eq!(format!("{:?}", OriginSecret::new("s3cr3t".into())), "OriginSecret(..)");
    }
}
