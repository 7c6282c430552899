//! The environment lock: `locks/<env>.json` in the artifacts bucket, created with
//! `If-None-Match: *` so exactly one deploy of an environment runs at a time. A second deploy
//! fails fast naming the holder; `--force-unlock` removes a lock left by a crashed deploy.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use crate::artifacts;
use crate::aws::error::{SdkContext, is_precondition_failed};
use crate::aws::s3;
use crate::error::{Error, Result};
use crate::output::Printer;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Holder {
    pub id: String,
    pub actor: String,
    pub host: String,
    pub pid: u32,
    pub since: String,
    pub git_sha: Option<String>,
}

impl Holder {
    pub fn current(actor: &str) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            actor: actor.to_owned(),
            host: hostname(),
            pid: std::process::id(),
            since: chrono::Utc::now().to_rfc3339(),
            git_sha: git_sha(),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// The commit being deployed: CI's variable, else `git rev-parse HEAD`.
pub fn git_sha() -> Option<String> {
    if let Ok(sha) = std::env::var("GITHUB_SHA") {
        return Some(sha);
    }
    let output = std::process::Command::new("git").args(["rev-parse", "HEAD"]).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[derive(Debug)]
pub struct EnvironmentLock {
    client: Client,
    bucket: String,
    key: String,
    holder: Holder,
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The lock's holder, None when there is no lock; an unreadable lock is an error.
async fn read_holder(client: &Client, bucket: &str, key: &str) -> Result<Option<Holder>> {
    let Some(bytes) = s3::get(client, bucket, key).await? else { return Ok(None) };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::user_with_hint(
            format!("the lock s3://{bucket}/{key} is not readable: {e}"),
            "if no deploy is running, rerun with --force-unlock",
        )
    })
}

impl EnvironmentLock {
    /// Takes the lock, or fails naming who holds it. A lock held by a process of this host
    /// that no longer exists (a deploy killed mid-way) is taken over with a warning.
    pub async fn acquire(
        client: Client,
        bucket: &str,
        environment: &str,
        holder: Holder,
        force: bool,
        printer: &Printer,
    ) -> Result<Self> {
        let key = artifacts::lock_key(environment);
        let existing = if force { None } else { read_holder(&client, bucket, &key).await? };
        let stale = match existing {
            Some(previous) if previous.host == holder.host && !process_alive(previous.pid) => {
                printer.warn(format!(
                    "taking over the lock of environment {environment}: its holder (pid {} on this host, since {}) is gone",
                    previous.pid, previous.since
                ));
                true
            }
            _ => false,
        };
        if force || stale {
            client
                .delete_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .sdk_context(|| format!("failed to remove lock s3://{bucket}/{key}"))?;
        }
        let body = serde_json::to_vec_pretty(&holder).map_err(anyhow::Error::from)?;
        let put = client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .if_none_match("*")
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Self { client, bucket: bucket.to_owned(), key, holder }),
            Err(e) if is_precondition_failed(&e) => {
                let message = match read_holder(&client, bucket, &key).await? {
                    Some(other) => format!(
                        "environment {environment} is locked by {} on {} (pid {}) since {}{}",
                        other.actor,
                        other.host,
                        other.pid,
                        other.since,
                        other.git_sha.map(|sha| format!(", deploying {sha}")).unwrap_or_default()
                    ),
                    None => format!("environment {environment} is locked (s3://{bucket}/{key})"),
                };
                Err(Error::user_with_hint(
                    message,
                    "wait for that deploy to finish; if it crashed, rerun with --force-unlock",
                ))
            }
            Err(e) => Err(e).sdk_context(|| format!("failed to write lock s3://{bucket}/{key}")),
        }
    }

    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Releases the lock if it is still ours.
    pub async fn release(self) -> Result<()> {
        match read_holder(&self.client, &self.bucket, &self.key).await? {
            Some(current) if current.id == self.holder.id => {
                self.client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .send()
                    .await
                    .sdk_context(|| format!("failed to release lock s3://{}/{}", self.bucket, self.key))?;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
