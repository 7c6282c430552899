//! S3 object helpers shared by the artifacts bucket, the memory bucket and the site.
//! Must not: know key layouts (artifacts.rs does) or decide what to upload.

use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::aws::error::{SdkContext, is_not_found};
use crate::error::{Error, Result};

/// Object metadata key holding the hex sha256 of the body: S3's ETag is an MD5 only for
/// single-part uploads without SSE-KMS (S3 API reference, Common response headers: ETag).
pub const SHA256_METADATA: &str = "sha256";

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

pub async fn exists(s3: &Client, bucket: &str, key: &str) -> Result<bool> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(e).sdk_context(|| format!("failed to check s3://{bucket}/{key}")),
    }
}

/// Uploads a file unless the key already exists (content-addressed keys).
pub async fn put_file_if_absent(s3: &Client, bucket: &str, key: &str, path: &Path, content_type: &str) -> Result<bool> {
    if exists(s3, bucket, key).await? {
        return Ok(false);
    }
    let body = ByteStream::from_path(path)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("failed to read {}: {e}", path.display())))?;
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(body)
        .send()
        .await
        .sdk_context(|| format!("failed to upload s3://{bucket}/{key}"))?;
    Ok(true)
}

/// Uploads bytes unless the key already exists (content-addressed keys).
pub async fn put_bytes_if_absent(
    s3: &Client,
    bucket: &str,
    key: &str,
    body: &[u8],
    content_type: &str,
) -> Result<bool> {
    if exists(s3, bucket, key).await? {
        return Ok(false);
    }
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .sdk_context(|| format!("failed to upload s3://{bucket}/{key}"))?;
    Ok(true)
}

/// A stored object's version: (version id, whether it was written now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub version_id: Option<String>,
    pub uploaded: bool,
}

/// Puts an object unless an object with the same sha256 (recorded in its metadata) is there.
pub async fn put_if_changed(
    s3: &Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> Result<Written> {
    let sha256 = sha256_hex(&body);
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(head) if head.metadata().and_then(|m| m.get(SHA256_METADATA)) == Some(&sha256) => {
            return Ok(Written { version_id: head.version_id().map(str::to_owned), uploaded: false });
        }
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(e).sdk_context(|| format!("failed to check s3://{bucket}/{key}")),
    }
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .metadata(SHA256_METADATA, &sha256)
        .body(ByteStream::from(body))
        .send()
        .await
        .sdk_context(|| format!("failed to upload s3://{bucket}/{key}"))?;
    Ok(Written { version_id: put.version_id().map(str::to_owned), uploaded: true })
}

/// The object's body, or None when the key does not exist.
pub async fn get(s3: &Client, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
    let object = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(object) => object,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(e).sdk_context(|| format!("failed to read s3://{bucket}/{key}")),
    };
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("failed to read s3://{bucket}/{key}: {e}")))?
        .into_bytes();
    Ok(Some(bytes.to_vec()))
}

/// An S3 URL CloudFormation accepts as TemplateURL (virtual-hosted style).
pub fn https_url(bucket: &str, region: &str, key: &str) -> String {
    format!("https://{bucket}.s3.{region}.amazonaws.com/{key}")
}
