//! The S3 store: `{prefix}{session_id}.json` in the (versioned) memory bucket.
//!
//! Appends are optimistic: read the document and its ETag, write it back with `If-Match`
//! (or `If-None-Match: *` for a new session), and on 412/409 read again and retry. Two
//! Lambda instances answering the same session therefore never overwrite each other's turn.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use chrono::Utc;
use uuid::Uuid;

use super::{Conversation, ConversationStore, Message, StoreError, contention_backoff};

/// Enough for hundreds of simultaneous writers on one session; past it the turn fails loudly.
const MAX_WRITE_ATTEMPTS: u32 = 200;

#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
}

impl S3Store {
    pub fn new(client: Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into(), prefix: prefix.into() }
    }

    fn key(&self, session_id: Uuid) -> String {
        format!("{}{session_id}.json", self.prefix)
    }

    async fn read(&self, session_id: Uuid) -> Result<Option<(Conversation, String)>, StoreError> {
        let key = self.key(session_id);
        let output = match self.client.get_object().bucket(&self.bucket).key(&key).send().await {
            Ok(output) => output,
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => return Ok(None),
            Err(e) => {
                return Err(StoreError::backend(
                    format!("failed to get s3://{}/{key}", self.bucket),
                    anyhow::anyhow!("{}", DisplayErrorContext(e)),
                ));
            }
        };
        let etag = output.e_tag().unwrap_or_default().to_owned();
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| StoreError::backend(format!("failed to read body of s3://{}/{key}", self.bucket), e))?;
        let conversation =
            serde_json::from_slice(&bytes.into_bytes()).map_err(|source| StoreError::Corrupt { session_id, source })?;
        Ok(Some((conversation, etag)))
    }
}

/// 412 Precondition Failed (someone wrote first) or 409 (a concurrent conditional write
/// is in flight): both mean "read again".
fn lost_the_race<E>(error: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool {
    matches!(error.raw_response().map(|r| r.status().as_u16()), Some(409 | 412))
}

#[async_trait]
impl ConversationStore for S3Store {
    async fn load(&self, session_id: Uuid) -> Result<Option<Arc<Conversation>>, StoreError> {
        let current = self.read(session_id).await?;
        Ok(current.map(|(conversation, _)| Arc::new(conversation)))
    }

    async fn append(&self, session_id: Uuid, messages: &[Message]) -> Result<(), StoreError> {
        let key = self.key(session_id);
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            let current = self.read(session_id).await?;
            let (mut conversation, etag) = match current {
                Some((conversation, etag)) => (conversation, Some(etag)),
                None => (Conversation::new(session_id, Utc::now()), None),
            };
            conversation.push(messages);
            let body = serde_json::to_vec(&conversation)
                .map_err(|e| StoreError::backend("failed to serialise conversation", e))?;
            let request = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .content_type("application/json")
                .body(ByteStream::from(body));
            let request = match etag {
                Some(etag) => request.if_match(etag),
                None => request.if_none_match("*"),
            };
            match request.send().await {
                Ok(_) => return Ok(()),
                Err(e) if lost_the_race(&e) => {
                    tracing::debug!(%session_id, attempt, "conditional write lost a race; retrying");
                    tokio::time::sleep(contention_backoff(attempt)).await;
                }
                Err(e) => {
                    return Err(StoreError::backend(
                        format!("failed to put s3://{}/{key}", self.bucket),
                        anyhow::anyhow!("{}", DisplayErrorContext(e)),
                    ));
                }
            }
        }
        Err(StoreError::Contended { session_id, attempts: MAX_WRITE_ATTEMPTS })
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.client.head_bucket().bucket(&self.bucket).send().await.map(|_| ()).map_err(|e| {
            StoreError::backend(
                format!("failed to reach bucket {}", self.bucket),
                anyhow::anyhow!("{}", DisplayErrorContext(e)),
            )
        })
    }

    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}
