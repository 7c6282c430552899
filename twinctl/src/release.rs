//! Release manifests: what each deploy (or rollback) put where, precisely enough to put it back.
//!
//! Kept in the artifacts bucket as `releases/<env>/<id>.json`, written once and never
//! rewritten (`If-None-Match: *`), and `releases/<env>/current.json`, which names the release
//! now serving. A failed deploy is recorded but never becomes current. Read by `status`, and by
//! `releases`, `rollback` and `verify`.
//! Must not: decide what to deploy; it records what the deploy state says.

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::artifacts;
use crate::aws::error::SdkContext;
use crate::aws::s3;
use crate::error::{Error, Result};

/// Bumped on any incompatible change of [`Release`].
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Deploy,
    Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub schema_version: u32,
    pub id: String,
    pub environment: String,
    pub kind: Kind,
    /// Fixed when recorded, never rewritten.
    pub outcome: Outcome,
    /// For a rollback: the deploy whose state it restored (when it restored an earlier
    /// rollback, that rollback's own `rolled_back_to`), so it always names a deploy.
    pub rolled_back_to: Option<String>,
    /// The release that was current when this one was recorded.
    pub previous: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub actor: String,
    pub host: String,
    pub git_sha: Option<String>,
    pub stack: String,
    /// The template is kept in the artifacts bucket as `templates/<sha256>.yaml`.
    pub template_sha256: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub function: Option<FunctionRecord>,
    pub persona: Option<ObjectRecord>,
    pub site: Vec<SiteObject>,
    /// Site keys uploaded, re-described or deleted by this release.
    pub site_changed: usize,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FunctionRecord {
    pub name: String,
    pub version: String,
    pub code_sha256: String,
    pub configuration_sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ObjectRecord {
    pub key: String,
    pub version_id: Option<String>,
    pub sha256: String,
}

/// One object of the site as this release left it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SiteObject {
    pub key: String,
    pub version_id: Option<String>,
    pub sha256: String,
    pub content_type: String,
    pub cache_control: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Pointer {
    schema_version: u32,
    release: String,
}

/// A release id: the UTC time to the millisecond (so ids sort by age, also for a rollback
/// recorded within a second of the deploy before it), then 8 random hex digits.
pub fn new_id() -> String {
    format!("{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ"), &uuid::Uuid::new_v4().simple().to_string()[..8])
}

fn parse(key: &str, bytes: &[u8]) -> Result<Release> {
    let release: Release = serde_json::from_slice(bytes).map_err(|e| {
        Error::user(format!("the release manifest {key} is not readable (schema {SCHEMA_VERSION} expected): {e}"))
    })?;
    if release.schema_version != SCHEMA_VERSION {
        return Err(Error::user(format!(
            "the release manifest {key} has schema {}; this twinctl reads {SCHEMA_VERSION}",
            release.schema_version
        )));
    }
    Ok(release)
}

/// Records a release (once) and, when it succeeded, makes it current.
pub async fn record(client: &Client, bucket: &str, release: &Release) -> Result<()> {
    let key = artifacts::release_key(&release.environment, &release.id);
    let body = serde_json::to_vec_pretty(release).map_err(anyhow::Error::from)?;
    client
        .put_object()
        .bucket(bucket)
        .key(&key)
        .if_none_match("*")
        .content_type("application/json")
        .body(ByteStream::from(body))
        .send()
        .await
        .sdk_context(|| format!("failed to record release s3://{bucket}/{key}"))?;
    if release.outcome == Outcome::Succeeded {
        let pointer = Pointer { schema_version: SCHEMA_VERSION, release: release.id.clone() };
        let key = artifacts::current_release_key(&release.environment);
        client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(serde_json::to_vec_pretty(&pointer).map_err(anyhow::Error::from)?))
            .send()
            .await
            .sdk_context(|| format!("failed to write s3://{bucket}/{key}"))?;
    }
    Ok(())
}

/// The marker a deploy or rollback puts before it writes to the site and removes once its
/// release is recorded. While it is there — a command was killed, or could not record what it
/// did — the current release's manifest may not describe the bucket, and a rollback reads the
/// bucket instead of trusting it.
#[derive(Debug)]
pub struct Writing;

impl Writing {
    pub async fn mark(client: &Client, bucket: &str, environment: &str, release_id: &str) -> Result<()> {
        let key = artifacts::writing_marker_key(environment);
        client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("text/plain")
            .body(ByteStream::from(release_id.as_bytes().to_vec()))
            .send()
            .await
            .sdk_context(|| format!("failed to write s3://{bucket}/{key}"))?;
        Ok(())
    }

    pub async fn clear(client: &Client, bucket: &str, environment: &str) -> Result<()> {
        let key = artifacts::writing_marker_key(environment);
        client
            .delete_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .sdk_context(|| format!("failed to delete s3://{bucket}/{key}"))?;
        Ok(())
    }

    pub async fn present(client: &Client, bucket: &str, environment: &str) -> Result<bool> {
        s3::exists(client, bucket, &artifacts::writing_marker_key(environment)).await
    }
}

/// One release, or None when there is no such id.
pub async fn get(client: &Client, bucket: &str, environment: &str, id: &str) -> Result<Option<Release>> {
    let key = artifacts::release_key(environment, id);
    match s3::get(client, bucket, &key).await? {
        Some(bytes) => parse(&key, &bytes).map(Some),
        None => Ok(None),
    }
}

/// The release now serving, or None before the first successful deploy.
pub async fn current(client: &Client, bucket: &str, environment: &str) -> Result<Option<Release>> {
    let key = artifacts::current_release_key(environment);
    let Some(bytes) = s3::get(client, bucket, &key).await? else { return Ok(None) };
    let pointer: Pointer = serde_json::from_slice(&bytes)
        .map_err(|e| Error::user(format!("the release pointer s3://{bucket}/{key} is not readable: {e}")))?;
    match get(client, bucket, environment, &pointer.release).await? {
        Some(release) => Ok(Some(release)),
        None => {
            Err(Error::user(format!("s3://{bucket}/{key} names release {}, which does not exist", pointer.release)))
        }
    }
}

/// The newest `limit` releases of the environment (all with None), newest first: one listing,
/// then one read per release returned.
pub async fn list(client: &Client, bucket: &str, environment: &str, limit: Option<usize>) -> Result<Vec<Release>> {
    let keys = keys(client, bucket, environment).await?;
    let wanted = limit.unwrap_or(keys.len()).min(keys.len());
    let mut releases: Vec<Release> = futures_util::stream::iter(keys[..wanted].iter().map(|key| async move {
        Ok::<_, Error>(match s3::get(client, bucket, key).await? {
            Some(bytes) => Some(parse(key, &bytes)?),
            None => None,
        })
    }))
    .buffered(8)
    .try_collect::<Vec<_>>()
    .await?
    .into_iter()
    .flatten()
    .collect();
    releases.sort_by(|a, b| b.id.cmp(&a.id));
    Ok(releases)
}

/// The newest release, succeeded or not (one listing and one read).
pub async fn latest(client: &Client, bucket: &str, environment: &str) -> Result<Option<Release>> {
    let Some(key) = keys(client, bucket, environment).await?.into_iter().next() else { return Ok(None) };
    match s3::get(client, bucket, &key).await? {
        Some(bytes) => parse(&key, &bytes).map(Some),
        None => Ok(None),
    }
}

/// The manifests' keys (not the pointer), newest first.
async fn keys(client: &Client, bucket: &str, environment: &str) -> Result<Vec<String>> {
    let current_key = artifacts::current_release_key(environment);
    let mut keys: Vec<String> = s3::keys(client, bucket, &artifacts::releases_prefix(environment))
        .await?
        .into_iter()
        .filter(|k| *k != current_key && k.ends_with(".json"))
        .collect();
    // Ids start with the UTC time, so keys sort by age.
    keys.sort_by(|a, b| b.cmp(a));
    Ok(keys)
}
