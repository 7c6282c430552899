//! The HTTP API: routes, request validation and the handlers.
//!
//! Owns: the wire shapes (`ChatRequest`, `ChatResponse`, `HistoryResponse`, health) and
//! every input rule — nothing reaches a store or a model until the request is valid, so a
//! rejected request stores nothing.
//! Must not: know whether it runs on Lambda or a local socket; `main` decides that.

use std::convert::Infallible;
use std::time::Instant;

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::Instrument;
use uuid::Uuid;

use crate::error::ApiError;
use crate::model::ModelError;
use crate::persona::PersonaError;
use crate::prompt::{Prompt, build_prompt};
use crate::state::AppState;
use crate::store::{Message, Role, StoreError};
use crate::telemetry::{self, CORRELATION_HEADER};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    pub message: String,
    #[serde(default)]
    pub session_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ChatResponse {
    pub response: String,
    pub session_id: Uuid,
    pub timestamp: DateTime<Utc>,
}

/// `GET /api/chat/history/{session_id}`: messages serialise as `{role, content, timestamp}`.
#[derive(Debug, Serialize)]
pub struct HistoryResponse<'a> {
    pub session_id: Uuid,
    pub messages: &'a [Message],
}

/// The router, with every middleware; the same value serves Lambda and the local server.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/api/chat", post(chat))
        .route("/api/chat/stream", post(chat_stream))
        .route("/api/chat/history/{session_id}", get(history))
        .route("/api/health", get(health))
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")));
    if let Some(cors) = cors_layer(&state.cors_origins) {
        router = router.layer(cors);
    }
    router
        .layer(middleware::from_fn_with_state(state.clone(), within_deadline))
        .layer(middleware::from_fn_with_state(state.clone(), through_cloudfront))
        .layer(middleware::from_fn(telemetry::correlate))
        .with_state(state)
}

/// Outside local, only requests CloudFront forwarded (with its origin header) are served: the
/// public execute-api endpoint would bypass CloudFront's WAF and HTTPS policy.
async fn through_cloudfront(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let Some(origin) = &state.origin else { return next.run(request).await };
    let presented = request.headers().get(crate::origin::HEADER).map(HeaderValue::as_bytes).unwrap_or_default();
    match origin.admits(presented).await {
        Ok(true) => next.run(request).await,
        Ok(false) => {
            tracing::warn!(
                header_present = !presented.is_empty(),
                "refused a request that did not come through CloudFront"
            );
            ApiError::new(
                StatusCode::FORBIDDEN,
                "direct_access_refused",
                "this API answers only through the site's CloudFront distribution",
            )
            .into_response()
        }
        Err(error) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "origin_check_unavailable",
            "the request's origin cannot be checked right now; try again",
        )
        .with_retry_after(std::time::Duration::from_secs(5))
        .with_source(error)
        .into_response(),
    }
}

/// Runs the request under its deadline: the Lambda invocation's (less the margin to answer)
/// or, in the local server, `REQUEST_TIMEOUT_SECS` from now.
async fn within_deadline(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let deadline = match request.extensions().get::<lambda_http::Context>() {
        // Lambda always sets it; 0 is a context built without one (tests, tools).
        Some(invocation) if invocation.deadline > 0 => crate::deadline::for_invocation(invocation.deadline()),
        Some(_) | None => tokio::time::Instant::now() + state.limits.request_timeout,
    };
    crate::deadline::within(deadline, next.run(request)).await
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        // Same origin through CloudFront: no CORS headers at all.
        return None;
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE, header::HeaderName::from_static(CORRELATION_HEADER)])
            .expose_headers([header::RETRY_AFTER, header::HeaderName::from_static(CORRELATION_HEADER)])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

async fn unknown_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn wrong_method(method: Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("method {method} is not allowed on this route"),
    )
}

/// Reads a JSON body: `application/json` only (a form post from another site cannot reach
/// us), size-limited, and every decoding error names its field.
fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be JSON, sent with Content-Type: application/json",
        ));
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is larger than allowed")
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", rejection.body_text())
        }
    })?;
    let mut deserializer = serde_json::Deserializer::from_slice(&body);
    let value = serde_path_to_error::deserialize(&mut deserializer);
    if let (Ok(_), Err(trailing)) = (&value, deserializer.end()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the request body is not valid JSON: {trailing}"),
        ));
    }
    value.map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let text = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the request body is not valid JSON: {text}"),
            )
        } else if let Some(field) = text.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
            ApiError::invalid_field("missing_field", field, format!("field `{field}` is required"))
        } else if let Some(field) = text.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next()) {
            ApiError::invalid_field("unknown_field", field, format!("field `{field}` is not accepted: {text}"))
        } else {
            let field = if path == "." { "body".to_owned() } else { path };
            ApiError::invalid_field("invalid_field", field.clone(), format!("field `{field}`: {text}"))
        }
    })
}

/// A session id from a client: any UUID form, used afterwards only in canonical form, so it
/// can never smuggle a path or an S3 key.
fn parse_session_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| {
        ApiError::invalid_field(
            "invalid_session_id",
            "session_id",
            "session_id must be a UUID (e.g. 3f1e0c9a-8d7b-4c6a-9e5f-0a1b2c3d4e5f)",
        )
    })
}

/// A validated chat turn, before any side effect.
#[derive(Debug)]
struct Turn {
    session_id: Uuid,
    message: String,
    received_at: DateTime<Utc>,
}

fn validate(state: &AppState, request: ChatRequest) -> Result<Turn, ApiError> {
    if request.message.trim().is_empty() {
        return Err(ApiError::invalid_field("empty_message", "message", "message must not be empty"));
    }
    let chars = request.message.chars().count();
    let limit = state.limits.max_message_chars;
    if chars > limit {
        return Err(ApiError::invalid_field(
            "message_too_long",
            "message",
            format!("message is {chars} characters; the limit is {limit}"),
        ));
    }
    let session_id = match request.session_id.as_deref() {
        Some(raw) => parse_session_id(raw)?,
        None => Uuid::new_v4(),
    };
    Ok(Turn { session_id, message: request.message, received_at: Utc::now() })
}

fn persona_failed(error: PersonaError) -> ApiError {
    // The client learns the twin cannot speak; the log learns where the file was expected.
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "persona_unavailable",
        "the twin's persona (me.txt) is unavailable",
    )
    .with_source(error)
}

fn store_failed(error: StoreError) -> ApiError {
    match error {
        StoreError::Corrupt { .. } => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "conversation_corrupt",
            "this conversation's stored history cannot be read",
        ),
        _ => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "conversation memory is unavailable; try again",
        )
        .with_retry_after(std::time::Duration::from_secs(5)),
    }
    .with_source(error)
}

fn model_failed(error: ModelError) -> ApiError {
    let retry_after = error.retry_after();
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "model_unavailable", error.to_string())
        .with_retry_after(retry_after)
        .with_source(error)
}

/// Persona + stored history → the prompt for this turn.
async fn prepare(state: &AppState, turn: &Turn) -> Result<Prompt, ApiError> {
    let persona = state.persona.get().await.map_err(persona_failed)?;
    let history = state.store.load(turn.session_id).await.map_err(store_failed)?;
    let history = history.as_deref().map(|c| c.messages.as_slice()).unwrap_or_default();
    let prompt = build_prompt(&persona.text, history, &turn.message, state.limits.context_token_budget);
    tracing::info!(
        session_id = %turn.session_id,
        message_chars = turn.message.chars().count(),
        history_kept = prompt.history.len(),
        history_trimmed = prompt.trimmed,
        "prompt built"
    );
    Ok(prompt)
}

/// Stores the user's message and the reply together, so a session never holds half a turn.
async fn record(state: &AppState, turn: &Turn, reply: String, replied_at: DateTime<Utc>) -> Result<(), ApiError> {
    let messages = [
        Message { role: Role::User, content: turn.message.clone(), timestamp: turn.received_at },
        Message { role: Role::Assistant, content: reply, timestamp: replied_at },
    ];
    state.store.append(turn.session_id, &messages).await.map_err(store_failed)
}

async fn chat(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ChatResponse>, ApiError> {
    let turn = validate(&state, parse_json(&headers, body)?)?;
    let prompt = prepare(&state, &turn).await?;
    let started = Instant::now();
    let reply = state.model.complete(&prompt).await.map_err(model_failed)?;
    let timestamp = Utc::now();
    tracing::info!(
        session_id = %turn.session_id,
        reply_chars = reply.chars().count(),
        model_ms = started.elapsed().as_secs_f64() * 1000.0,
        "model replied"
    );
    record(&state, &turn, reply.clone(), timestamp).await?;
    Ok(Json(ChatResponse { response: reply, session_id: turn.session_id, timestamp }))
}

/// Server-Sent Events: `delta` events with `{"text"}`, then one `done` event with
/// `{"session_id","timestamp"}` once the whole reply is stored — or one `error` event with
/// the usual error body, in which case nothing was stored.
async fn chat_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let turn = validate(&state, parse_json(&headers, body)?)?;
    let prompt = prepare(&state, &turn).await?;
    let mut deltas = state.model.stream(&prompt).await.map_err(model_failed)?;

    let (events, receiver) = tokio::sync::mpsc::channel::<Event>(64);
    let correlation_id = telemetry::current_correlation_id();
    let producer = async move {
        let mut reply = String::new();
        while let Some(delta) = deltas.next().await {
            let event = match delta {
                Ok(text) => {
                    reply.push_str(&text);
                    json_event("delta", &serde_json::json!({ "text": text }))
                }
                Err(error) => {
                    let _ = events.send(error_event(&model_failed(error))).await;
                    return;
                }
            };
            if events.send(event).await.is_err() {
                tracing::info!(session_id = %turn.session_id, "client left mid-stream; the partial reply is not stored");
                return;
            }
        }
        let timestamp = Utc::now();
        let event = match record(&state, &turn, reply, timestamp).await {
            Ok(()) => json_event("done", &serde_json::json!({ "session_id": turn.session_id, "timestamp": timestamp })),
            Err(error) => error_event(&error),
        };
        let _ = events.send(event).await;
    };
    tokio::spawn(telemetry::with_correlation_id(correlation_id, producer).in_current_span());
    let stream = tokio_stream::wrappers::ReceiverStream::new(receiver).map(Ok);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn json_event(name: &str, data: &serde_json::Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

fn error_event(error: &ApiError) -> Event {
    error.log();
    Event::default().event("error").data(error.body_json())
}

async fn history(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Response, ApiError> {
    let session_id = parse_session_id(&raw)?;
    let conversation = state.store.load(session_id).await.map_err(store_failed)?;
    let conversation = conversation.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "session_not_found",
            format!("no conversation with session_id {session_id}"),
        )
    })?;
    Ok(Json(HistoryResponse { session_id, messages: &conversation.messages }).into_response())
}

#[derive(Debug, Deserialize)]
struct HealthQuery {
    #[serde(default)]
    deep: Option<String>,
}

#[derive(Debug, Serialize)]
struct Check {
    status: &'static str,
    target: String,
    duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn timed<E: std::fmt::Display>(target: String, check: impl Future<Output = Result<(), E>>) -> Check {
    let started = Instant::now();
    let result = check.await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(()) => Check { status: "ok", target, duration_ms, error: None },
        Err(e) => Check { status: "error", target, duration_ms, error: Some(e.to_string()) },
    }
}

async fn health(State(state): State<AppState>, Query(query): Query<HealthQuery>) -> Response {
    let version = env!("CARGO_PKG_VERSION");
    let deep = matches!(query.deep.as_deref(), Some("1" | "true" | "yes"));
    if !deep {
        return Json(serde_json::json!({ "status": "healthy", "version": version })).into_response();
    }
    let persona = timed(state.persona.location(), async { state.persona.get().await.map(|_| ()) });
    let store = timed(state.store.describe(), state.store.check());
    let secret = timed(state.keys.describe(), state.keys.check());
    let model = timed(state.model.describe(), state.model.check());
    let (persona, store, secret, model) = tokio::join!(persona, store, secret, model);
    let failing: Vec<&str> = [("persona", &persona), ("store", &store), ("secret", &secret), ("model", &model)]
        .into_iter()
        .filter(|(_, check)| check.status != "ok")
        .map(|(name, _)| name)
        .collect();
    let healthy = failing.is_empty();
    if !healthy {
        tracing::error!(failing = ?failing, "deep health check failed");
    }
    let body = serde_json::json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "version": version,
        "environment": state.environment.to_string(),
        "checks": { "persona": persona, "store": store, "secret": secret, "model": model },
    });
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}
