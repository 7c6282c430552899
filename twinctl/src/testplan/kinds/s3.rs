//! The `s3` step kind: one bucket's protections and, given a key, one object.
//!
//! Checks: `exists` (only with a key: the object is there; its text is the body, and its JSON
//! the json), `versioning` (GetBucketVersioning says Enabled), `encryption` (the default
//! encryption's algorithm, `aws:kms` or `AES256`, or null), `public_access_block` (all four
//! settings true), `tls_only` (the bucket policy denies requests with aws:SecureTransport
//! "false"). A protection that is missing (no policy, no public access block) is a `false`
//! check, not an error: the plan's `expect` decides what is required.
//! Must not: write to the bucket.

use std::time::Instant;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::BucketVersioningStatus;
use serde_json::Value;

use super::{elapsed_ms, emulator_cannot_answer, record};
use crate::aws::error::{SdkContext, is_not_found};
use crate::error::{Error, Result};
use crate::target::Target;
use crate::testplan::observation::Observation;

/// Reads `bucket`'s protections and, with `key`, the object.
pub async fn inspect(target: &Target, bucket: &str, key: Option<&str>) -> Result<Observation> {
    let s3 = target.aws.s3();
    let started = Instant::now();
    let mut observation = Observation::default();
    if let Some(key) = key {
        match crate::aws::s3::get(&s3, bucket, key).await? {
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                observation.json = serde_json::from_str(&text).ok();
                observation.body = Some(text);
                observation.check("exists", true);
            }
            None => observation.check("exists", false),
        }
    }
    record(&mut observation, "versioning", "GetBucketVersioning", versioning(target, &s3, bucket).await?);
    record(&mut observation, "encryption", "GetBucketEncryption", encryption(target, &s3, bucket).await?);
    record(
        &mut observation,
        "public_access_block",
        "GetPublicAccessBlock",
        public_access_block(target, &s3, bucket).await?,
    );
    record(&mut observation, "tls_only", "GetBucketPolicy", tls_only(target, &s3, bucket).await?);
    observation.duration_ms = elapsed_ms(started);
    Ok(observation)
}

/// True when versioning is Enabled (never enabled and Suspended are false). None: the emulator
/// cannot answer. A missing bucket is an error (the step names a bucket that is not there).
async fn versioning(target: &Target, s3: &Client, bucket: &str) -> Result<Option<Value>> {
    match s3.get_bucket_versioning().bucket(bucket).send().await {
        Ok(answer) => Ok(Some(Value::Bool(answer.status() == Some(&BucketVersioningStatus::Enabled)))),
        Err(e) if is_not_found(&e) => Err(Error::user(format!("the bucket {bucket} does not exist"))),
        Err(e) if emulator_cannot_answer(target, &e) => Ok(None),
        Err(e) => Err(e).sdk_context(|| format!("failed to read the versioning of bucket {bucket}")),
    }
}

/// The default encryption's algorithm, or null without one (S3 answers 404
/// ServerSideEncryptionConfigurationNotFoundError).
async fn encryption(target: &Target, s3: &Client, bucket: &str) -> Result<Option<Value>> {
    match s3.get_bucket_encryption().bucket(bucket).send().await {
        Ok(answer) => Ok(Some(
            answer
                .server_side_encryption_configuration()
                .and_then(|configuration| {
                    configuration.rules().iter().find_map(|rule| rule.apply_server_side_encryption_by_default())
                })
                .map_or(Value::Null, |default| Value::String(default.sse_algorithm().as_str().to_owned())),
        )),
        Err(e) if is_not_found(&e) => Ok(Some(Value::Null)),
        Err(e) if emulator_cannot_answer(target, &e) => Ok(None),
        Err(e) => Err(e).sdk_context(|| format!("failed to read the default encryption of bucket {bucket}")),
    }
}

/// True when all four public access block settings are on; false with any off or none set
/// (404 NoSuchPublicAccessBlockConfiguration).
async fn public_access_block(target: &Target, s3: &Client, bucket: &str) -> Result<Option<Value>> {
    match s3.get_public_access_block().bucket(bucket).send().await {
        Ok(answer) => Ok(Some(Value::Bool(answer.public_access_block_configuration().is_some_and(|c| {
            c.block_public_acls() == Some(true)
                && c.ignore_public_acls() == Some(true)
                && c.block_public_policy() == Some(true)
                && c.restrict_public_buckets() == Some(true)
        })))),
        Err(e) if is_not_found(&e) => Ok(Some(Value::Bool(false))),
        Err(e) if emulator_cannot_answer(target, &e) => Ok(None),
        Err(e) => Err(e).sdk_context(|| format!("failed to read the public access block of bucket {bucket}")),
    }
}

/// True when the bucket policy refuses plain HTTP; false without a policy (404 NoSuchBucketPolicy).
async fn tls_only(target: &Target, s3: &Client, bucket: &str) -> Result<Option<Value>> {
    match s3.get_bucket_policy().bucket(bucket).send().await {
        Ok(answer) => Ok(Some(Value::Bool(answer.policy().is_some_and(denies_plain_http)))),
        Err(e) if is_not_found(&e) => Ok(Some(Value::Bool(false))),
        Err(e) if emulator_cannot_answer(target, &e) => Ok(None),
        Err(e) => Err(e).sdk_context(|| format!("failed to read the policy of bucket {bucket}")),
    }
}

/// Whether a bucket policy holds a Deny statement conditioned on `aws:SecureTransport` being
/// false (`{"Bool": {"aws:SecureTransport": "false"}}`; condition keys are case-insensitive,
/// values may be a string, a boolean or a list).
pub fn denies_plain_http(policy: &str) -> bool {
    let Ok(document) = serde_json::from_str::<Value>(policy) else { return false };
    let statements: Vec<&Value> = match &document["Statement"] {
        Value::Array(list) => list.iter().collect(),
        single @ Value::Object(_) => vec![single],
        _ => Vec::new(),
    };
    statements.into_iter().any(|statement| {
        statement["Effect"].as_str() == Some("Deny")
            && statement["Condition"].as_object().is_some_and(|conditions| {
                conditions.iter().any(|(operator, keys)| {
                    (operator.eq_ignore_ascii_case("Bool") || operator.eq_ignore_ascii_case("BoolIfExists"))
                        && keys.as_object().is_some_and(|keys| {
                            keys.iter()
                                .any(|(key, value)| key.eq_ignore_ascii_case("aws:SecureTransport") && is_false(value))
                        })
                })
            })
    })
}

fn is_false(value: &Value) -> bool {
    match value {
        Value::Bool(b) => !b,
        Value::String(s) => s.eq_ignore_ascii_case("false"),
        Value::Array(values) => values.iter().any(is_false),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deny_on_insecure_transport_makes_the_bucket_tls_only() {
        let policy = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"ReadThroughCloudFront","Effect":"Allow","Principal":{"Service":"cloudfront.amazonaws.com"},
             "Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"},
            {"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"s3:*",
             "Resource":["arn:aws:s3:::site","arn:aws:s3:::site/*"],
             "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
        assert!(denies_plain_http(policy));
        let single = r#"{"Statement":{"Effect":"Deny","Condition":{"Bool":{"aws:securetransport":false}}}}"#;
        assert!(denies_plain_http(single), "one statement, a boolean, the key in another case");
        let listed = r#"{"Statement":[{"Effect":"Deny","Condition":{"Bool":{"aws:SecureTransport":["false"]}}}]}"#;
        assert!(denies_plain_http(listed));
    }

    #[test]
    fn an_allow_or_a_deny_of_secure_requests_is_not_tls_only() {
        let allow = r#"{"Statement":[{"Effect":"Allow","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
        assert!(!denies_plain_http(allow));
        let wrong_way = r#"{"Statement":[{"Effect":"Deny","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}"#;
        assert!(!denies_plain_http(wrong_way));
        let other = r#"{"Statement":[{"Effect":"Deny","Condition":{"StringEquals":{"aws:SecureTransport":"false"}}}]}"#;
        assert!(!denies_plain_http(other));
        assert!(!denies_plain_http("not json"));
    }
}
