//! The file store: one JSON document per session in a local directory (development, local
//! serving, benchmarks).
//!
//! Sessions are spread over 256 shards by the last byte of their id: the document lives at
//! `{dir}/{shard}/{id}.json`, so creates and renames do not all queue on one directory's lock.
//! Writers to a shard are serialised twice: an async mutex inside this process (cheap
//! waiting), then an exclusive `flock` on `.locks/{shard}.lock` (other processes sharing the
//! directory). A shard's lock file is opened on its first write and kept open, so a write
//! creates no file but its own temporary document, which is renamed over the old one: a
//! reader — which takes no lock — sees the old or the new version, never half of one.
//!
//! Long conversations would make every turn re-read, re-parse and re-serialise the whole
//! document. A bounded cache keeps recently used sessions parsed, together with their
//! serialised message array, keyed by the file's identity (inode, length, mtime) read from
//! the very descriptor the content came from: any write by another process changes the
//! identity, and the file is read again. An append then serialises only the new messages.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::num::NonZeroUsize;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use lru::LruCache;
use uuid::Uuid;

use super::{Conversation, ConversationStore, Message, StoreError};

/// Upper bound on cached bytes (parsed + serialised, estimated), whatever the session count.
const CACHE_BUDGET_BYTES: usize = 16 * 1024 * 1024;
const CACHE_MAX_SESSIONS: usize = 4096;
const SHARDS: usize = 256;

fn shard_of(session_id: Uuid) -> usize {
    usize::from(session_id.as_bytes()[15])
}

/// Which version of a document a cache entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    inode: u64,
    len: u64,
    mtime_ns: i128,
}

impl FileIdentity {
    fn of(metadata: &fs::Metadata) -> Self {
        Self {
            inode: metadata.ino(),
            len: metadata.len(),
            mtime_ns: i128::from(metadata.mtime()) * 1_000_000_000 + i128::from(metadata.mtime_nsec()),
        }
    }
}

#[derive(Debug)]
struct Cached {
    identity: FileIdentity,
    conversation: Arc<Conversation>,
    /// The messages serialised and joined by commas, without the brackets.
    messages_json: Vec<u8>,
}

impl Cached {
    fn from_conversation(identity: FileIdentity, conversation: Conversation) -> Result<Self, StoreError> {
        let mut messages_json = Vec::with_capacity(identity.len as usize);
        append_messages_json(&mut messages_json, &conversation.messages)?;
        Ok(Self { identity, conversation: Arc::new(conversation), messages_json })
    }

    fn weight(&self) -> usize {
        // The parsed form costs about as much as its JSON; count both.
        self.messages_json.len() * 2 + 256
    }
}

fn append_messages_json(out: &mut Vec<u8>, messages: &[Message]) -> Result<(), StoreError> {
    for message in messages {
        if !out.is_empty() {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, message)
            .map_err(|e| StoreError::backend("failed to serialise a message", e))?;
    }
    Ok(())
}

/// The whole document, built from the cached message array plus the header fields.
fn document_bytes(conversation: &Conversation, messages_json: &[u8]) -> Result<Vec<u8>, StoreError> {
    let serialise = |e| StoreError::backend("failed to serialise conversation", e);
    let mut out = Vec::with_capacity(messages_json.len() + 160);
    out.extend_from_slice(b"{\"session_id\":");
    serde_json::to_writer(&mut out, &conversation.session_id).map_err(serialise)?;
    out.extend_from_slice(b",\"created_at\":");
    serde_json::to_writer(&mut out, &conversation.created_at).map_err(serialise)?;
    out.extend_from_slice(b",\"updated_at\":");
    serde_json::to_writer(&mut out, &conversation.updated_at).map_err(serialise)?;
    out.extend_from_slice(b",\"messages\":[");
    out.extend_from_slice(messages_json);
    out.extend_from_slice(b"]}");
    Ok(out)
}

#[derive(Debug)]
struct Cache {
    entries: LruCache<Uuid, Cached>,
    bytes: usize,
}

impl Cache {
    fn take(&mut self, session_id: Uuid) -> Option<Cached> {
        let entry = self.entries.pop(&session_id)?;
        self.bytes -= entry.weight();
        Some(entry)
    }

    fn current(&mut self, session_id: Uuid, identity: FileIdentity) -> Option<Arc<Conversation>> {
        self.entries.get(&session_id).filter(|e| e.identity == identity).map(|e| e.conversation.clone())
    }

    fn put(&mut self, session_id: Uuid, entry: Cached) {
        if entry.weight() > CACHE_BUDGET_BYTES {
            return;
        }
        self.bytes += entry.weight();
        if let Some((_, replaced)) = self.entries.push(session_id, entry) {
            self.bytes -= replaced.weight();
        }
        while self.bytes > CACHE_BUDGET_BYTES {
            match self.entries.pop_lru() {
                Some((_, evicted)) => self.bytes -= evicted.weight(),
                None => break,
            }
        }
    }
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    cache: Mutex<Cache>,
}

/// A shard's in-process writer lock, guarding its lock file (opened on first use).
type ShardWriter = Arc<tokio::sync::Mutex<Option<File>>>;

#[derive(Debug)]
pub struct FileStore {
    inner: Arc<Inner>,
    shard_writers: Vec<ShardWriter>,
}

/// Releases the shard's flock however the write ends.
struct FileLockGuard<'a>(&'a File);

impl Drop for FileLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FileStore {
    /// Opens (creating if needed) the directory that holds the sessions.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        let create = |path: PathBuf| {
            fs::create_dir_all(&path)
                .map_err(|e| StoreError::backend(format!("failed to create session directory {}", path.display()), e))
        };
        create(dir.join(".locks"))?;
        let capacity = NonZeroUsize::new(CACHE_MAX_SESSIONS).unwrap_or(NonZeroUsize::MIN);
        Ok(Self {
            inner: Arc::new(Inner { dir, cache: Mutex::new(Cache { entries: LruCache::new(capacity), bytes: 0 }) }),
            shard_writers: (0..SHARDS).map(|_| ShardWriter::default()).collect(),
        })
    }
}

impl Inner {
    fn shard_dir(&self, session_id: Uuid) -> PathBuf {
        self.dir.join(format!("{:02x}", shard_of(session_id)))
    }

    fn document_path(&self, session_id: Uuid) -> PathBuf {
        self.shard_dir(session_id).join(format!("{session_id}.json"))
    }

    /// Opens the document; None when the session was never written.
    fn open_document(&self, session_id: Uuid) -> Result<Option<(File, FileIdentity)>, StoreError> {
        let path = self.document_path(session_id);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::backend(format!("failed to open {}", path.display()), e)),
        };
        let metadata =
            file.metadata().map_err(|e| StoreError::backend(format!("failed to stat {}", path.display()), e))?;
        Ok(Some((file, FileIdentity::of(&metadata))))
    }

    fn parse(&self, session_id: Uuid, mut file: File) -> Result<Conversation, StoreError> {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| {
            StoreError::backend(format!("failed to read {}", self.document_path(session_id).display()), e)
        })?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt { session_id, source })
    }

    fn load(&self, session_id: Uuid) -> Result<Option<Arc<Conversation>>, StoreError> {
        let Some((file, identity)) = self.open_document(session_id)? else { return Ok(None) };
        if let Some(conversation) = lock(&self.cache).current(session_id, identity) {
            return Ok(Some(conversation));
        }
        let entry = Cached::from_conversation(identity, self.parse(session_id, file)?)?;
        let conversation = entry.conversation.clone();
        lock(&self.cache).put(session_id, entry);
        Ok(Some(conversation))
    }

    /// The shard's lock file, opened (and the shard's directory created) on first use.
    fn shard_lock_file<'f>(&self, session_id: Uuid, slot: &'f mut Option<File>) -> Result<&'f File, StoreError> {
        match slot {
            Some(file) => Ok(file),
            None => {
                let shard_dir = self.shard_dir(session_id);
                fs::create_dir_all(&shard_dir)
                    .map_err(|e| StoreError::backend(format!("failed to create {}", shard_dir.display()), e))?;
                let lock_path = self.dir.join(".locks").join(format!("{:02x}.lock", shard_of(session_id)));
                let file = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&lock_path)
                    .map_err(|e| StoreError::backend(format!("failed to open {}", lock_path.display()), e))?;
                Ok(slot.insert(file))
            }
        }
    }

    /// Appends under the shard's flock; the caller holds the shard's in-process writer lock,
    /// whose content (`slot`) is the shard's lock file.
    fn append_locked(&self, slot: &mut Option<File>, session_id: Uuid, messages: &[Message]) -> Result<(), StoreError> {
        let lock_file = self.shard_lock_file(session_id, slot)?;
        lock_file.lock().map_err(|e| StoreError::backend("failed to lock the session shard", e))?;
        let _flock = FileLockGuard(lock_file);

        let cached = lock(&self.cache).take(session_id);
        let mut entry = match self.open_document(session_id)? {
            None => Cached {
                identity: FileIdentity { inode: 0, len: 0, mtime_ns: 0 },
                conversation: Arc::new(Conversation::new(session_id, Utc::now())),
                messages_json: Vec::new(),
            },
            Some((_, identity)) if cached.as_ref().is_some_and(|c| c.identity == identity) => {
                cached.unwrap_or_else(|| unreachable!("checked by the guard"))
            }
            Some((file, identity)) => Cached::from_conversation(identity, self.parse(session_id, file)?)?,
        };
        // Readers may still hold the previous version; they keep it, we change a copy.
        Arc::make_mut(&mut entry.conversation).push(messages);
        append_messages_json(&mut entry.messages_json, messages)?;
        let bytes = document_bytes(&entry.conversation, &entry.messages_json)?;

        let path = self.document_path(session_id);
        let temporary =
            self.shard_dir(session_id).join(format!(".{session_id}.{}.{}.tmp", std::process::id(), fastrand::u64(..)));
        let written = File::create(&temporary).and_then(|mut file| {
            file.write_all(&bytes)?;
            let identity = FileIdentity::of(&file.metadata()?);
            fs::rename(&temporary, &path)?;
            Ok(identity)
        });
        match written {
            Ok(identity) => {
                entry.identity = identity;
                lock(&self.cache).put(session_id, entry);
            }
            Err(e) => {
                let _ = fs::remove_file(&temporary);
                return Err(StoreError::backend(format!("failed to write {}", path.display()), e));
            }
        }
        // `_flock` is released here, after the rename is visible.
        Ok(())
    }
}

#[async_trait]
impl ConversationStore for FileStore {
    /// Runs on the caller's thread: usually an open, an fstat and a cache hit, a few
    /// microseconds — cheaper than the two context switches of `spawn_blocking`, which
    /// measured twice the p99 under load. Misses read the document inline too.
    async fn load(&self, session_id: Uuid) -> Result<Option<Arc<Conversation>>, StoreError> {
        self.inner.load(session_id)
    }

    async fn append(&self, session_id: Uuid, messages: &[Message]) -> Result<(), StoreError> {
        let mut shard_writer = self.shard_writers[shard_of(session_id)].clone().lock_owned().await;
        let inner = self.inner.clone();
        let messages = messages.to_vec();
        tokio::task::spawn_blocking(move || inner.append_locked(&mut shard_writer, session_id, &messages))
            .await
            .map_err(|e| StoreError::backend("file store task failed", e))?
    }

    async fn check(&self) -> Result<(), StoreError> {
        let dir = self.inner.dir.clone();
        tokio::task::spawn_blocking(move || {
            let probe = dir.join(format!(".health.{}.tmp", std::process::id()));
            File::create(&probe)
                .and_then(|_| fs::remove_file(&probe))
                .map_err(|e| StoreError::backend(format!("directory {} is not writable", dir.display()), e))
        })
        .await
        .map_err(|e| StoreError::backend("file store task failed", e))?
    }

    fn describe(&self) -> String {
        format!("file:{}", self.inner.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Role;

    fn message(text: &str) -> Message {
        Message { role: Role::User, content: text.to_owned(), timestamp: Utc::now() }
    }

    #[test]
    fn the_spliced_document_is_the_serde_document() {
        let mut conversation = Conversation::new(Uuid::new_v4(), Utc::now());
        let mut json = Vec::new();
        for text in ["first \"quoted\"", "second\nline", "ünïcode ✓"] {
            let turn = [message(text)];
            conversation.push(&turn);
            append_messages_json(&mut json, &turn).expect("serialise");
        }
        let bytes = document_bytes(&conversation, &json).expect("bytes");
        let spliced: serde_json::Value = serde_json::from_slice(&bytes).expect("valid JSON");
        assert_eq!(spliced, serde_json::to_value(&conversation).expect("value"));
    }

    #[test]
    fn another_writer_invalidates_the_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ours = FileStore::open(dir.path()).expect("open");
        let theirs = FileStore::open(dir.path()).expect("open");
        let session = Uuid::new_v4();
        ours.inner.append_locked(&mut None, session, &[message("one")]).expect("append");
        assert_eq!(ours.inner.load(session).expect("load").expect("exists").messages.len(), 1);
        theirs.inner.append_locked(&mut None, session, &[message("two")]).expect("append");
        ours.inner.append_locked(&mut None, session, &[message("three")]).expect("append");
        let contents: Vec<String> = theirs
            .inner
            .load(session)
            .expect("load")
            .expect("exists")
            .messages
            .iter()
            .map(|m| m.content.clone())
            .collect();
        assert_eq!(contents, ["one", "two", "three"]);
    }
}
