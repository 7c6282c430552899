//! The real model clients against local stand-ins of their services: an OpenAI-compatible
//! server and a Bedrock Converse endpoint, both axum apps on 127.0.0.1. Covers the request
//! shape, streaming, key rotation, retries, the circuit breaker and the 503 + Retry-After
//! the API answers when the model fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::*;
use futures_util::StreamExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use twin_runtime::config::ApiKeySource;
use twin_runtime::model::{BedrockModel, ChatModel, ModelError, OpenAiModel};
use twin_runtime::prompt::build_prompt;
use twin_runtime::secrets::{ApiKeyProvider, SecretBackend, SecretError};

/// What the stand-in server saw and how it should answer.
#[derive(Default)]
struct Upstream {
    calls: AtomicU32,
    /// Answer this status (with an error body) to every call while set.
    failing_status: Mutex<Option<u16>>,
    /// The only bearer token accepted, when set.
    accepted_key: Mutex<Option<String>>,
    last_body: Mutex<Option<Value>>,
}

async fn completions(State(upstream): State<Arc<Upstream>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    upstream.calls.fetch_add(1, Ordering::SeqCst);
    *upstream.last_body.lock().await = Some(body.clone());
    if let Some(status) = *upstream.failing_status.lock().await {
        return (StatusCode::from_u16(status).unwrap(), Json(json!({"error": {"message": "upstream says no"}})))
            .into_response();
    }
    if let Some(key) = upstream.accepted_key.lock().await.as_deref() {
        let sent = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if sent != format!("Bearer {key}") {
            return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"message": "invalid api key"}}))).into_response();
        }
    }
    let user = body["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned();
    if body["stream"] == true {
        let chunks: Vec<String> = ["echo: ", &user, "!"]
            .iter()
            .map(|piece| format!("data: {}\n\n", json!({"choices": [{"delta": {"content": piece}}]})))
            .chain(std::iter::once("data: [DONE]\n\n".to_owned()))
            .collect();
        return ([("content-type", "text/event-stream")], chunks.concat()).into_response();
    }
    Json(json!({"choices": [{"message": {"role": "assistant", "content": format!("echo: {user}!")}}]})).into_response()
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

async fn openai_upstream() -> (Arc<Upstream>, String) {
    let upstream = Arc::new(Upstream::default());
    let router = axum::Router::new().route("/v1/chat/completions", post(completions)).with_state(upstream.clone());
    let url = serve(router).await;
    (upstream, format!("{url}/v1"))
}

/// Secrets Manager stand-in whose value can be rotated, counting fetches.
#[derive(Debug)]
struct RotatingSecret {
    value: std::sync::Mutex<String>,
    fetches: AtomicU32,
}

#[derive(Debug)]
struct SharedSecret(Arc<RotatingSecret>);

#[async_trait]
impl SecretBackend for SharedSecret {
    async fn fetch(&self, _secret_id: &str) -> Result<SecretString, SecretError> {
        self.0.fetches.fetch_add(1, Ordering::SeqCst);
        Ok(SecretString::from(self.0.value.lock().unwrap().clone()))
    }
}

fn managed_keys(secret: &Arc<RotatingSecret>) -> Arc<ApiKeyProvider> {
    Arc::new(ApiKeyProvider::new(
        &ApiKeySource::SecretsManager { secret_id: "twin/llm".into(), ttl: std::time::Duration::from_secs(3600) },
        Some(Box::new(SharedSecret(secret.clone()))),
    ))
}

#[tokio::test]
async fn openai_request_carries_persona_history_and_key() {
    let (upstream, base_url) = openai_upstream().await;
    *upstream.accepted_key.lock().await = Some("sk-current".into());
    let secret = Arc::new(RotatingSecret { value: "sk-current".to_owned().into(), fetches: AtomicU32::new(0) });
    let model = OpenAiModel::new(&base_url, "gpt-test", 128, managed_keys(&secret)).unwrap();

    let prompt = build_prompt(PERSONA, &[], "Who are you?", 6000);
    assert_eq!(model.complete(&prompt).await.unwrap(), "echo: Who are you?!");
    let body = upstream.last_body.lock().await.clone().unwrap();
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["max_tokens"], 128);
    assert!(body["messages"][0]["content"].as_str().unwrap().contains(PERSONA));

    let deltas: Vec<String> = model.stream(&prompt).await.unwrap().map(|d| d.unwrap()).collect().await;
    assert_eq!(deltas, vec!["echo: ", "Who are you?", "!"]);
    assert_eq!(secret.fetches.load(Ordering::SeqCst), 1, "the key is cached between calls");
}

#[tokio::test]
async fn a_rotated_key_is_refetched_after_a_401() {
    let (upstream, base_url) = openai_upstream().await;
    let secret = Arc::new(RotatingSecret { value: "sk-old".to_owned().into(), fetches: AtomicU32::new(0) });
    let keys = managed_keys(&secret);
    let model = OpenAiModel::new(&base_url, "gpt-test", 128, keys.clone()).unwrap();
    let resilient = twin_runtime::model::ResilientModel::new(Arc::new(model), keys, Default::default());
    let prompt = build_prompt(PERSONA, &[], "hi", 6000);

    *upstream.accepted_key.lock().await = Some("sk-old".into());
    resilient.complete(&prompt).await.unwrap();
    // The secret rotates: the cached key is now rejected.
    *secret.value.lock().unwrap() = "sk-new".into();
    *upstream.accepted_key.lock().await = Some("sk-new".into());
    assert_eq!(resilient.complete(&prompt).await.unwrap(), "echo: hi!");
    assert_eq!(secret.fetches.load(Ordering::SeqCst), 2, "one refresh after the 401");
}

#[tokio::test]
async fn a_failing_model_is_503_with_retry_after_and_the_breaker_stops_calls() {
    let (upstream, base_url) = openai_upstream().await;
    *upstream.failing_status.lock().await = Some(503);
    let keys =
        Arc::new(ApiKeyProvider::new(&ApiKeySource::LocalEnvironment(SecretString::from("sk-x".to_owned())), None));
    let model = OpenAiModel::new(&base_url, "gpt-test", 128, keys).unwrap();
    let app = test_app_with(Arc::new(model), limits());

    // Attempts 1-3 (two retries), then 4-5: the fifth consecutive failure opens the breaker.
    let first = send(&app.router, post_json("/api/chat", r#"{"message":"hi"}"#)).await;
    first.error(StatusCode::SERVICE_UNAVAILABLE, "model_unavailable");
    assert!(first.headers.contains_key("retry-after"));
    assert_eq!(upstream.calls.load(Ordering::SeqCst), 3, "two retries on a transient error");

    let second = send(&app.router, post_json("/api/chat", r#"{"message":"hi"}"#)).await;
    second.error(StatusCode::SERVICE_UNAVAILABLE, "model_unavailable");
    let calls = upstream.calls.load(Ordering::SeqCst);
    assert_eq!(calls, 5, "the breaker opened after the fifth consecutive failure");

    let third = send(&app.router, post_json("/api/chat", r#"{"message":"hi"}"#)).await;
    let error = third.error(StatusCode::SERVICE_UNAVAILABLE, "model_unavailable");
    assert!(error["message"].as_str().unwrap().contains("retry in"), "{error}");
    let retry_after: u64 = third.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "Retry-After is the breaker's remaining cooldown: {retry_after}");
    assert_eq!(upstream.calls.load(Ordering::SeqCst), calls, "an open breaker makes no call");
    assert_eq!(stored_sessions(&app), 0, "a failed turn stores nothing");
}

#[tokio::test]
async fn a_bad_request_is_not_retried() {
    let (upstream, base_url) = openai_upstream().await;
    *upstream.failing_status.lock().await = Some(400);
    let keys = Arc::new(ApiKeyProvider::new(&ApiKeySource::NotRequired, None));
    let model = OpenAiModel::new(&base_url, "gpt-test", 128, keys.clone()).unwrap();
    let resilient = twin_runtime::model::ResilientModel::new(Arc::new(model), keys, Default::default());
    let error = resilient.complete(&build_prompt(PERSONA, &[], "hi", 6000)).await.unwrap_err();
    assert!(matches!(error, ModelError::Permanent(_)), "{error:?}");
    assert!(format!("{:#}", anyhow::Error::from(error)).contains("upstream says no"));
    assert_eq!(upstream.calls.load(Ordering::SeqCst), 1);
}

// --- Bedrock: the Converse API over HTTP, answered by a stand-in -----------------------

async fn converse(State(seen): State<Arc<Mutex<Vec<Value>>>>, Json(body): Json<Value>) -> Json<Value> {
    seen.lock().await.push(body);
    Json(json!({
        "output": {"message": {"role": "assistant", "content": [{"text": "Hello from "}, {"text": "Bedrock"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 10, "outputTokens": 3, "totalTokens": 13},
        "metrics": {"latencyMs": 5}
    }))
}

#[tokio::test]
async fn bedrock_converse_sends_the_persona_as_system_and_joins_the_reply() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let router = axum::Router::new().route("/model/{model_id}/converse", post(converse)).with_state(seen.clone());
    let url = serve(router).await;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await;
    let model = BedrockModel::new(aws_sdk_bedrockruntime::Client::new(&sdk), "anthropic.test-v1:0", 64);
    let history = vec![
        twin_runtime::store::Message {
            role: twin_runtime::store::Role::User,
            content: "earlier question".into(),
            timestamp: chrono::Utc::now(),
        },
        twin_runtime::store::Message {
            role: twin_runtime::store::Role::Assistant,
            content: "earlier answer".into(),
            timestamp: chrono::Utc::now(),
        },
    ];
    let reply = model.complete(&build_prompt(PERSONA, &history, "now?", 6000)).await.unwrap();
    assert_eq!(reply, "Hello from Bedrock");
    let body = seen.lock().await[0].clone();
    assert!(body["system"][0]["text"].as_str().unwrap().contains(PERSONA));
    let roles: Vec<&str> = body["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, vec!["user", "assistant", "user"]);
    assert_eq!(body["inferenceConfig"]["maxTokens"], 64);
}

/// A model that answers after a minute: longer than any request may take.
#[derive(Debug)]
struct Hanging;

#[async_trait]
impl ChatModel for Hanging {
    async fn complete(&self, _prompt: &twin_runtime::prompt::Prompt) -> Result<String, ModelError> {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        Ok("too late".into())
    }
    async fn stream(
        &self,
        _prompt: &twin_runtime::prompt::Prompt,
    ) -> Result<twin_runtime::model::TokenStream, ModelError> {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        Err(ModelError::Permanent(anyhow::anyhow!("too late")))
    }
    async fn check(&self) -> Result<(), ModelError> {
        Ok(())
    }
    fn describe(&self) -> String {
        "hanging".into()
    }
}

#[tokio::test]
async fn a_slow_model_is_503_with_retry_after_by_the_request_deadline_locally_and_on_lambda() {
    let one_second = twin_runtime::Limits { request_timeout: std::time::Duration::from_secs(1), ..limits() };
    let app = test_app_with(Arc::new(Hanging), one_second);
    let started = std::time::Instant::now();
    let answer = send(&app.router, post_json("/api/chat", r#"{"message":"hi"}"#)).await;
    let error = answer.error(StatusCode::SERVICE_UNAVAILABLE, "model_unavailable");
    assert!(answer.headers.contains_key("retry-after"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "ended by the 1 s budget: {:?}", started.elapsed());
    assert_eq!(stored_sessions(&app), 0, "a failed turn stores nothing");

    // On Lambda the invocation's deadline rules (less the margin to answer), not the local budget.
    let app = test_app_with(
        Arc::new(Hanging),
        twin_runtime::Limits { request_timeout: std::time::Duration::from_secs(600), ..limits() },
    );
    let mut context = lambda_http::Context::default();
    let deadline =
        std::time::SystemTime::now() + twin_runtime::deadline::ANSWER_MARGIN + std::time::Duration::from_millis(500);
    context.deadline = deadline.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut request = post_json("/api/chat", r#"{"message":"hi"}"#);
    request.extensions_mut().insert(context);
    let started = std::time::Instant::now();
    let answer = send(&app.router, request).await;
    answer.error(StatusCode::SERVICE_UNAVAILABLE, "model_unavailable");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
}
