//! The API's error type: every failure a client can see, with a stable `code`.
//!
//! Owns: the mapping from failure to HTTP status, JSON body and log line (Property 6: each
//! error is logged once, with its cause chain, inside the request's span).
//! Must not: decide *whether* something failed; components return their own errors and the
//! handlers convert them here.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::telemetry::current_correlation_id;

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, machine-readable; clients and alarms match on it.
    pub code: &'static str,
    /// Says what is wrong and, for input errors, which field.
    pub message: String,
    pub field: Option<String>,
    pub retry_after: Option<Duration>,
    /// The internal cause, logged but never sent to the client.
    pub source: Option<anyhow::Error>,
}

#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize)]
pub struct ErrorDetail<'a> {
    pub code: &'a str,
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
    pub correlation_id: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None, retry_after: None, source: None }
    }

    /// A 400 that names the offending field.
    pub fn invalid_field(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: Some(field.into()), ..Self::new(StatusCode::BAD_REQUEST, code, message) }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn with_source(mut self, source: impl Into<anyhow::Error>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    pub(crate) fn log(&self) {
        let cause = self.source.as_ref().map(|e| format!("{e:#}"));
        if self.status.is_server_error() {
            tracing::error!(
                status = self.status.as_u16(),
                code = self.code,
                error.message = %self.message,
                error.cause_chain = cause.as_deref(),
                "request failed"
            );
        } else {
            tracing::warn!(
                status = self.status.as_u16(),
                code = self.code,
                field = self.field.as_deref(),
                error.message = %self.message,
                "request rejected"
            );
        }
    }

    /// The JSON body alone, for transports (SSE) that carry the error inside a stream.
    pub fn body_json(&self) -> String {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
                correlation_id: current_correlation_id(),
            },
        };
        serde_json::to_string(&body).unwrap_or_else(|_| String::from("{}"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let mut response =
            (self.status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], self.body_json())
                .into_response();
        if let Some(after) = self.retry_after {
            let seconds = after.as_secs().max(1);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
