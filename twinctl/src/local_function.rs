//! Runs a deployed function version on this machine, against the emulator.
//!
//! The emulator stores functions but cannot run them (no Docker here), so for the local
//! environment "invoke the version" means: fetch that version's zip from the artifacts bucket
//! by its CodeSha256, unpack `bootstrap`, and start it as a local HTTP server with the
//! version's own environment variables and `AWS_ENDPOINT_URL` pointing at the emulator.
//! Like Lambda, it runs as the function's execution role: the emulator, standing in for the
//! Lambda service, hands over that role's session keys (emulator/twin_emulator/lambda_credentials.py),
//! so a version is held to its own role's policies, never the deployer's.
//! Like Lambda, it logs JSON lines (unless the version's own `LOG_FORMAT` says otherwise), and
//! they end up in the function's log group, in a stream named as Lambda names them, written with
//! the role's session as the Lambda service writes them (`crate::logs::Shipper`, best-effort);
//! the local log file keeps them too (start-up failures are read from it).
//! Used by the local smoke test, canary probes and `serve local`. The function exits when this
//! process does, however it ends (it watches the pipe on its standard input).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::process::{Child, Command};

use crate::artifacts;
use crate::aws::lambda::VersionConfiguration;
use crate::aws::secrets::{ORIGIN_HEADER, OriginSecret};
use crate::aws::{Aws, SdkContext};
use crate::error::{Error, Result};
use crate::logs;

/// The host's certificate-store variables a locally run function inherits.
const TRUST_STORE_VARIABLES: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];

#[derive(Debug)]
pub struct LocalFunction {
    child: Child,
    pub url: String,
    /// The client every request to this function goes through: it sends the origin header
    /// CloudFront adds to everything it forwards to the API (`OriginVerifySecretArn`), so the
    /// smoke test, the canary's probes and `serve` reach a function outside `local` as
    /// CloudFront would.
    pub client: reqwest::Client,
    pub log: PathBuf,
    /// Ships the log file's lines to the function's log group.
    logs: logs::Shipper,
}

/// A client that sends `origin` as CloudFront's origin header on every request.
fn client_with_origin(origin: Option<&OriginSecret>) -> Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(origin) = origin {
        let mut value = reqwest::header::HeaderValue::from_str(origin.value())
            .map_err(|_| Error::user("the origin secret is not a valid header value"))?;
        value.set_sensitive(true);
        headers.insert(ORIGIN_HEADER, value);
    }
    Ok(reqwest::Client::builder().default_headers(headers).build().context("failed to build an HTTP client")?)
}

/// Downloads (once) and unpacks the version's binary under `cache_dir/<sha>/bootstrap`.
async fn binary(aws: &Aws, bucket: &str, code_sha256: &str, cache_dir: &Path) -> Result<PathBuf> {
    let key = artifacts::function_key_for_code(code_sha256)?;
    let dir = cache_dir.join(key.trim_start_matches("functions/").trim_end_matches(".zip"));
    let bootstrap = dir.join("bootstrap");
    if bootstrap.is_file() {
        return Ok(bootstrap);
    }
    let object = aws
        .s3()
        .get_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .sdk_context(|| format!("failed to get s3://{bucket}/{key}"))?;
    let bytes = object.body.collect().await.context("failed to download the function zip")?.into_bytes();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).context("the function zip is unreadable")?;
    let mut entry = archive.by_name("bootstrap").context("the function zip has no bootstrap")?;
    let mut contents = Vec::new();
    entry.read_to_end(&mut contents).context("failed to unpack bootstrap")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let temporary = dir.join(format!("bootstrap.{}.tmp", std::process::id()));
    std::fs::write(&temporary, &contents).with_context(|| format!("failed to write {}", temporary.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("failed to make {} executable", temporary.display()))?;
    }
    std::fs::rename(&temporary, &bootstrap).with_context(|| format!("failed to place {}", bootstrap.display()))?;
    Ok(bootstrap)
}

/// The session keys Lambda would give the function: its execution role's.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
}

async fn role_credentials(endpoint: &str, region: &str, function_arn: &str) -> Result<RoleCredentials> {
    let url = format!("{}/moto-api/twin/lambda/credentials", endpoint.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .json(&serde_json::json!({"FunctionName": function_arn, "Region": region}))
        .send()
        .await
        .with_context(|| format!("failed to ask the emulator for {function_arn}'s role credentials"))?;
    let status = response.status();
    let body = response.text().await.context("failed to read the emulator's answer")?;
    if !status.is_success() {
        return Err(Error::user_with_hint(
            format!("the emulator gave no role credentials for {function_arn} ({status}): {body}"),
            "restart the emulator from this checkout (scripts/emulator stop && scripts/emulator start)",
        ));
    }
    Ok(serde_json::from_str(&body).context("the emulator's role credentials are not JSON")?)
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("failed to find a free port")?;
    Ok(listener.local_addr().context("failed to read the free port")?.port())
}

impl LocalFunction {
    /// Starts the version and waits until `/api/health` answers 200.
    pub async fn start(
        aws: &Aws,
        artifacts_bucket: &str,
        version: &VersionConfiguration,
        work_dir: &Path,
        origin: Option<&OriginSecret>,
    ) -> Result<Self> {
        let client = client_with_origin(origin)?;
        let endpoint = aws
            .endpoint_url
            .clone()
            .ok_or_else(|| Error::user("a function runs locally only against an emulator endpoint"))?;
        let binary = binary(aws, artifacts_bucket, &version.code_sha256, &work_dir.join("functions")).await?;
        let role = role_credentials(&endpoint, &aws.region, &version.function_arn).await?;
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}");
        let log = work_dir.join(format!("function-{port}.log"));
        let log_file = std::fs::File::create(&log).with_context(|| format!("failed to create {}", log.display()))?;

        let mut command = Command::new(&binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            // The function trusts what this machine trusts, as on Lambda it trusts the system's
            // store: a certificate bundle named for this machine (SSL_CERT_FILE, SSL_CERT_DIR, as
            // rustls-native-certs reads them) applies to it too.
            .envs(TRUST_STORE_VARIABLES.iter().filter_map(|name| Some((*name, std::env::var_os(name)?))))
            .envs(&version.environment)
            .env("TWIN_LISTEN", format!("127.0.0.1:{port}"))
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_REGION", &aws.region)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", &role.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &role.secret_access_key)
            .env("AWS_SESSION_TOKEN", &role.session_token)
            // On Lambda the runtime logs JSON (the template sets LOG_FORMAT=json, and JSON is its
            // default there); locally its default would be text.
            .env("LOG_FORMAT", version.environment.get("LOG_FORMAT").map_or("json", String::as_str))
            // The child's stdin is a pipe we never write to and never close: when this process
            // dies, even by SIGKILL, the kernel closes it and the function exits.
            .env("TWIN_EXIT_WITH_STDIN", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true);
        let child = command.spawn().with_context(|| format!("failed to start {}", binary.display()))?;
        let shipper = logs::Shipper::start(
            aws.logs_as(aws_sdk_cloudwatchlogs::config::Credentials::new(
                role.access_key_id,
                role.secret_access_key,
                Some(role.session_token),
                None,
                "twin-function-role",
            )),
            version.log_group.clone().unwrap_or_else(|| logs::default_log_group(&version.function_arn)),
            logs::lambda_stream_name(&version.version, chrono::Utc::now()),
            log.clone(),
        );
        let mut function = LocalFunction { child, url, client, log, logs: shipper };
        function.wait_until_healthy().await?;
        Ok(function)
    }

    async fn wait_until_healthy(&mut self) -> Result<()> {
        let client = self.client.clone();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                return Err(Error::user(format!("the function exited during start-up ({status}):\n{log}")));
            }
            if let Ok(response) = client.get(format!("{}/api/health", self.url)).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(15) {
                return Err(Error::user(format!(
                    "the function did not answer within 15 s; log: {}",
                    self.log.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `GET /api/health?deep=1`: Ok when the version answers 200.
    pub async fn smoke_test(&self) -> Result<()> {
        let response = self
            .client
            .get(format!("{}/api/health?deep=1", self.url))
            .header("x-correlation-id", "twinctl-smoke-test")
            .send()
            .await
            .context("the smoke request failed")?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            Ok(())
        } else {
            Err(Error::user(format!("smoke test: GET /api/health?deep=1 answered {status}: {body}")))
        }
    }

    /// Stops the function, then ships its last lines.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        self.logs.finish().await;
    }
}
