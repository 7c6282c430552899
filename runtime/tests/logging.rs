//! Property 6: every error produces a structured JSON log line with its message, its cause
//! chain, the request context and the correlation id — and message contents stay out of INFO.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use common::*;
use http::{Request, StatusCode};
use tracing_subscriber::EnvFilter;
use twin_runtime::telemetry::json_subscriber;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
            .collect()
    }
}

/// Runs `f` with a JSON subscriber at `level` capturing everything it logs.
fn with_logs<F: Future<Output = ()>>(level: &str, f: impl FnOnce() -> F) -> Vec<serde_json::Value> {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = json_subscriber(EnvFilter::new(level), move || writer.clone());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tracing::subscriber::with_default(subscriber, || runtime.block_on(f()));
    captured.lines()
}

#[test]
fn a_server_error_is_logged_with_cause_chain_request_context_and_correlation_id() {
    let app = test_app();
    std::fs::remove_file(app.dir.path().join("me.txt")).unwrap();
    let lines = with_logs("info", || async {
        let request = Request::post("/api/chat")
            .header("content-type", "application/json")
            .header("x-correlation-id", "corr-property-6")
            .body(Body::from(r#"{"message":"hello"}"#))
            .unwrap();
        let answer = send(&app.router, request).await;
        answer.error(StatusCode::INTERNAL_SERVER_ERROR, "persona_unavailable");
    });
    let error = lines.iter().find(|l| l["level"] == "ERROR").unwrap_or_else(|| panic!("no ERROR line in {lines:#?}"));
    assert_eq!(error["message"], "request failed");
    assert_eq!(error["code"], "persona_unavailable");
    assert_eq!(error["status"], 500);
    assert!(error["error.message"].as_str().unwrap().contains("persona"), "{error}");
    let chain = error["error.cause_chain"].as_str().unwrap();
    assert!(
        chain.contains("persona not found at") && chain.contains("me.txt"),
        "the cause chain names the file: {chain}"
    );
    assert_eq!(error["span"]["correlation_id"], "corr-property-6");
    assert_eq!(error["span"]["method"], "POST");
    assert_eq!(error["span"]["path"], "/api/chat");
    assert!(error["timestamp"].is_string());
}

#[test]
fn every_line_of_a_request_carries_its_correlation_id() {
    let app = test_app();
    let lines = with_logs("info", || async {
        chat(&app.router, "hello", None).await;
    });
    let request_lines: Vec<_> = lines.iter().filter(|l| l["span"]["name"] == "request").collect();
    assert!(request_lines.len() >= 3, "prompt built, model replied, request served: {lines:#?}");
    let id = &request_lines[0]["span"]["correlation_id"];
    assert!(id.is_string());
    assert!(request_lines.iter().all(|l| &l["span"]["correlation_id"] == id));
}

#[test]
fn message_contents_never_reach_info_logs() {
    let app = test_app();
    let marker = "private-marker-7f3a";
    let lines = with_logs("info", || async {
        let reply = chat(&app.router, &format!("my secret is {marker}"), None).await;
        let session = reply["session_id"].as_str().unwrap().to_owned();
        send(&app.router, get(&format!("/api/chat/history/{session}"))).await;
        send(&app.router, post_json("/api/chat/stream", format!(r#"{{"message":"{marker}"}}"#))).await;
    });
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(!line.to_string().contains(marker), "message content leaked into a log line: {line}");
    }
}
