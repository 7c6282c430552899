//! Shared test helpers: an app over a temporary directory, request helpers, and the emulator.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use twin_runtime::config::{ApiKeySource, Environment};
use twin_runtime::model::{BreakerSettings, ChatModel, OfflineModel, ResilientModel};
use twin_runtime::persona::{FilePersona, PersonaCache};
use twin_runtime::secrets::ApiKeyProvider;
use twin_runtime::store::{ConversationStore, FileStore};
use twin_runtime::{AppParts, AppState, Limits};

pub const PERSONA: &str = "I am Ada, test persona.\nI like engines and honest errors.";

/// An app with a file store and a persona in a temporary directory, and the offline model.
pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub router: Router,
    pub store: Arc<dyn ConversationStore>,
}

pub fn limits() -> Limits {
    Limits {
        request_timeout: std::time::Duration::from_secs(26),
        max_message_chars: 4000,
        max_body_bytes: 64 * 1024,
        context_token_budget: 6000,
    }
}

pub fn test_app() -> TestApp {
    test_app_with(Arc::new(OfflineModel), limits())
}

/// The origin secret's value in [`test_app_behind_cloudfront`].
pub const ORIGIN_VALUE: &str = "origin-secret-value";

#[derive(Debug)]
struct FixedSecret;

#[async_trait::async_trait]
impl twin_runtime::secrets::SecretBackend for FixedSecret {
    async fn fetch(&self, _secret_id: &str) -> Result<secrecy::SecretString, twin_runtime::secrets::SecretError> {
        Ok(secrecy::SecretString::from(ORIGIN_VALUE.to_owned()))
    }
}

/// An app that, as outside local, answers only requests carrying CloudFront's origin header.
pub fn test_app_behind_cloudfront() -> TestApp {
    let verifier = twin_runtime::origin::OriginVerifier::new(
        Box::new(FixedSecret),
        "twin/staging/origin-verify",
        Duration::from_secs(60),
    );
    build(Arc::new(OfflineModel), limits(), Some(Arc::new(verifier)))
}

pub fn test_app_with(model: Arc<dyn ChatModel>, limits: Limits) -> TestApp {
    build(model, limits, None)
}

fn build(
    model: Arc<dyn ChatModel>,
    limits: Limits,
    origin: Option<Arc<twin_runtime::origin::OriginVerifier>>,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("me.txt"), PERSONA).unwrap();
    let store: Arc<dyn ConversationStore> = Arc::new(FileStore::open(dir.path().join("sessions")).unwrap());
    let keys = Arc::new(ApiKeyProvider::new(&ApiKeySource::NotRequired, None));
    let model = Arc::new(ResilientModel::new(
        model,
        keys.clone(),
        BreakerSettings { initial_backoff: Duration::from_millis(1), ..BreakerSettings::default() },
    ));
    let parts = AppParts {
        environment: Environment::Local,
        persona: PersonaCache::new(Box::new(FilePersona::new(dir.path().join("me.txt"))), Duration::from_secs(60)),
        store: store.clone(),
        model,
        keys,
        origin,
        limits,
        cors_origins: Vec::new(),
    };
    TestApp { router: twin_runtime::app(AppState::from(parts)), store, dir }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the standard error shape and returns its `error` object.
    pub fn error(&self, status: StatusCode, code: &str) -> serde_json::Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        let body = self.json();
        let error = body["error"].clone();
        assert_eq!(error["code"], code, "body: {body}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "body: {body}");
        let header = self.headers.get("x-correlation-id").unwrap().to_str().unwrap();
        assert_eq!(error["correlation_id"], header, "the body carries the header's correlation id");
        error
    }
}

pub async fn send<B>(router: &Router, request: Request<B>) -> Answer
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let response: Response<Body> = router.clone().oneshot(request.map(Body::new)).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer { status: parts.status, headers: parts.headers, body }
}

pub fn post_json(uri: &str, body: impl Into<String>) -> Request<Body> {
    Request::post(uri).header("content-type", "application/json").body(Body::from(body.into())).unwrap()
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

pub async fn chat(router: &Router, message: &str, session_id: Option<&str>) -> serde_json::Value {
    let body = match session_id {
        Some(id) => serde_json::json!({ "message": message, "session_id": id }),
        None => serde_json::json!({ "message": message }),
    };
    let answer = send(router, post_json("/api/chat", body.to_string())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json()
}

/// Conversation documents in the store directory (any shard), to prove a rejected request
/// wrote nothing.
pub fn stored_sessions(app: &TestApp) -> usize {
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| {
                        let path = e.path();
                        if path.is_dir() {
                            count(&path)
                        } else {
                            usize::from(path.extension().is_some_and(|x| x == "json"))
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    count(&app.dir.path().join("sessions"))
}

// --- The emulator ---------------------------------------------------------------------

pub fn emulator_url() -> String {
    let port = std::env::var("TWIN_EMULATOR_PORT").unwrap_or_else(|_| "4566".to_owned());
    format!("http://127.0.0.1:{port}")
}

/// SDK configuration pointing at the running emulator; fails with instructions otherwise.
pub async fn emulator_sdk_config() -> aws_config::SdkConfig {
    let url = emulator_url();
    let address = url.trim_start_matches("http://").to_owned();
    if std::net::TcpStream::connect_timeout(&address.parse().unwrap(), Duration::from_secs(2)).is_err() {
        panic!(
            "the AWS emulator is not running at {url}.\n\
             Start it with `scripts/emulator start` (or run the whole suite with `scripts/test`, which starts it)."
        );
    }
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

/// A bucket name no other test uses, so tests can run in parallel against one emulator.
pub fn unique_bucket(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple()).chars().take(63).collect()
}
