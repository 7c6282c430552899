//! Release manifests: what each deploy put where, kept in the artifacts bucket as
//! `releases/<env>/<id>.json`, with `releases/<env>/latest.json` pointing at the newest.
//! Read by `status` (and later `releases` and `rollback`).

use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use crate::error::Result;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub id: String,
    pub environment: String,
    pub started_at: String,
    pub finished_at: String,
    pub actor: String,
    pub host: String,
    pub git_sha: Option<String>,
    pub template_sha256: String,
    pub stack: String,
    pub function_version: Option<String>,
    pub code_sha256: String,
    pub site: Vec<SiteObject>,
    /// "succeeded" or "failed".
    pub outcome: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SiteObject {
    pub key: String,
    pub version_id: Option<String>,
}

pub fn new_id() -> String {
    format!("{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"), &uuid::Uuid::new_v4().simple().to_string()[..8])
}

pub async fn record(s3: &Client, bucket: &str, release: &Release) -> Result<()> {
    let body = serde_json::to_vec_pretty(release).map_err(anyhow::Error::from)?;
    for key in [
        format!("releases/{}/{}.json", release.environment, release.id),
        format!("releases/{}/latest.json", release.environment),
    ] {
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("failed to record release s3://{bucket}/{key}: {}", DisplayErrorContext(e)))?;
    }
    Ok(())
}

pub async fn latest(s3: &Client, bucket: &str, environment: &str) -> Result<Option<Release>> {
    let key = format!("releases/{environment}/latest.json");
    let object = match s3.get_object().bucket(bucket).key(&key).send().await {
        Ok(object) => object,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(anyhow::anyhow!("failed to read s3://{bucket}/{key}: {}", DisplayErrorContext(e)).into()),
    };
    let bytes = object.body.collect().await.map_err(anyhow::Error::from)?.into_bytes();
    Ok(serde_json::from_slice(&bytes).ok())
}
