//! The site step: desired state → frontend bucket, changing only what differs.
//!
//! Owns: the desired state (a built site plus the per-environment runtime configuration, or
//! — for rollback — the objects a recorded release names by version id), what the bucket holds
//! now (one listing; a key whose current version id is the one the current release recorded
//! is trusted without a request, any other is read with HEAD), the plan (upload what is new or
//! changed by sha256, rewrite in place only the metadata of a key whose Content-Type or
//! Cache-Control rule changed, delete what is not desired), the order (assets before pages,
//! deletions last, so a visitor never gets a page whose assets are not there yet) and which
//! paths need invalidating. Content is compared by the sha256 kept in each object's
//! metadata, never by ETag: an ETag is not an MD5 under SSE-KMS or after a multipart upload
//! (S3 API reference, Object: ETag).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::MetadataDirective;
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::aws::error::SdkContext;
use crate::aws::s3::{self, SHA256_METADATA, copy_source, sha256_hex};
use crate::bundle::{self, Walk};
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

/// Where a desired object's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    /// Generated content (the runtime configuration file).
    Bytes(Vec<u8>),
    /// A version already in the bucket (rollback).
    Version(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub key: String,
    pub source: Source,
    pub sha256: String,
    pub content_type: String,
    pub cache_control: String,
}

/// A built site directory plus the generated runtime configuration.
pub fn desired_from_dir(
    site: &Path,
    runtime_config: Option<(&str, Vec<u8>)>,
    cache: &CachePolicy,
) -> Result<Vec<Desired>> {
    let describe = |key: String, source: Source, sha256: String| Desired {
        content_type: mime_guess::from_path(&key).first_or_octet_stream().essence_str().to_owned(),
        cache_control: cache.for_key(&key).to_owned(),
        key,
        source,
        sha256,
    };
    let mut desired = Vec::new();
    for path in bundle::files(site, Walk::All, &[])? {
        let relative = path.strip_prefix(site).unwrap_or(&path);
        let key = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        let bytes = std::fs::read(&path).with_context(|| format!("failed to read {}", path.display()))?;
        desired.push(describe(key, Source::File(path), sha256_hex(&bytes)));
    }
    if let Some((key, body)) = runtime_config {
        desired.retain(|d| d.key != key);
        let sha256 = sha256_hex(&body);
        desired.push(describe(key.to_owned(), Source::Bytes(body), sha256));
    }
    desired.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(desired)
}

/// What a recorded release's site was, as the versions it names.
pub fn desired_from_release(objects: &[SiteObject]) -> Result<Vec<Desired>> {
    objects
        .iter()
        .map(|o| {
            let version = o.version_id.clone().ok_or_else(|| {
                Error::user(format!("the release recorded {} without a version id; it cannot be restored", o.key))
            })?;
            Ok(Desired {
                key: o.key.clone(),
                source: Source::Version(version),
                sha256: o.sha256.clone(),
                content_type: o.content_type.clone(),
                cache_control: o.cache_control.clone(),
            })
        })
        .collect()
}

/// What a key holds now. `sha256` is None for an object uploaded without the metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub version_id: Option<String>,
    pub sha256: Option<String>,
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
}

/// The bucket as a recorded release left it, without asking S3: what a rollback trusts when
/// that release is the last thing that wrote to the bucket (one request per changed key,
/// however large the site).
pub fn current_from_record(objects: &[SiteObject]) -> BTreeMap<String, Current> {
    objects
        .iter()
        .map(|o| {
            let current = Current {
                version_id: o.version_id.clone(),
                sha256: Some(o.sha256.clone()),
                content_type: Some(o.content_type.clone()),
                cache_control: Some(o.cache_control.clone()),
            };
            (o.key.clone(), current)
        })
        .collect()
}

/// The bucket's current objects: one listing, then HEAD only for keys the recorded release
/// does not vouch for.
pub async fn current(
    s3: &Client,
    bucket: &str,
    recorded: &[SiteObject],
    parallel: usize,
) -> Result<BTreeMap<String, Current>> {
    let listed = latest_versions(s3, bucket).await?;
    let recorded: BTreeMap<&str, &SiteObject> = recorded.iter().map(|o| (o.key.as_str(), o)).collect();
    let mut known = BTreeMap::new();
    let mut unknown = Vec::new();
    for (key, version_id) in listed {
        match recorded.get(key.as_str()) {
            Some(object) if object.version_id.is_some() && object.version_id == version_id => {
                known.insert(
                    key,
                    Current {
                        version_id,
                        sha256: Some(object.sha256.clone()),
                        content_type: Some(object.content_type.clone()),
                        cache_control: Some(object.cache_control.clone()),
                    },
                );
            }
            _ => unknown.push(key),
        }
    }
    let heads: Vec<(String, Current)> = futures_util::stream::iter(unknown.into_iter().map(|key| async move {
        let head = s3
            .head_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .sdk_context(|| format!("failed to read s3://{bucket}/{key}"))?;
        let current = Current {
            version_id: head.version_id().map(str::to_owned),
            sha256: head.metadata().and_then(|m| m.get(SHA256_METADATA)).cloned(),
            content_type: head.content_type().map(str::to_owned),
            cache_control: head.cache_control().map(str::to_owned),
        };
        Ok::<_, Error>((key, current))
    }))
    .buffer_unordered(parallel.max(1))
    .try_collect()
    .await?;
    known.extend(heads);
    Ok(known)
}

/// Every key's current version id (keys whose latest version is a delete marker are gone).
async fn latest_versions(s3: &Client, bucket: &str) -> Result<BTreeMap<String, Option<String>>> {
    let mut objects = BTreeMap::new();
    for page in s3::version_pages(s3, bucket, None).await? {
        for version in page.versions() {
            if version.is_latest() == Some(true)
                && let Some(key) = version.key()
            {
                objects.insert(key.to_owned(), version.version_id().map(str::to_owned));
            }
        }
        for marker in page.delete_markers() {
            if marker.is_latest() == Some(true)
                && let Some(key) = marker.key()
            {
                objects.remove(key);
            }
        }
    }
    Ok(objects)
}

fn is_html(key: &str) -> bool {
    key.ends_with(".html") || key.ends_with(".htm")
}

/// What to do, without doing it.
#[derive(Debug, Default)]
pub struct Plan {
    /// New and changed content, assets before pages.
    pub uploads: Vec<Desired>,
    /// Same content, new Content-Type or Cache-Control: rewritten in place, no upload.
    pub redescribe: Vec<Desired>,
    /// Unchanged, with the version id it has.
    pub unchanged: Vec<(Desired, Option<String>)>,
    pub deletions: Vec<String>,
    /// Keys of `uploads` that did not exist before.
    pub new_keys: Vec<String>,
}

pub fn plan(desired: Vec<Desired>, current: &BTreeMap<String, Current>) -> Plan {
    let mut plan = Plan::default();
    for want in desired {
        match current.get(&want.key) {
            None => {
                plan.new_keys.push(want.key.clone());
                plan.uploads.push(want);
            }
            Some(have) if have.sha256.as_deref() != Some(want.sha256.as_str()) => plan.uploads.push(want),
            // A restore of another version always copies: same bytes, but the record must name it.
            Some(have) if matches!(&want.source, Source::Version(v) if have.version_id.as_ref() != Some(v)) => {
                plan.uploads.push(want)
            }
            Some(have)
                if have.content_type.as_deref() != Some(want.content_type.as_str())
                    || have.cache_control.as_deref() != Some(want.cache_control.as_str()) =>
            {
                plan.redescribe.push(want)
            }
            Some(have) => plan.unchanged.push((want, have.version_id.clone())),
        }
    }
    let wanted: std::collections::BTreeSet<&str> = plan
        .uploads
        .iter()
        .chain(&plan.redescribe)
        .chain(plan.unchanged.iter().map(|(d, _)| d))
        .map(|d| d.key.as_str())
        .collect();
    plan.deletions = current.keys().filter(|k| !wanted.contains(k.as_str())).cloned().collect();
    plan.uploads.sort_by_key(|d| (is_html(&d.key), d.key.clone()));
    plan.redescribe.sort_by_key(|d| (is_html(&d.key), d.key.clone()));
    plan
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

impl Plan {
    pub fn preview(&self) -> SitePreview {
        let changed = self
            .uploads
            .iter()
            .chain(&self.redescribe)
            .map(|d| d.key.clone())
            .filter(|k| !self.new_keys.contains(k))
            .collect();
        SitePreview {
            new: self.new_keys.clone(),
            changed,
            deleted: self.deletions.clone(),
            unchanged: self.unchanged.len(),
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct SyncReport {
    pub uploaded: usize,
    pub skipped: usize,
    pub deleted: usize,
    /// Keys whose metadata alone was rewritten.
    pub redescribed: usize,
    pub uploaded_keys: Vec<String>,
    pub deleted_keys: Vec<String>,
    /// Paths to invalidate: changed or deleted objects that are not immutable.
    pub invalidate: Vec<String>,
    #[serde(skip)]
    pub objects: Vec<SiteObject>,
}

impl SyncReport {
    pub fn changed(&self) -> usize {
        self.uploaded + self.deleted + self.redescribed
    }
}

fn record(desired: &Desired, version_id: Option<String>) -> SiteObject {
    SiteObject {
        key: desired.key.clone(),
        version_id,
        sha256: desired.sha256.clone(),
        content_type: desired.content_type.clone(),
        cache_control: desired.cache_control.clone(),
    }
}

/// Writes one object; returns its new version id.
async fn write(s3: &Client, bucket: &str, desired: &Desired, current_version: Option<&str>) -> Result<Option<String>> {
    let key = &desired.key;
    let body = match &desired.source {
        Source::File(path) => {
            Some(ByteStream::from_path(path).await.with_context(|| format!("failed to read {}", path.display()))?)
        }
        Source::Bytes(bytes) => Some(ByteStream::from(bytes.clone())),
        Source::Version(_) => None,
    };
    let version_id = match body {
        Some(body) => s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(&desired.content_type)
            .cache_control(&desired.cache_control)
            .metadata(SHA256_METADATA, &desired.sha256)
            .body(body)
            .send()
            .await
            .sdk_context(|| format!("failed to upload s3://{bucket}/{key}"))?
            .version_id()
            .map(str::to_owned),
        None => {
            let from = match &desired.source {
                Source::Version(version) => Some(version.as_str()),
                _ => current_version,
            };
            // REPLACE restates every piece of metadata (CopyObject API reference).
            s3.copy_object()
                .bucket(bucket)
                .key(key)
                .copy_source(copy_source(bucket, key, from))
                .metadata_directive(MetadataDirective::Replace)
                .content_type(&desired.content_type)
                .cache_control(&desired.cache_control)
                .metadata(SHA256_METADATA, &desired.sha256)
                .send()
                .await
                .sdk_context(|| format!("failed to rewrite s3://{bucket}/{key}"))?
                .version_id()
                .map(str::to_owned)
        }
    };
    Ok(version_id)
}

/// Carries out a plan in its order.
pub async fn apply(
    s3: &Client,
    bucket: &str,
    plan: Plan,
    current: &BTreeMap<String, Current>,
    parallel: usize,
    progress: &indicatif::ProgressBar,
) -> Result<SyncReport> {
    progress.set_length((plan.uploads.len() + plan.redescribe.len() + plan.deletions.len()) as u64);
    let mut report = SyncReport { skipped: plan.unchanged.len(), ..SyncReport::default() };
    for (desired, version_id) in &plan.unchanged {
        report.objects.push(record(desired, version_id.clone()));
    }
    let mut writes: Vec<(Desired, bool)> =
        plan.uploads.into_iter().map(|d| (d, true)).chain(plan.redescribe.into_iter().map(|d| (d, false))).collect();
    writes.sort_by_key(|(d, _)| (is_html(&d.key), d.key.clone()));
    let (assets, pages): (Vec<_>, Vec<_>) = writes.into_iter().partition(|(d, _)| !is_html(&d.key));
    for batch in [assets, pages] {
        let results: Vec<(Desired, bool, Option<String>)> =
            futures_util::stream::iter(batch.into_iter().map(|(desired, upload)| {
                let current_version = current.get(&desired.key).and_then(|c| c.version_id.clone());
                async move {
                    let version_id = write(s3, bucket, &desired, current_version.as_deref()).await?;
                    progress.inc(1);
                    Ok::<_, Error>((desired, upload, version_id))
                }
            }))
            .buffer_unordered(parallel.max(1))
            .try_collect()
            .await?;
        for (desired, upload, version_id) in results {
            if !desired.cache_control.contains("immutable") {
                report.invalidate.extend(invalidation_paths(&desired.key));
            }
            if upload {
                report.uploaded_keys.push(desired.key.clone());
            } else {
                report.redescribed += 1;
            }
            report.objects.push(record(&desired, version_id));
        }
    }
    for key in &plan.deletions {
        s3.delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .sdk_context(|| format!("failed to delete s3://{bucket}/{key}"))?;
        progress.inc(1);
        let immutable =
            current.get(key).and_then(|c| c.cache_control.as_deref()).is_some_and(|c| c.contains("immutable"));
        if !immutable {
            report.invalidate.extend(invalidation_paths(key));
        }
    }
    report.uploaded = report.uploaded_keys.len();
    report.deleted = plan.deletions.len();
    report.deleted_keys = plan.deletions;
    report.uploaded_keys.sort();
    report.invalidate.sort();
    report.invalidate.dedup();
    report.objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(report)
}

/// `index.html` is also served as `/` (the default root object), which CloudFront caches
/// under its own path: both are invalidated (CloudFront developer guide, "Specifying the
/// objects to invalidate").
fn invalidation_paths(key: &str) -> Vec<String> {
    if key == "index.html" {
        return vec!["/".to_owned(), "/index.html".to_owned()];
    }
    vec![format!("/{key}")]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(key: &str, sha: &str) -> Desired {
        Desired {
            key: key.to_owned(),
            source: Source::Bytes(Vec::new()),
            sha256: sha.to_owned(),
            content_type: "text/html".to_owned(),
            cache_control: NO_CACHE.to_owned(),
        }
    }

    fn have(sha: &str) -> Current {
        Current {
            version_id: Some(format!("v-{sha}")),
            sha256: Some(sha.to_owned()),
            content_type: Some("text/html".to_owned()),
            cache_control: Some(NO_CACHE.to_owned()),
        }
    }

    #[test]
    fn plan_uploads_changes_assets_first_and_deletes_the_rest() {
        let desired = vec![
            want("index.html", "a"),
            want("_next/static/app-1.js", "b"),
            want("about.html", "c"),
            want("logo.png", "d"),
        ];
        let current: BTreeMap<String, Current> =
            [("index.html", "a"), ("about.html", "old"), ("_next/static/app-0.js", "z")]
                .into_iter()
                .map(|(k, s)| (k.to_owned(), have(s)))
                .collect();
        let plan = plan(desired, &current);
        let order: Vec<&str> = plan.uploads.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(order, ["_next/static/app-1.js", "logo.png", "about.html"]);
        assert_eq!(plan.unchanged.len(), 1);
        assert_eq!(plan.deletions, ["_next/static/app-0.js"]);
        let preview = plan.preview();
        assert_eq!(preview.new, ["_next/static/app-1.js", "logo.png"]);
        assert_eq!(preview.changed, ["about.html"]);
    }

    #[test]
    fn a_metadata_rule_change_alone_rewrites_in_place_and_unknown_content_uploads() {
        let mut page = want("index.html", "a");
        page.cache_control = "public, max-age=60".to_owned();
        let mut unknown = have("b");
        unknown.sha256 = None; // uploaded by something else, without our metadata
        let current: BTreeMap<String, Current> =
            [("index.html".to_owned(), have("a")), ("app.js".to_owned(), unknown)].into_iter().collect();
        let plan = plan(vec![page, want("app.js", "b")], &current);
        assert_eq!(plan.redescribe.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(), ["index.html"]);
        assert_eq!(plan.uploads.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(), ["app.js"]);
        assert!(plan.deletions.is_empty());
    }

    #[test]
    fn restoring_a_release_copies_other_versions_even_with_equal_content() {
        let mut restore = want("index.html", "a");
        restore.source = Source::Version("v-old".to_owned());
        let plan = plan(vec![restore.clone()], &[("index.html".to_owned(), have("a"))].into_iter().collect());
        assert_eq!(plan.uploads, vec![restore.clone()]);
        restore.source = Source::Version("v-a".to_owned());
        let plan = super::plan(vec![restore], &[("index.html".to_owned(), have("a"))].into_iter().collect());
        assert_eq!(plan.unchanged.len(), 1);
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
        assert_eq!(invalidation_paths("index.html"), ["/", "/index.html"]);
        assert_eq!(invalidation_paths("docs/a.html"), ["/docs/a.html"]);
    }
}
