//! Lambda: the function's versions and its `live` alias.
//!
//! Owns: publishing what CloudFormation left in `$LATEST` (after Lambda says the update is
//! done, guarded by the CodeSha256 being deployed), reading what a version runs (code, environment,
//! and a digest of its configuration), invoking a version with the smoke request, and moving
//! the alias. PublishVersion returns the newest version as it is when neither code nor
//! configuration changed since it was published (Lambda API reference, PublishVersion), so a
//! configuration-only change gets a version of its own and a no-op deploy gets the live one back.
//! Must not: decide whether a version may go live (deploy does, after the smoke test).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::client::Waiters as _;
use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::AliasRoutingConfiguration;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::aws::error::{SdkContext, is_not_found};
use crate::aws::secrets::OriginSecret;
use crate::error::{Error, Result};

pub const ALIAS: &str = "live";

/// The version the alias points to, or None when the alias does not exist yet.
pub async fn alias_version(lambda: &Client, function: &str) -> Result<Option<String>> {
    match lambda.get_alias().function_name(function).name(ALIAS).send().await {
        Ok(alias) => Ok(alias.function_version().map(str::to_owned)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e).sdk_context(|| format!("failed to read alias {function}:{ALIAS}")),
    }
}

/// What a version runs: its code, its environment variables, and a digest of the
/// configuration that decides its behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionConfiguration {
    pub version: String,
    /// The version's ARN (qualified): what the emulator looks the function up by to hand a
    /// locally run version its role's credentials.
    pub function_arn: String,
    pub code_sha256: String,
    pub environment: BTreeMap<String, String>,
    /// sha256 over what a published version freezes (GetFunctionConfiguration: environment,
    /// memory, timeout, architectures, role, runtime, handler, storage, layers, KMS key, tracing,
    /// dead-letter, VPC, logging) — not RevisionId, LastModified or State, which change without
    /// changing what runs.
    pub configuration_sha256: String,
    /// The log group of the version's LoggingConfig, when Lambda names one; without it Lambda
    /// writes to `/aws/lambda/<function name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
}

impl VersionConfiguration {
    pub fn from_output(output: &GetFunctionConfigurationOutput) -> Self {
        let environment: BTreeMap<String, String> = output
            .environment()
            .and_then(|env| env.variables())
            .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let described = serde_json::json!({
            "environment": environment,
            "memory": output.memory_size(),
            "timeout": output.timeout(),
            "architectures": output.architectures().iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            "role": output.role(),
            "runtime": output.runtime().map(|r| r.as_str()),
            "handler": output.handler(),
            "ephemeral_storage": output.ephemeral_storage().map(|e| e.size()),
            "layers": output.layers().iter().map(|l| l.arn()).collect::<Vec<_>>(),
            "kms_key": output.kms_key_arn(),
            "package_type": output.package_type().map(|p| p.as_str()),
            "tracing": output.tracing_config().and_then(|t| t.mode()).map(|m| m.as_str()),
            "dead_letter": output.dead_letter_config().and_then(|d| d.target_arn()),
            "vpc_subnets": output.vpc_config().map(|v| v.subnet_ids().to_vec()),
            "log_group": output.logging_config().and_then(|l| l.log_group()),
            "log_format": output.logging_config().and_then(|l| l.log_format()).map(|f| f.as_str()),
        });
        Self {
            version: output.version().unwrap_or_default().to_owned(),
            function_arn: output.function_arn().unwrap_or_default().to_owned(),
            code_sha256: output.code_sha256().unwrap_or_default().to_owned(),
            environment,
            configuration_sha256: hex::encode(Sha256::digest(described.to_string().as_bytes())),
            log_group: output.logging_config().and_then(|l| l.log_group()).map(str::to_owned),
        }
    }
}

pub async fn version_configuration(lambda: &Client, function: &str, version: &str) -> Result<VersionConfiguration> {
    let output = lambda
        .get_function_configuration()
        .function_name(function)
        .qualifier(version)
        .send()
        .await
        .sdk_context(|| format!("failed to read {function}:{version}"))?;
    Ok(VersionConfiguration::from_output(&output))
}

/// What a version runs, or None when the version does not exist (any other failure is an error).
pub async fn version_configuration_if_exists(
    lambda: &Client,
    function: &str,
    version: &str,
) -> Result<Option<VersionConfiguration>> {
    match lambda.get_function_configuration().function_name(function).qualifier(version).send().await {
        Ok(output) => Ok(Some(VersionConfiguration::from_output(&output))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e).sdk_context(|| format!("failed to read {function}:{version}")),
    }
}

/// Publishes `$LATEST` once Lambda has finished applying CloudFormation's update, and waits
/// until the version is Active. Returns the version's configuration (the existing version
/// when nothing changed since it was published).
pub async fn publish(
    lambda: &Client,
    function: &str,
    code_sha256: &str,
    wait: Duration,
) -> Result<VersionConfiguration> {
    // PublishVersion during an update fails with ResourceConflictException.
    lambda.wait_until_function_updated_v2().function_name(function).wait(wait).await.map_err(|e| {
        Error::Internal(anyhow::anyhow!("{function} did not finish updating within {} s: {e}", wait.as_secs()))
    })?;
    let latest = lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .sdk_context(|| format!("failed to read {function}"))?;
    if latest.code_sha256() != Some(code_sha256) {
        return Err(Error::user(format!(
            "{function}'s $LATEST code ({}) is not the code being deployed ({code_sha256}); another deploy changed it",
            latest.code_sha256().unwrap_or("unknown")
        )));
    }
    let mut request = lambda.publish_version().function_name(function).code_sha256(code_sha256);
    // Also guards the configuration: a concurrent change between the read and the publish fails.
    if let Some(revision) = latest.revision_id() {
        request = request.revision_id(revision);
    }
    let published = request.send().await.sdk_context(|| format!("failed to publish a version of {function}"))?;
    let version = published
        .version()
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("Lambda published a version of {function} without a number")))?
        .to_owned();
    // Invoking a version before it is Active fails.
    lambda.wait_until_published_version_active().function_name(function).qualifier(&version).wait(wait).await.map_err(
        |e| {
            Error::Internal(anyhow::anyhow!(
                "{function}:{version} did not become active within {} s: {e}",
                wait.as_secs()
            ))
        },
    )?;
    version_configuration(lambda, function, &version).await
}

/// The smoke request: `GET /api/health?deep=1` as API Gateway (payload v2) would send it after
/// CloudFront, with CloudFront's origin header when the stack has one.
pub fn health_event(origin: Option<&OriginSecret>) -> serde_json::Value {
    let mut event = serde_json::json!({
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
    });
    if let Some(origin) = origin {
        event["headers"][crate::aws::secrets::ORIGIN_HEADER] = serde_json::Value::String(origin.value().to_owned());
    }
    event
}

/// Invokes `version` on Lambda with the health request; Ok when it answers 200.
pub async fn smoke_test(lambda: &Client, function: &str, version: &str, origin: Option<&OriginSecret>) -> Result<()> {
    let output = lambda
        .invoke()
        .function_name(function)
        .qualifier(version)
        .payload(Blob::new(health_event(origin).to_string()))
        .send()
        .await
        .sdk_context(|| format!("failed to invoke {function}:{version}"))?;
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

/// Points the existing alias at `version`, all of its traffic: an empty
/// `AdditionalVersionWeights` removes any routing weight a canary left (UpdateAlias API
/// reference: RoutingConfig).
pub async fn move_alias(lambda: &Client, function: &str, version: &str) -> Result<()> {
    lambda
        .update_alias()
        .function_name(function)
        .name(ALIAS)
        .function_version(version)
        .routing_config(
            AliasRoutingConfiguration::builder().set_additional_version_weights(Some(HashMap::new())).build(),
        )
        .send()
        .await
        .sdk_context(|| format!("failed to move {function}:{ALIAS} to version {version}"))?;
    Ok(())
}

/// Keeps the alias on `primary` and sends `weight` (0–1) of its invocations to `canary`.
pub async fn set_canary_weight(
    lambda: &Client,
    function: &str,
    primary: &str,
    canary: &str,
    weight: f64,
) -> Result<()> {
    lambda
        .update_alias()
        .function_name(function)
        .name(ALIAS)
        .function_version(primary)
        .routing_config(
            AliasRoutingConfiguration::builder()
                .set_additional_version_weights(Some(HashMap::from([(canary.to_owned(), weight)])))
                .build(),
        )
        .send()
        .await
        .sdk_context(|| format!("failed to send {:.0}% of {function}:{ALIAS} to version {canary}", weight * 100.0))?;
    Ok(())
}

/// The alias as it routes now: its version and any extra version's share of traffic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AliasRouting {
    pub version: String,
    /// Version → share of invocations (0.0–1.0) sent there instead of `version`.
    pub weights: BTreeMap<String, f64>,
}

/// The alias's routing, or None when the alias does not exist yet.
pub async fn alias_routing(lambda: &Client, function: &str) -> Result<Option<AliasRouting>> {
    match lambda.get_alias().function_name(function).name(ALIAS).send().await {
        Ok(alias) => Ok(Some(AliasRouting {
            version: alias.function_version().unwrap_or_default().to_owned(),
            weights: alias
                .routing_config()
                .and_then(|r| r.additional_version_weights())
                .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
                .unwrap_or_default(),
        })),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e).sdk_context(|| format!("failed to read alias {function}:{ALIAS}")),
    }
}

/// The function's published versions (not `$LATEST`), oldest first.
pub async fn published_versions(lambda: &Client, function: &str) -> Result<Vec<String>> {
    let mut versions = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = lambda
            .list_versions_by_function()
            .function_name(function)
            .set_marker(marker.clone())
            .send()
            .await
            .sdk_context(|| format!("failed to list the versions of {function}"))?;
        versions
            .extend(page.versions().iter().filter_map(|v| v.version()).filter(|v| *v != "$LATEST").map(str::to_owned));
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    versions.sort_by_key(|v| v.parse::<u64>().unwrap_or(u64::MAX));
    Ok(versions)
}

/// Deletes one published version (DeleteFunction with a Qualifier). Lambda refuses to delete a
/// version an alias points to (DeleteFunction API reference), which guards the live one twice.
pub async fn delete_version(lambda: &Client, function: &str, version: &str) -> Result<()> {
    match lambda.delete_function().function_name(function).qualifier(version).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).sdk_context(|| format!("failed to delete {function}:{version}")),
    }
}

#[cfg(test)]
mod tests {
    //! Publishing against replayed Lambda answers.
    use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
    use aws_sdk_lambda::operation::publish_version::PublishVersionOutput;
    use aws_sdk_lambda::types::{EnvironmentResponse, FunctionConfiguration, LastUpdateStatus, State};
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

    use super::*;

    const CODE: &str = "Y29kZQ==";

    fn client(rules: &[&Rule]) -> Client {
        mock_client!(aws_sdk_lambda, RuleMode::Sequential, rules)
    }

    fn updated() -> Rule {
        mock!(Client::get_function).then_output(|| {
            GetFunctionOutput::builder()
                .configuration(
                    FunctionConfiguration::builder().last_update_status(LastUpdateStatus::Successful).build(),
                )
                .build()
        })
    }

    fn configuration(version: &str, code: &str, model: &str) -> GetFunctionConfigurationOutput {
        GetFunctionConfigurationOutput::builder()
            .version(version)
            .code_sha256(code)
            .revision_id("rev-1")
            .state(State::Active)
            .memory_size(256)
            .environment(EnvironmentResponse::builder().variables("LLM_MODEL_ID", model).build())
            .build()
    }

    #[tokio::test]
    async fn latest_is_published_once_updated_and_guarded_by_code_and_revision() {
        let latest = mock!(Client::get_function_configuration)
            .match_requests(|r| r.qualifier().is_none())
            .then_output(|| configuration("$LATEST", CODE, "model-two"));
        let published = mock!(Client::publish_version)
            .match_requests(|r| r.code_sha256() == Some(CODE) && r.revision_id() == Some("rev-1"))
            .then_output(|| PublishVersionOutput::builder().version("7").build());
        let active = mock!(Client::get_function_configuration)
            .match_requests(|r| r.qualifier() == Some("7"))
            .then_output(|| configuration("7", CODE, "model-two"));
        let described = mock!(Client::get_function_configuration)
            .match_requests(|r| r.qualifier() == Some("7"))
            .then_output(|| configuration("7", CODE, "model-two"));
        let updated = updated();
        let lambda = client(&[&updated, &latest, &published, &active, &described]);
        let version = publish(&lambda, "twin-api", CODE, Duration::from_secs(5)).await.expect("published");
        assert_eq!(version.version, "7");
        assert_eq!(version.environment["LLM_MODEL_ID"], "model-two");
        assert_eq!(updated.num_calls(), 1, "waited for the update before publishing");
        assert_eq!(published.num_calls(), 1);
    }

    #[tokio::test]
    async fn other_code_in_latest_is_never_published() {
        let updated = updated();
        let latest =
            mock!(Client::get_function_configuration).then_output(|| configuration("$LATEST", "b3RoZXI=", "m"));
        let lambda = client(&[&updated, &latest]);
        let error = publish(&lambda, "twin-api", CODE, Duration::from_secs(5)).await.expect_err("guarded");
        assert!(error.to_string().contains("another deploy changed it"), "{error}");
    }

    #[test]
    fn the_configuration_digest_ignores_what_changes_without_changing_behaviour() {
        let base = configuration("3", CODE, "model-one");
        let renamed = GetFunctionConfigurationOutput::builder()
            .version("4")
            .code_sha256(CODE)
            .revision_id("rev-9")
            .last_modified("2026-12-02T00:00:00Z")
            .state(State::Active)
            .memory_size(256)
            .environment(EnvironmentResponse::builder().variables("LLM_MODEL_ID", "model-one").build())
            .build();
        let digest = |c: &GetFunctionConfigurationOutput| VersionConfiguration::from_output(c).configuration_sha256;
        assert_eq!(digest(&base), digest(&renamed));
        assert_ne!(digest(&base), digest(&configuration("3", CODE, "model-two")), "an environment change counts");
        let bigger = GetFunctionConfigurationOutput::builder()
            .version("3")
            .code_sha256(CODE)
            .memory_size(512)
            .environment(EnvironmentResponse::builder().variables("LLM_MODEL_ID", "model-one").build())
            .build();
        assert_ne!(digest(&base), digest(&bigger), "memory counts");
    }

    #[tokio::test]
    async fn the_smoke_test_carries_cloudfronts_origin_header_when_the_stack_has_one() {
        use aws_sdk_lambda::operation::invoke::InvokeOutput;
        let origin = crate::aws::secrets::OriginSecret::new("origin-value".into());
        let event = health_event(Some(&origin));
        assert_eq!(event["headers"]["x-origin-verify"], "origin-value");
        assert!(health_event(None)["headers"].get("x-origin-verify").is_none());

        let invoke = mock!(Client::invoke)
            .match_requests(|r| {
                let sent: serde_json::Value =
                    r.payload().and_then(|p| serde_json::from_slice(p.as_ref()).ok()).unwrap_or_default();
                sent["headers"]["x-origin-verify"] == "origin-value" && r.qualifier() == Some("7")
            })
            .then_output(|| InvokeOutput::builder().payload(Blob::new(r#"{"statusCode":200,"body":"{}"}"#)).build());
        let lambda = mock_client!(aws_sdk_lambda, RuleMode::Sequential, &[&invoke]);
        smoke_test(&lambda, "twin-staging-api", "7", Some(&origin)).await.expect("healthy");
        assert_eq!(invoke.num_calls(), 1);
    }
}
