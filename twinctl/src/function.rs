//! The function's versions and its `live` alias.
//!
//! Owns: publishing a version of the code CloudFormation just deployed (guarded by its
//! CodeSha256, so a concurrent change to $LATEST cannot be published by mistake), reusing a
//! version that already holds the same code, the smoke test of that version, and moving the
//! alias only after the smoke test passed.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use std::collections::BTreeMap;

use crate::error::{Error, Result};

pub const ALIAS: &str = "live";

/// The version the alias points to, or None when the alias does not exist yet.
pub async fn alias_version(lambda: &Client, function: &str) -> Result<Option<String>> {
    match lambda.get_alias().function_name(function).name(ALIAS).send().await {
        Ok(alias) => Ok(alias.function_version().map(str::to_owned)),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(anyhow::anyhow!("failed to read alias {function}:{ALIAS}: {}", DisplayErrorContext(e)).into()),
    }
}

/// A published version holding `code_sha256`, publishing one if none does.
/// Returns the version and whether it was published now.
pub async fn ensure_version(lambda: &Client, function: &str, code_sha256: &str) -> Result<(String, bool)> {
    let mut marker: Option<String> = None;
    loop {
        let page = lambda
            .list_versions_by_function()
            .function_name(function)
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("failed to list versions of {function}: {}", DisplayErrorContext(e)))?;
        let existing = page
            .versions()
            .iter()
            .filter(|v| v.version() != Some("$LATEST"))
            .filter(|v| v.code_sha256() == Some(code_sha256))
            .filter_map(|v| v.version())
            .max_by_key(|v| v.parse::<u64>().unwrap_or(0));
        if let Some(version) = existing {
            return Ok((version.to_owned(), false));
        }
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    let latest = lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("failed to read {function}: {}", DisplayErrorContext(e)))?;
    if latest.code_sha256() != Some(code_sha256) {
        return Err(Error::user(format!(
            "{function}'s $LATEST code ({}) is not the code being deployed ({code_sha256}); another deploy changed it",
            latest.code_sha256().unwrap_or("unknown")
        )));
    }
    let published = lambda
        .publish_version()
        .function_name(function)
        .code_sha256(code_sha256)
        .description(format!("twinctl {}", chrono::Utc::now().to_rfc3339()))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("failed to publish a version of {function}: {}", DisplayErrorContext(e)))?;
    let version = published
        .version()
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("Lambda published a version of {function} without a number")))?;
    Ok((version.to_owned(), true))
}

/// What a published version runs: its code and its environment variables (what `serve local`
/// and the local smoke test start it with, and what `diff` compares).
#[derive(Debug, Clone)]
pub struct VersionConfiguration {
    pub code_sha256: Option<String>,
    pub environment: BTreeMap<String, String>,
}

pub async fn version_configuration(lambda: &Client, function: &str, version: &str) -> Result<VersionConfiguration> {
    let configuration = lambda
        .get_function_configuration()
        .function_name(function)
        .qualifier(version)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("failed to read {function}:{version}: {}", DisplayErrorContext(e)))?;
    let environment = configuration
        .environment()
        .and_then(|env| env.variables())
        .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok(VersionConfiguration { code_sha256: configuration.code_sha256().map(str::to_owned), environment })
}

/// The smoke request: `GET /api/health?deep=1` as API Gateway (payload v2) would send it.
pub fn health_event() -> serde_json::Value {
    serde_json::json!({
        "version": "2.0",
        "routeKey": "GET /api/health",
        "rawPath": "/api/health",
        "rawQueryString": "deep=1",
        "queryStringParameters": {"deep": "1"},
        "headers": {"host": "twinctl-smoke-test", "x-correlation-id": "twinctl-smoke-test"},
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "twinctl",
            "domainName": "twinctl-smoke-test",
            "domainPrefix": "twinctl",
            "http": {"method": "GET", "path": "/api/health", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "twinctl"},
            "requestId": "twinctl-smoke-test",
            "routeKey": "GET /api/health",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 0
        },
        "isBase64Encoded": false
    })
}

/// Invokes `version` on Lambda with the health request; Ok when it answers 200.
pub async fn smoke_test_on_lambda(lambda: &Client, function: &str, version: &str) -> Result<()> {
    let output = lambda
        .invoke()
        .function_name(function)
        .qualifier(version)
        .payload(Blob::new(health_event().to_string()))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("failed to invoke {function}:{version}: {}", DisplayErrorContext(e)))?;
    if let Some(error) = output.function_error() {
        let payload = output.payload().map(|p| String::from_utf8_lossy(p.as_ref()).into_owned()).unwrap_or_default();
        return Err(Error::user(format!("smoke test: {function}:{version} failed ({error}): {payload}")));
    }
    let payload: serde_json::Value =
        output.payload().and_then(|p| serde_json::from_slice(p.as_ref()).ok()).unwrap_or_default();
    match payload["statusCode"].as_u64() {
        Some(200) => Ok(()),
        other => Err(Error::user(format!(
            "smoke test: {function}:{version} answered {} to GET /api/health?deep=1: {}",
            other.map(|s| s.to_string()).unwrap_or_else(|| "no status".into()),
            payload["body"].as_str().unwrap_or_default()
        ))),
    }
}

/// Points the alias at `version` (creating it if CloudFormation has not).
pub async fn move_alias(lambda: &Client, function: &str, version: &str) -> Result<()> {
    lambda.update_alias().function_name(function).name(ALIAS).function_version(version).send().await.map_err(|e| {
        anyhow::anyhow!("failed to move {function}:{ALIAS} to version {version}: {}", DisplayErrorContext(e))
    })?;
    Ok(())
}
