//! Site sync: the built frontend into the frontend bucket, uploading only what changed.
//!
//! Owns: the comparison (MD5 of each local file against the bucket's ETag — the bucket uses
//! SSE-S3, whose ETags are MD5s of single-part objects), the order (new and changed assets
//! first, then HTML, deletions last, so a visitor never gets a page whose assets are not there
//! yet), Content-Type by extension and Cache-Control by the configured rules, parallel
//! uploads, the per-environment runtime configuration file, and which paths need invalidating.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use futures_util::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use serde::Serialize;

use crate::config::CacheRule;
use crate::error::{Error, Result};
use crate::release::SiteObject;

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const NO_CACHE: &str = "no-cache";

/// Cache-Control for a site path: the first matching configured rule, else the defaults
/// (Next.js's content-hashed `_next/static/` assets are immutable; everything else, HTML and
/// other entry points included, is revalidated).
#[derive(Debug)]
pub struct CachePolicy {
    rules: Vec<(globset::GlobMatcher, String)>,
}

impl CachePolicy {
    pub fn new(rules: &[CacheRule]) -> Result<Self> {
        let mut compiled = Vec::new();
        for rule in rules {
            let glob = globset::Glob::new(&rule.glob)
                .map_err(|e| Error::user(format!("frontend cache glob {:?}: {e}", rule.glob)))?;
            compiled.push((glob.compile_matcher(), rule.cache_control.clone()));
        }
        for (glob, value) in [("_next/static/**", IMMUTABLE), ("**/*.html", NO_CACHE)] {
            let glob = globset::Glob::new(glob).map_err(|e| Error::Internal(e.into()))?;
            compiled.push((glob.compile_matcher(), value.to_owned()));
        }
        Ok(Self { rules: compiled })
    }

    pub fn for_key(&self, key: &str) -> &str {
        self.rules.iter().find(|(glob, _)| glob.is_match(key)).map(|(_, value)| value.as_str()).unwrap_or(NO_CACHE)
    }
}

#[derive(Debug, Clone)]
struct LocalFile {
    key: String,
    path: Option<PathBuf>,
    /// Generated content (the runtime configuration file).
    body: Option<Vec<u8>>,
    md5: String,
}

#[derive(Debug, Clone)]
struct RemoteObject {
    etag: String,
    version_id: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct SyncReport {
    pub uploaded: usize,
    pub skipped: usize,
    pub deleted: usize,
    pub uploaded_keys: Vec<String>,
    pub deleted_keys: Vec<String>,
    /// Paths to invalidate: changed or deleted objects that are not immutable.
    pub invalidate: Vec<String>,
    #[serde(skip)]
    pub objects: Vec<SiteObject>,
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn local_files(site: &Path, runtime_config: Option<(&str, Vec<u8>)>) -> Result<Vec<LocalFile>> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(site).follow_links(false) {
        let entry = entry.with_context(|| format!("failed to walk {}", site.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = entry.path().strip_prefix(site).unwrap_or(entry.path());
        let key = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        let bytes =
            std::fs::read(entry.path()).with_context(|| format!("failed to read {}", entry.path().display()))?;
        files.push(LocalFile { key, path: Some(entry.into_path()), body: None, md5: md5_hex(&bytes) });
    }
    if let Some((key, body)) = runtime_config {
        files.retain(|f| f.key != key);
        files.push(LocalFile { key: key.to_owned(), path: None, md5: md5_hex(&body), body: Some(body) });
    }
    files.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(files)
}

async fn remote_objects(s3: &Client, bucket: &str) -> Result<BTreeMap<String, RemoteObject>> {
    let mut objects = BTreeMap::new();
    let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("failed to list s3://{bucket}: {}", DisplayErrorContext(e)))?;
        for version in page.versions() {
            if version.is_latest() == Some(true)
                && let Some(key) = version.key()
            {
                objects.insert(
                    key.to_owned(),
                    RemoteObject {
                        etag: version.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
                        version_id: version.version_id().map(str::to_owned),
                    },
                );
            }
        }
        // A key whose latest version is a delete marker is gone.
        for marker in page.delete_markers() {
            if marker.is_latest() == Some(true)
                && let Some(key) = marker.key()
            {
                objects.remove(key);
            }
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
    Ok(objects)
}

fn is_html(key: &str) -> bool {
    key.ends_with(".html") || key.ends_with(".htm")
}

/// The plan, without side effects: (uploads in order, unchanged, deletions).
fn plan(local: &[LocalFile], remote: &BTreeMap<String, RemoteObject>) -> (Vec<LocalFile>, Vec<LocalFile>, Vec<String>) {
    let mut uploads: Vec<LocalFile> = Vec::new();
    let mut unchanged = Vec::new();
    for file in local {
        match remote.get(&file.key) {
            Some(object) if object.etag == file.md5 => unchanged.push(file.clone()),
            _ => uploads.push(file.clone()),
        }
    }
    // Assets before the pages that reference them.
    uploads.sort_by_key(|f| (is_html(&f.key), f.key.clone()));
    let deletions = remote.keys().filter(|key| !local.iter().any(|f| &f.key == *key)).cloned().collect();
    (uploads, unchanged, deletions)
}

/// What a sync would do, without doing it (`twinctl diff`).
#[derive(Debug, Default, Serialize)]
pub struct SitePreview {
    pub new: Vec<String>,
    pub changed: Vec<String>,
    pub deleted: Vec<String>,
    pub unchanged: usize,
}

impl SitePreview {
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.changed.is_empty() && self.deleted.is_empty()
    }
}

pub async fn preview(
    s3: &Client,
    bucket: &str,
    site: &Path,
    runtime_config: Option<(&str, Vec<u8>)>,
) -> Result<SitePreview> {
    let local = local_files(site, runtime_config)?;
    let remote = remote_objects(s3, bucket).await?;
    let (uploads, unchanged, deleted) = plan(&local, &remote);
    let (changed, new): (Vec<String>, Vec<String>) =
        uploads.into_iter().map(|f| f.key).partition(|key| remote.contains_key(key));
    Ok(SitePreview { new, changed, deleted, unchanged: unchanged.len() })
}

/// Syncs `site` (plus the generated runtime configuration) into `bucket`.
pub async fn sync(
    s3: &Client,
    bucket: &str,
    site: &Path,
    runtime_config: Option<(&str, Vec<u8>)>,
    cache: &CachePolicy,
    parallel: usize,
    progress: &indicatif::ProgressBar,
) -> Result<SyncReport> {
    let local = local_files(site, runtime_config)?;
    let remote = remote_objects(s3, bucket).await?;
    let (uploads, unchanged, deletions) = plan(&local, &remote);
    progress.set_length((uploads.len() + deletions.len()) as u64);

    let mut report = SyncReport { skipped: unchanged.len(), ..SyncReport::default() };
    for file in &unchanged {
        report.objects.push(SiteObject { key: file.key.clone(), version_id: remote[&file.key].version_id.clone() });
    }
    let (assets, pages): (Vec<LocalFile>, Vec<LocalFile>) = uploads.into_iter().partition(|f| !is_html(&f.key));
    for batch in [assets, pages] {
        let results: Vec<(String, Option<String>)> = futures_util::stream::iter(batch.into_iter().map(|file| {
            let cache_control = cache.for_key(&file.key).to_owned();
            async move {
                let body = match (&file.body, &file.path) {
                    (Some(body), _) => ByteStream::from(body.clone()),
                    (None, Some(path)) => ByteStream::from_path(path)
                        .await
                        .with_context(|| format!("failed to read {}", path.display()))?,
                    (None, None) => ByteStream::from_static(b""),
                };
                let content_type = mime_guess::from_path(&file.key).first_or_octet_stream().essence_str().to_owned();
                let output = s3
                    .put_object()
                    .bucket(bucket)
                    .key(&file.key)
                    .content_type(content_type)
                    .cache_control(&cache_control)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("failed to upload s3://{bucket}/{}: {}", file.key, DisplayErrorContext(e))
                    })?;
                progress.inc(1);
                Ok::<_, anyhow::Error>((file.key.clone(), output.version_id().map(str::to_owned)))
            }
        }))
        .buffer_unordered(parallel.max(1))
        .try_collect()
        .await?;
        for (key, version_id) in results {
            if !cache.for_key(&key).contains("immutable") {
                report.invalidate.push(invalidation_path(&key));
            }
            report.uploaded_keys.push(key.clone());
            report.objects.push(SiteObject { key, version_id });
        }
    }
    for key in &deletions {
        s3.delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("failed to delete s3://{bucket}/{key}: {}", DisplayErrorContext(e)))?;
        progress.inc(1);
        if !cache.for_key(key).contains("immutable") {
            report.invalidate.push(invalidation_path(key));
        }
    }
    report.uploaded = report.uploaded_keys.len();
    report.deleted = deletions.len();
    report.deleted_keys = deletions;
    report.uploaded_keys.sort();
    report.invalidate.sort();
    report.invalidate.dedup();
    report.objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(report)
}

/// `index.html` is also served as its directory (the default root object).
fn invalidation_path(key: &str) -> String {
    if key == "index.html" {
        return "/".to_owned();
    }
    format!("/{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(key: &str, md5: &str) -> LocalFile {
        LocalFile { key: key.to_owned(), path: None, body: None, md5: md5.to_owned() }
    }

    #[test]
    fn plan_uploads_changes_assets_first_and_deletes_the_rest() {
        let local = vec![
            file("index.html", "a"),
            file("_next/static/app-1.js", "b"),
            file("about.html", "c"),
            file("logo.png", "d"),
        ];
        let remote: BTreeMap<String, RemoteObject> =
            [("index.html", "a"), ("about.html", "old"), ("_next/static/app-0.js", "z")]
                .into_iter()
                .map(|(k, e)| (k.to_owned(), RemoteObject { etag: e.to_owned(), version_id: None }))
                .collect();
        let (uploads, unchanged, deletions) = plan(&local, &remote);
        let order: Vec<&str> = uploads.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(order, ["_next/static/app-1.js", "logo.png", "about.html"]);
        assert_eq!(unchanged.len(), 1);
        assert_eq!(deletions, ["_next/static/app-0.js"]);
    }

    #[test]
    fn cache_rules_default_and_configured() {
        let policy =
            CachePolicy::new(&[CacheRule { glob: "images/**".into(), cache_control: "public, max-age=600".into() }])
                .expect("policy");
        assert_eq!(policy.for_key("_next/static/chunks/a1b2.js"), IMMUTABLE);
        assert_eq!(policy.for_key("index.html"), NO_CACHE);
        assert_eq!(policy.for_key("docs/page.html"), NO_CACHE);
        assert_eq!(policy.for_key("images/me.png"), "public, max-age=600");
        assert_eq!(policy.for_key("config.json"), NO_CACHE);
        assert_eq!(invalidation_path("index.html"), "/");
        assert_eq!(invalidation_path("docs/a.html"), "/docs/a.html");
    }
}
