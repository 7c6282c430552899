//! The `secrets` step kind (Property 7: secrets come from Secrets Manager, encrypted with the
//! stack's key, never from the function's environment).
//!
//! Checks:
//! - `in_environment`: a value of the stack's secrets (the model's API key, `SecretArn`; the
//!   origin header, `OriginVerifySecretArn`) equals or is contained in an environment variable of
//!   the function's `live` version. A finding fails the step when one is (naming the variable
//!   and the secret, never the value). Null when no secret could be read.
//! - `kms_key_is_stack_key`: every such secret is encrypted with the stack's key (DescribeSecret
//!   KmsKeyId against the `KeyArn` output, compared by key id: one may be an ARN, the other an id).
//! - `fetched`: the function's log group holds a `model replied` line written since `since`.
//!   The runtime logs nothing when it reads a secret (runtime/src/secrets.rs, origin.rs); a reply
//!   shows both were read: the request passed the origin check, which reads the origin secret
//!   outside local, and with `LLM_PROVIDER=openai` the model answered with the key from Secrets
//!   Manager, its only source outside local (config.rs). Only `POST /api/chat` writes that line
//!   (the streaming route does not), so a plan sends one before this step.
//!
//! A secret the caller may not read (CI's deploy role never reads the model's key) is left out
//! of `in_environment` with a Warn finding naming it, never a silent pass.
//! Must not: put, log or print a secret value; values are compared and dropped.

use std::time::Instant;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::elapsed_ms;
use crate::aws::error::{SdkContext, is_access_denied};
use crate::aws::lambda::{ALIAS, version_configuration_if_exists};
use crate::error::{Error, Result};
use crate::logs::{self, Filter};
use crate::target::Target;
use crate::testplan::observation::{Finding, Observation};

/// The stack's secrets: its output and what it holds.
const SECRETS: [(&str, &str); 2] =
    [("SecretArn", "the model's API key"), ("OriginVerifySecretArn", "the origin header")];

/// The line the runtime writes once the model answered a message (runtime/src/api.rs).
pub const FETCHED_EVIDENCE: &str = "model replied";

/// Shorter values are not looked for: they would be found by chance in an unrelated variable.
const MIN_SECRET_CHARS: usize = 8;

/// Compares the live version's environment with the stack's secrets, reads which key encrypts
/// them, and looks for the evidence line written since `since`.
pub async fn inspect(target: &Target, since: DateTime<Utc>) -> Result<Observation> {
    let started = Instant::now();
    let function = target.output("FunctionName")?;
    let configuration = version_configuration_if_exists(&target.aws.lambda(), function, ALIAS)
        .await?
        .ok_or_else(|| Error::user(format!("{function} has no {ALIAS} alias: deploy the environment first")))?;
    let key = target.output("KeyArn")?;
    let client = target.aws.secretsmanager();
    let mut observation = Observation::default();

    let mut found: Vec<String> = Vec::new();
    let mut read_any = false;
    let mut all_on_stack_key = true;
    let mut described = Vec::new();
    for (output, holds) in SECRETS {
        let Some(arn) = target.outputs.get(output) else { continue };
        match client.get_secret_value().secret_id(arn).send().await {
            Ok(answer) => {
                read_any = true;
                let values = values_of(answer.secret_string().unwrap_or_default());
                for variable in variables_holding(&configuration.environment, &values) {
                    found.push(format!(
                        "the function's environment variable {variable} holds the value of {holds} ({arn})"
                    ));
                }
            }
            Err(e) if is_access_denied(&e) => observation.findings.push(Finding::warn(format!(
                "in_environment: {holds} ({arn}) was not compared: these credentials may not read it"
            ))),
            Err(e) => return Err(e).sdk_context(|| format!("failed to read the secret {arn}")),
        }
        let description = client
            .describe_secret()
            .secret_id(arn)
            .send()
            .await
            .sdk_context(|| format!("failed to describe the secret {arn}"))?;
        let kms_key = description.kms_key_id();
        all_on_stack_key &= kms_key.is_some_and(|k| key_id(k).eq_ignore_ascii_case(key_id(key)));
        described.push(json!({ "output": output, "secret": arn, "kms_key_id": kms_key }));
    }
    if read_any {
        observation.check("in_environment", !found.is_empty());
    } else {
        observation.check("in_environment", Value::Null);
        observation.findings.push(Finding::warn("in_environment: no secret of the stack could be read to compare"));
    }
    observation.findings.extend(found.into_iter().map(Finding::fail));
    observation.check("kms_key_is_stack_key", !described.is_empty() && all_on_stack_key);

    let filter = Filter { grep: Some(FETCHED_EVIDENCE.to_owned()), ..Filter::default() };
    let log_group = target.output("LogGroupName")?;
    let evidence = logs::read(&target.aws.logs(), log_group, since.timestamp_millis(), &filter).await?;
    let replies = evidence.iter().filter(|event| is_evidence(&event.to_json_line())).count();
    observation.check("fetched", replies > 0);
    observation.json = Some(json!({
        "secrets": described,
        "stack_key": key,
        "fetched_evidence": format!("\"{FETCHED_EVIDENCE}\" lines in {log_group} since {}", since.to_rfc3339()),
        "fetched_lines": replies,
    }));
    observation.duration_ms = elapsed_ms(started);
    Ok(observation)
}

/// The values a secret string holds: each non-empty string field of a JSON object (the model's
/// key is stored as `{"api_key": …}`), else the whole string; short ones left out.
fn values_of(secret_string: &str) -> Vec<SecretString> {
    let trimmed = secret_string.trim();
    let values: Vec<String> = match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Object(fields)) => fields.values().filter_map(Value::as_str).map(|v| v.trim().to_owned()).collect(),
        _ => vec![trimmed.to_owned()],
    };
    values.into_iter().filter(|v| v.chars().count() >= MIN_SECRET_CHARS).map(SecretString::from).collect()
}

/// The names of the variables whose value equals or contains one of `values`.
fn variables_holding<'a>(
    environment: &'a std::collections::BTreeMap<String, String>,
    values: &[SecretString],
) -> Vec<&'a str> {
    environment
        .iter()
        .filter(|(_, value)| values.iter().any(|secret| value.contains(secret.expose_secret())))
        .map(|(name, _)| name.as_str())
        .collect()
}

/// A KMS key's id from its ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`), or the id given. An alias
/// stays as it is (and so never equals a key id).
fn key_id(key: &str) -> &str {
    key.rsplit_once(":key/").map(|(_, id)| id).or_else(|| key.strip_prefix("key/")).unwrap_or(key)
}

/// Whether a line (as `logs::Event::to_json_line` gives it) is the runtime's [`FETCHED_EVIDENCE`]
/// line: its top-level `message` (the runtime's JSON lines put the message there).
fn is_evidence(line: &str) -> bool {
    serde_json::from_str::<Value>(line)
        .ok()
        .is_some_and(|value| value.get("message").and_then(Value::as_str) == Some(FETCHED_EVIDENCE))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn a_secret_is_found_whole_or_inside_a_variable_and_only_its_name_is_told() {
        let environment = BTreeMap::from([
            ("LLM_PROVIDER".to_owned(), "openai".to_owned()),
            ("SECRETS_MANAGER_SECRET_NAME".to_owned(), "arn:aws:secretsmanager:r:1:secret:twin/staging/llm".to_owned()),
            ("DEBUG_HEADERS".to_owned(), "x-origin-verify=Zq4origin7Value9".to_owned()),
        ]);
        let origin = values_of("Zq4origin7Value9");
        assert_eq!(variables_holding(&environment, &origin), ["DEBUG_HEADERS"]);
        let key = values_of(r#"{"api_key": "sk-live-0123456789"}"#);
        assert!(variables_holding(&environment, &key).is_empty());
        let mut leaked = environment.clone();
        leaked.insert("OPENAI_API_KEY".to_owned(), "sk-live-0123456789".to_owned());
        assert_eq!(variables_holding(&leaked, &key), ["OPENAI_API_KEY"]);
    }

    #[test]
    fn empty_and_short_values_are_not_looked_for() {
        assert!(values_of(r#"{"api_key": "", "placeholder": "x7Gq"}"#).is_empty(), "the stack's initial value");
        assert!(values_of("   ").is_empty());
        assert_eq!(values_of(r#"{"api_key": "sk-0123456789", "n": 3}"#).len(), 1);
    }

    #[test]
    fn keys_compare_by_id() {
        let arn = "arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        assert_eq!(key_id(arn), "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        assert_eq!(key_id("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"), key_id(arn));
        assert_ne!(key_id("alias/aws/secretsmanager"), key_id(arn));
        assert_ne!(key_id("arn:aws:kms:eu-west-1:123456789012:alias/twin-staging"), key_id(arn));
    }

    #[test]
    fn only_a_model_replied_line_is_evidence() {
        let reply = r#"{"level":"INFO","message":"model replied","reply_chars":12,"span":{"correlation_id":"c"}}"#;
        assert!(is_evidence(reply));
        assert!(!is_evidence(r#"{"message":"prompt built","note":"model replied"}"#));
        assert!(is_evidence(r#"{"message":"model replied","log_stream":"s"}"#), "to_json_line adds fields");
        assert!(!is_evidence("model replied"), "not a runtime line");
    }
}
