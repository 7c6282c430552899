//! The persona (`me.txt`): where it is read from and how long a copy is trusted.
//!
//! Owns: the cache. A copy is served for `ttl`, then revalidated with its ETag (a 304 keeps
//! it); if revalidation fails for a transient reason the stale copy is served with a
//! warning, but a persona that is gone is gone: the twin answers `persona_unavailable`
//! rather than impersonate nobody.
//! Must not: alter the text; Property 2 needs it whole in every prompt.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use tokio::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum PersonaError {
    #[error("persona not found at {location}")]
    Missing { location: String },
    #[error("persona at {location} is empty")]
    Empty { location: String },
    #[error("persona at {location} is not UTF-8 text")]
    NotText { location: String },
    #[error("failed to read persona at {location}")]
    Unreachable {
        location: String,
        #[source]
        source: anyhow::Error,
    },
}

/// One version of the persona text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persona {
    pub text: Arc<str>,
    pub etag: String,
}

impl Persona {
    /// The first non-empty line: how the offline model shows which persona it received.
    pub fn first_line(&self) -> &str {
        self.text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default()
    }
}

#[derive(Debug)]
pub enum Fetched {
    NotModified,
    Current(Persona),
}

#[async_trait]
pub trait PersonaSource: Send + Sync + std::fmt::Debug {
    /// Reads the persona unless its ETag still equals `known_etag`.
    async fn fetch(&self, known_etag: Option<&str>) -> Result<Fetched, PersonaError>;
    fn location(&self) -> String;
}

fn persona_from_bytes(bytes: Vec<u8>, etag: String, location: String) -> Result<Persona, PersonaError> {
    let text = String::from_utf8(bytes).map_err(|_| PersonaError::NotText { location: location.clone() })?;
    if text.trim().is_empty() {
        return Err(PersonaError::Empty { location });
    }
    Ok(Persona { text: text.into(), etag })
}

/// `me.txt` on the local disk; its ETag is derived from length and modification time.
#[derive(Debug)]
pub struct FilePersona {
    path: PathBuf,
}

impl FilePersona {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl PersonaSource for FilePersona {
    async fn fetch(&self, known_etag: Option<&str>) -> Result<Fetched, PersonaError> {
        let location = self.location();
        let metadata = tokio::fs::metadata(&self.path).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => PersonaError::Missing { location: location.clone() },
            _ => PersonaError::Unreachable { location: location.clone(), source: e.into() },
        })?;
        let modified = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let etag = format!("{}-{modified}", metadata.len());
        if known_etag == Some(etag.as_str()) {
            return Ok(Fetched::NotModified);
        }
        let bytes = tokio::fs::read(&self.path).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => PersonaError::Missing { location: location.clone() },
            _ => PersonaError::Unreachable { location: location.clone(), source: e.into() },
        })?;
        persona_from_bytes(bytes, etag, location).map(Fetched::Current)
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

/// `me.txt` in S3, revalidated with `If-None-Match`.
#[derive(Debug)]
pub struct S3Persona {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
}

impl S3Persona {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into(), key: key.into() }
    }
}

#[async_trait]
impl PersonaSource for S3Persona {
    async fn fetch(&self, known_etag: Option<&str>) -> Result<Fetched, PersonaError> {
        let location = self.location();
        let request = self.client.get_object().bucket(&self.bucket).key(&self.key);
        let request = match known_etag {
            Some(etag) => request.if_none_match(etag),
            None => request,
        };
        let output = match request.send().await {
            Ok(output) => output,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 304) => {
                return Ok(Fetched::NotModified);
            }
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => {
                return Err(PersonaError::Missing { location });
            }
            Err(e) => {
                return Err(PersonaError::Unreachable {
                    location,
                    source: anyhow::anyhow!("{}", DisplayErrorContext(e)),
                });
            }
        };
        let etag = output.e_tag().unwrap_or_default().to_owned();
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| PersonaError::Unreachable { location: location.clone(), source: e.into() })?;
        persona_from_bytes(bytes.to_vec(), etag, location).map(Fetched::Current)
    }

    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

#[derive(Debug)]
struct Cached {
    persona: Persona,
    checked_at: Instant,
}

/// The persona as the handlers see it: cached, revalidated after `ttl`.
#[derive(Debug)]
pub struct PersonaCache {
    source: Box<dyn PersonaSource>,
    ttl: Duration,
    // A mutex, not a lock-free cell: one revalidation at a time, the others wait for its answer.
    cached: Mutex<Option<Cached>>,
}

impl PersonaCache {
    pub fn new(source: Box<dyn PersonaSource>, ttl: Duration) -> Self {
        Self { source, ttl, cached: Mutex::new(None) }
    }

    pub fn location(&self) -> String {
        self.source.location()
    }

    pub async fn get(&self) -> Result<Persona, PersonaError> {
        let mut cached = self.cached.lock().await;
        if let Some(entry) = cached.as_ref()
            && entry.checked_at.elapsed() < self.ttl
        {
            return Ok(entry.persona.clone());
        }
        let known_etag = cached.as_ref().map(|c| c.persona.etag.clone());
        match self.source.fetch(known_etag.as_deref()).await {
            Ok(Fetched::Current(persona)) => {
                *cached = Some(Cached { persona: persona.clone(), checked_at: Instant::now() });
                Ok(persona)
            }
            Ok(Fetched::NotModified) => match cached.as_mut() {
                Some(entry) => {
                    entry.checked_at = Instant::now();
                    Ok(entry.persona.clone())
                }
                // A 304 without a copy cannot happen unless the source misbehaves: read again.
                None => match self.source.fetch(None).await? {
                    Fetched::Current(persona) => {
                        *cached = Some(Cached { persona: persona.clone(), checked_at: Instant::now() });
                        Ok(persona)
                    }
                    Fetched::NotModified => Err(PersonaError::Missing { location: self.location() }),
                },
            },
            Err(PersonaError::Unreachable { location, source }) if cached.is_some() => {
                tracing::warn!(%location, error = %format!("{source:#}"), "persona revalidation failed; serving the cached copy");
                let entry = cached.as_mut().expect("checked by the guard");
                entry.checked_at = Instant::now();
                Ok(entry.persona.clone())
            }
            Err(e) => {
                *cached = None;
                tracing::warn!(location = %self.location(), error = %e, "persona unavailable");
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cache_serves_within_ttl_and_revalidates_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("me.txt");
        std::fs::write(&path, "I am Ada.\nI like engines.").expect("write");
        let cache = PersonaCache::new(Box::new(FilePersona::new(&path)), Duration::from_millis(50));
        assert_eq!(&*cache.get().await.expect("persona").text, "I am Ada.\nI like engines.");

        std::fs::write(&path, "I am Grace, and my persona grew longer.").expect("rewrite");
        assert_eq!(&*cache.get().await.expect("cached").text, "I am Ada.\nI like engines.");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(&*cache.get().await.expect("fresh").text, "I am Grace, and my persona grew longer.");
    }

    #[tokio::test]
    async fn a_deleted_persona_is_an_error_not_a_stale_copy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("me.txt");
        std::fs::write(&path, "I am Ada.").expect("write");
        let cache = PersonaCache::new(Box::new(FilePersona::new(&path)), Duration::ZERO);
        cache.get().await.expect("persona");
        std::fs::remove_file(&path).expect("remove");
        assert!(matches!(cache.get().await, Err(PersonaError::Missing { .. })));
    }

    #[tokio::test]
    async fn empty_persona_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("me.txt");
        std::fs::write(&path, " \n\t\n").expect("write");
        let source = FilePersona::new(&path);
        assert!(matches!(source.fetch(None).await, Err(PersonaError::Empty { .. })));
    }
}
