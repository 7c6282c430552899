//! Conversation memory: the data model and the store trait, with a file and an S3 backend.
//!
//! Owns: the stored JSON shape (`{session_id, created_at, updated_at, messages}`) and the
//! guarantee both backends give — `append` never loses a message, however many turns on one
//! session run at once (Property 1).
//! Must not: build prompts or validate user input; ids reaching here are already UUIDs.

mod file;
mod s3;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use file::FileStore;
pub use s3::S3Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub session_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub messages: Vec<Message>,
}

impl Conversation {
    pub fn new(session_id: Uuid, now: DateTime<Utc>) -> Self {
        Self { session_id, created_at: now, updated_at: now, messages: Vec::new() }
    }

    /// Appends a turn. Messages stay in arrival order; `updated_at` never moves backwards.
    pub fn push(&mut self, messages: &[Message]) {
        self.messages.extend_from_slice(messages);
        if let Some(latest) = messages.iter().map(|m| m.timestamp).max() {
            self.updated_at = self.updated_at.max(latest);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("conversation {session_id} is stored but unreadable")]
    Corrupt {
        session_id: Uuid,
        #[source]
        source: serde_json::Error,
    },
    #[error("conversation {session_id} is too contended: gave up after {attempts} conditional writes")]
    Contended { session_id: Uuid, attempts: u32 },
    #[error("{context}")]
    Backend {
        context: String,
        #[source]
        source: anyhow::Error,
    },
}

impl StoreError {
    pub(crate) fn backend(context: impl Into<String>, source: impl Into<anyhow::Error>) -> Self {
        StoreError::Backend { context: context.into(), source: source.into() }
    }
}

#[async_trait]
pub trait ConversationStore: Send + Sync + std::fmt::Debug {
    /// The whole conversation, or None for a session never written.
    async fn load(&self, session_id: Uuid) -> Result<Option<Arc<Conversation>>, StoreError>;

    /// Atomically appends `messages` to the session, creating it if needed.
    async fn append(&self, session_id: Uuid, messages: &[Message]) -> Result<(), StoreError>;

    /// Cheap reachability check for the deep health endpoint.
    async fn check(&self) -> Result<(), StoreError>;

    /// A short name for logs and health output.
    fn describe(&self) -> String;
}

/// Backoff between conditional-write attempts: short, growing, jittered so that racing
/// writers spread out instead of colliding again in lockstep.
pub(crate) fn contention_backoff(attempt: u32) -> Duration {
    let base_ms = 5u64.saturating_mul(1 << attempt.min(6));
    Duration::from_millis(base_ms / 2 + fastrand::u64(0..=base_ms))
}
