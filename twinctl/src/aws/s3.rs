//! S3 object helpers shared by the artifacts bucket, the memory bucket and the site.
//! Must not: know key layouts (artifacts.rs does) or decide what to upload.

use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::aws::error::{SdkContext, is_invalid_argument, is_not_found};
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

/// The copy source of one version of a key, URL-encoded as CopyObject requires.
pub fn copy_source(bucket: &str, key: &str, version_id: Option<&str>) -> String {
    const KEY: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');
    let key = percent_encoding::utf8_percent_encode(key, KEY);
    match version_id {
        Some(version) => format!("{bucket}/{key}?versionId={version}"),
        None => format!("{bucket}/{key}"),
    }
}

/// Makes `version_id` the key's current content again by copying it onto the key (the older
/// version itself stays where it is). A key already at that version is left alone.
pub async fn restore_version(
    s3: &Client,
    bucket: &str,
    key: &str,
    version_id: &str,
    content_type: &str,
    sha256: &str,
) -> Result<Written> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(head) if head.version_id() == Some(version_id) => {
            return Ok(Written { version_id: Some(version_id.to_owned()), uploaded: false });
        }
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(e).sdk_context(|| format!("failed to check s3://{bucket}/{key}")),
    }
    let copied = s3
        .copy_object()
        .bucket(bucket)
        .key(key)
        .copy_source(copy_source(bucket, key, Some(version_id)))
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .content_type(content_type)
        .metadata(SHA256_METADATA, sha256)
        .send()
        .await
        .sdk_context(|| format!("failed to restore s3://{bucket}/{key} to version {version_id}"))?;
    Ok(Written { version_id: copied.version_id().map(str::to_owned), uploaded: true })
}

/// What is left of one version of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionState {
    Gone,
    /// With the sha256 in its metadata (None for an object written without it).
    Present {
        sha256: Option<String>,
    },
}

impl VersionState {
    /// Present with this content (or with no digest to contradict it).
    pub fn holds(&self, sha256: &str) -> bool {
        match self {
            VersionState::Gone => false,
            VersionState::Present { sha256: found } => found.as_deref().is_none_or(|found| found == sha256),
        }
    }
}

/// Whether one version of a key still exists, and what it holds (HEAD with `versionId`).
pub async fn version_state(s3: &Client, bucket: &str, key: &str, version_id: &str) -> Result<VersionState> {
    match s3.head_object().bucket(bucket).key(key).version_id(version_id).send().await {
        Ok(head) => Ok(VersionState::Present { sha256: head.metadata().and_then(|m| m.get(SHA256_METADATA)).cloned() }),
        Err(e) if is_not_found(&e) || is_invalid_argument(&e) => Ok(VersionState::Gone),
        Err(e) => Err(e).sdk_context(|| format!("failed to check s3://{bucket}/{key}?versionId={version_id}")),
    }
}

/// Every page of ListObjectVersions under `prefix` (one request per page of up to 1,000).
pub async fn version_pages(
    s3: &Client,
    bucket: &str,
    prefix: Option<&str>,
) -> Result<Vec<aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput>> {
    let mut pages = Vec::new();
    let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .set_prefix(prefix.map(str::to_owned))
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .sdk_context(|| format!("failed to list the versions in s3://{bucket}"))?;
        let truncated = page.is_truncated() == Some(true);
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
        pages.push(page);
        if !truncated {
            return Ok(pages);
        }
    }
}

/// Every (key, version id) under `prefix`, delete markers excluded.
pub async fn all_versions(
    s3: &Client,
    bucket: &str,
    prefix: Option<&str>,
) -> Result<std::collections::BTreeSet<(String, String)>> {
    Ok(version_pages(s3, bucket, prefix)
        .await?
        .iter()
        .flat_map(|page| page.versions())
        .filter_map(|v| Some((v.key()?.to_owned(), v.version_id()?.to_owned())))
        .collect())
}

/// Every key under `prefix` (current objects).
pub async fn keys(s3: &Client, bucket: &str, prefix: &str) -> Result<std::collections::BTreeSet<String>> {
    let mut keys = std::collections::BTreeSet::new();
    let mut token: Option<String> = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.clone())
            .send()
            .await
            .sdk_context(|| format!("failed to list s3://{bucket}/{prefix}"))?;
        keys.extend(page.contents().iter().filter_map(|o| o.key()).map(str::to_owned));
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok(keys)
}

/// Deletes every version and delete marker under `prefix` (None: the whole bucket), so that
/// nothing of it can be restored and the bucket can be deleted. Returns how many were deleted; a
/// missing bucket has none. DeleteObjects takes up to 1,000 keys, each with its version id, and
/// reports per key (S3 API reference, DeleteObjects).
pub async fn delete_all_versions(s3: &Client, bucket: &str, prefix: Option<&str>) -> Result<usize> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let pages = match version_pages(s3, bucket, prefix).await {
        Ok(pages) => pages,
        Err(_) if !bucket_exists(s3, bucket).await? => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut deleted = 0;
    for page in pages {
        let versions = page.versions().iter().filter_map(|v| Some((v.key()?, v.version_id()?)));
        let markers = page.delete_markers().iter().filter_map(|m| Some((m.key()?, m.version_id()?)));
        let identifiers: Vec<ObjectIdentifier> = versions
            .chain(markers)
            .filter_map(|(key, version)| ObjectIdentifier::builder().key(key).version_id(version).build().ok())
            .collect();
        for batch in identifiers.chunks(1000) {
            let delete = Delete::builder()
                .set_objects(Some(batch.to_vec()))
                .quiet(true)
                .build()
                .map_err(|e| Error::Internal(anyhow::anyhow!("failed to build a DeleteObjects request: {e}")))?;
            let answer = s3
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .sdk_context(|| format!("failed to delete object versions in s3://{bucket}"))?;
            if let Some(failed) = answer.errors().first() {
                return Err(Error::Internal(anyhow::anyhow!(
                    "S3 did not delete s3://{bucket}/{} (version {}): {} {}; {} of {} failed",
                    failed.key().unwrap_or_default(),
                    failed.version_id().unwrap_or_default(),
                    failed.code().unwrap_or_default(),
                    failed.message().unwrap_or_default(),
                    answer.errors().len(),
                    batch.len()
                )));
            }
            deleted += batch.len();
        }
    }
    Ok(deleted)
}

/// Whether `bucket` exists (HeadBucket: 404 when it does not).
pub async fn bucket_exists(s3: &Client, bucket: &str) -> Result<bool> {
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(e).sdk_context(|| format!("failed to check bucket s3://{bucket}")),
    }
}

/// Empties `bucket` of every version, then deletes it; a bucket already gone counts as deleted.
/// Returns how many versions and delete markers were deleted.
pub async fn delete_bucket(s3: &Client, bucket: &str) -> Result<usize> {
    let deleted = delete_all_versions(s3, bucket, None).await?;
    match s3.delete_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(deleted),
        Err(e) if is_not_found(&e) => Ok(deleted),
        Err(e) => Err(e).sdk_context(|| format!("failed to delete bucket s3://{bucket}")),
    }
}

/// An S3 URL CloudFormation accepts as TemplateURL (virtual-hosted style).
pub fn https_url(bucket: &str, region: &str, key: &str) -> String {
    format!("https://{bucket}.s3.{region}.amazonaws.com/{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_url_encoded_with_their_version() {
        assert_eq!(copy_source("b", "dir/a b+c.html", Some("v1")), "b/dir/a%20b%2Bc.html?versionId=v1");
        assert_eq!(copy_source("b", "persona/me.txt", None), "b/persona/me.txt");
    }
}
