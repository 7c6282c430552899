//! Any OpenAI-compatible `/chat/completions` endpoint (OpenAI, SambaNova, Ollama, vLLM…).
//!
//! The key comes from `ApiKeyProvider` on every call (cached there), never from this struct.
//! TLS 1.2 is the floor; the base URL's scheme was checked by `config`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{ChatModel, ModelError, TokenStream};
use crate::prompt::Prompt;
use crate::secrets::ApiKeyProvider;
use crate::store::Role;

#[derive(Debug, Clone)]
pub struct OpenAiModel {
    http: reqwest::Client,
    base_url: String,
    model_id: String,
    max_output_tokens: u32,
    keys: Arc<ApiKeyProvider>,
}

impl OpenAiModel {
    pub fn new(
        base_url: impl Into<String>,
        model_id: impl Into<String>,
        max_output_tokens: u32,
        keys: Arc<ApiKeyProvider>,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .tls_version_min(reqwest::tls::Version::TLS_1_2)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("twin-runtime/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            model_id: model_id.into(),
            max_output_tokens,
            keys,
        })
    }

    /// The request body: the system prompt (preamble + whole persona), the kept history in
    /// order, then the new message.
    pub fn request_body(&self, prompt: &Prompt, stream: bool) -> Value {
        let mut messages = Vec::with_capacity(prompt.history.len() + 2);
        messages.push(json!({"role": "system", "content": prompt.system}));
        for message in &prompt.history {
            let role = match message.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            messages.push(json!({"role": role, "content": message.content}));
        }
        messages.push(json!({"role": "user", "content": prompt.user_message}));
        json!({
            "model": self.model_id,
            "messages": messages,
            "max_tokens": self.max_output_tokens,
            "stream": stream,
        })
    }

    async fn post(&self, body: &Value) -> Result<reqwest::Response, ModelError> {
        let mut request = self.http.post(format!("{}/chat/completions", self.base_url)).json(body);
        if let Some(key) = self.keys.key().await? {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = request.send().await.map_err(|e| ModelError::Transient(e.into()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        // The body explains the refusal; it never contains our key.
        let detail = response.text().await.unwrap_or_default();
        let detail: String = detail.chars().take(500).collect();
        Err(ModelError::from_status(
            status.as_u16(),
            anyhow::anyhow!("POST {}/chat/completions answered {status}: {detail}", self.base_url),
        ))
    }
}

fn malformed(what: &str) -> ModelError {
    ModelError::Permanent(anyhow::anyhow!("the model answered without {what}"))
}

#[async_trait]
impl ChatModel for OpenAiModel {
    async fn complete(&self, prompt: &Prompt) -> Result<String, ModelError> {
        let response = self.post(&self.request_body(prompt, false)).await?;
        let body: Value = response.json().await.map_err(|e| ModelError::Transient(e.into()))?;
        body.pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| malformed("choices[0].message.content"))
    }

    async fn stream(&self, prompt: &Prompt) -> Result<TokenStream, ModelError> {
        let response = self.post(&self.request_body(prompt, true)).await?;
        let events = response.bytes_stream().eventsource();
        let deltas = events
            .take_while(|event| {
                let done = matches!(event, Ok(e) if e.data.trim() == "[DONE]");
                std::future::ready(!done)
            })
            .filter_map(|event| async move {
                match event {
                    Err(e) => Some(Err(ModelError::Transient(anyhow::anyhow!("stream broke: {e}")))),
                    Ok(event) => {
                        let chunk: Value = match serde_json::from_str(&event.data) {
                            Ok(chunk) => chunk,
                            Err(e) => return Some(Err(ModelError::Permanent(e.into()))),
                        };
                        chunk
                            .pointer("/choices/0/delta/content")
                            .and_then(Value::as_str)
                            .filter(|text| !text.is_empty())
                            .map(|text| Ok(text.to_owned()))
                    }
                }
            });
        Ok(deltas.boxed())
    }

    async fn check(&self) -> Result<(), ModelError> {
        let mut request = self.http.get(format!("{}/models", self.base_url));
        if let Some(key) = self.keys.key().await? {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = request.send().await.map_err(|e| ModelError::Transient(e.into()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(ModelError::from_status(
                status.as_u16(),
                anyhow::anyhow!("GET {}/models answered {status}", self.base_url),
            ))
        }
    }

    fn describe(&self) -> String {
        format!("openai:{} at {}", self.model_id, self.base_url)
    }
}
