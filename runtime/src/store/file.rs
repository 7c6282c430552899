//! The file store: one JSON document per session in a local directory (development, local
//! serving, benchmarks).
//!
//! Writers to one session are serialised twice: an async mutex per session inside this
//! process (cheap waiting), then an exclusive `flock` on `.locks/{id}.lock` (other processes
//! sharing the directory). The document is written to a temporary file and renamed over the
//! old one, so a reader — which takes no lock — sees the old or the new version, never half.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use uuid::Uuid;

use super::{Conversation, ConversationStore, Message, StoreError};

#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    session_locks: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

impl FileStore {
    /// Opens (creating if needed) the directory that holds the sessions.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        fs::create_dir_all(dir.join(".locks")).map_err(|e| {
            StoreError::backend(
                format!("failed to create session directory {}", dir.display()),
                e,
            )
        })?;
        Ok(Self {
            dir,
            session_locks: Mutex::new(HashMap::new()),
        })
    }

    fn session_lock(&self, session_id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .session_locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        locks.entry(session_id).or_default().clone()
    }

    fn forget_lock_if_idle(&self, session_id: Uuid, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut locks = self
            .session_locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Two owners left (the map and `lock`): nobody else waits on this session.
        if Arc::strong_count(&lock) == 2 {
            locks.remove(&session_id);
        }
    }
}

fn document_path(dir: &Path, session_id: Uuid) -> PathBuf {
    dir.join(format!("{session_id}.json"))
}

fn read_document(dir: &Path, session_id: Uuid) -> Result<Option<Conversation>, StoreError> {
    let path = document_path(dir, session_id);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StoreError::backend(
                format!("failed to read {}", path.display()),
                e,
            ));
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| StoreError::Corrupt { session_id, source })
}

fn append_locked(dir: &Path, session_id: Uuid, messages: &[Message]) -> Result<(), StoreError> {
    let lock_path = dir.join(".locks").join(format!("{session_id}.lock"));
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::backend(format!("failed to open {}", lock_path.display()), e))?;
    lock_file
        .lock()
        .map_err(|e| StoreError::backend(format!("failed to lock {}", lock_path.display()), e))?;

    let mut conversation = read_document(dir, session_id)?
        .unwrap_or_else(|| Conversation::new(session_id, Utc::now()));
    conversation.push(messages);
    let bytes = serde_json::to_vec(&conversation)
        .map_err(|e| StoreError::backend("failed to serialise conversation", e))?;

    let path = document_path(dir, session_id);
    let temporary = dir.join(format!(
        ".{session_id}.{}.{}.tmp",
        std::process::id(),
        fastrand::u64(..)
    ));
    let written = File::create(&temporary)
        .and_then(|mut file| file.write_all(&bytes))
        .and_then(|()| fs::rename(&temporary, &path));
    if let Err(e) = written {
        let _ = fs::remove_file(&temporary);
        return Err(StoreError::backend(
            format!("failed to write {}", path.display()),
            e,
        ));
    }
    // The flock is released when `lock_file` closes, after the rename is visible.
    drop(lock_file);
    Ok(())
}

#[async_trait]
impl ConversationStore for FileStore {
    async fn load(&self, session_id: Uuid) -> Result<Option<Conversation>, StoreError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || read_document(&dir, session_id))
            .await
            .map_err(|e| StoreError::backend("file store task failed", e))?
    }

    async fn append(&self, session_id: Uuid, messages: &[Message]) -> Result<(), StoreError> {
        let lock = self.session_lock(session_id);
        let result = {
            let _in_process = lock.lock().await;
            let dir = self.dir.clone();
            let messages = messages.to_vec();
            tokio::task::spawn_blocking(move || append_locked(&dir, session_id, &messages))
                .await
                .map_err(|e| StoreError::backend("file store task failed", e))
                .and_then(|inner| inner)
        };
        self.forget_lock_if_idle(session_id, lock);
        result
    }

    async fn check(&self) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let probe = dir.join(format!(".health.{}.tmp", std::process::id()));
            File::create(&probe)
                .and_then(|_| fs::remove_file(&probe))
                .map_err(|e| {
                    StoreError::backend(format!("directory {} is not writable", dir.display()), e)
                })
        })
        .await
        .map_err(|e| StoreError::backend("file store task failed", e))?
    }

    fn describe(&self) -> String {
        format!("file:{}", self.dir.display())
    }
}
