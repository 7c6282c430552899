//! The HTTP API through `tower::ServiceExt::oneshot`: every endpoint and every bad input.
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use common::*;
use http::{Request, StatusCode};

#[tokio::test]
async fn health_is_shallow_by_default() {
    let app = test_app();
    let answer = send(&app.router, get("/api/health")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json(), serde_json::json!({"status": "healthy", "version": env!("CARGO_PKG_VERSION")}));
}

#[tokio::test]
async fn deep_health_reports_each_check_and_fails_with_503() {
    let app = test_app();
    let answer = send(&app.router, get("/api/health?deep=1")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let body = answer.json();
    for check in ["persona", "store", "secret", "model"] {
        assert_eq!(body["checks"][check]["status"], "ok", "{check}: {body}");
    }

    std::fs::remove_file(app.dir.path().join("me.txt")).unwrap();
    // The persona is cached for a minute; a fresh app sees the missing file at once.
    let fresh = test_app();
    std::fs::remove_file(fresh.dir.path().join("me.txt")).unwrap();
    let answer = send(&fresh.router, get("/api/health?deep=1")).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let body = answer.json();
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["checks"]["persona"]["status"], "error");
    assert!(body["checks"]["persona"]["error"].as_str().unwrap().contains("not found"));
    assert_eq!(body["checks"]["store"]["status"], "ok");
}

#[tokio::test]
async fn chat_creates_a_session_and_history_returns_it_in_order() {
    let app = test_app();
    let first = chat(&app.router, "My name is Alice", None).await;
    let session_id = first["session_id"].as_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&session_id).unwrap().get_version_num(), 4);
    assert!(first["response"].as_str().unwrap().contains("persona: I am Ada, test persona."));
    assert!(first["response"].as_str().unwrap().contains("history turns: 0"));
    chrono::DateTime::parse_from_rfc3339(first["timestamp"].as_str().unwrap()).unwrap();

    let second = chat(&app.router, "What is my name?", Some(&session_id)).await;
    assert_eq!(second["session_id"], session_id.as_str());
    assert!(second["response"].as_str().unwrap().contains("history turns: 1"), "{second}");

    let answer = send(&app.router, get(&format!("/api/chat/history/{session_id}"))).await;
    assert_eq!(answer.status, StatusCode::OK);
    let history = answer.json();
    assert_eq!(history["session_id"], session_id.as_str());
    let messages = history["messages"].as_array().unwrap();
    let shape: Vec<(&str, &str)> =
        messages.iter().map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap())).collect();
    assert_eq!(shape[0], ("user", "My name is Alice"));
    assert_eq!(shape[1].0, "assistant");
    assert_eq!(shape[2], ("user", "What is my name?"));
    assert_eq!(shape[3].0, "assistant");
    let stamps: Vec<&str> = messages.iter().map(|m| m["timestamp"].as_str().unwrap()).collect();
    let mut sorted = stamps.clone();
    sorted.sort_by_key(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap());
    assert_eq!(stamps, sorted, "chronological order");
}

#[tokio::test]
async fn unknown_session_history_is_404() {
    let app = test_app();
    let answer = send(&app.router, get(&format!("/api/chat/history/{}", uuid::Uuid::new_v4()))).await;
    answer.error(StatusCode::NOT_FOUND, "session_not_found");
}

#[tokio::test]
async fn streaming_sends_deltas_then_done_and_stores_the_whole_reply() {
    let app = test_app();
    let answer = send(&app.router, post_json("/api/chat/stream", r#"{"message":"stream me"}"#)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "text/event-stream");
    let text = answer.text();
    let mut deltas = String::new();
    let mut done = None;
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let event = block.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("message");
        let data: serde_json::Value =
            serde_json::from_str(block.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
        match event {
            "delta" => deltas.push_str(data["text"].as_str().unwrap()),
            "done" => done = Some(data),
            other => panic!("unexpected event {other}: {block}"),
        }
    }
    let done = done.expect("a done event");
    assert!(deltas.contains("you said: stream me"), "{deltas}");
    assert!(text.matches("event: delta").count() > 3, "the reply arrives in pieces");
    let session_id = done["session_id"].as_str().unwrap();

    let history = send(&app.router, get(&format!("/api/chat/history/{session_id}"))).await.json();
    assert_eq!(history["messages"][0]["content"], "stream me");
    assert_eq!(history["messages"][1]["content"], deltas.as_str(), "the stored reply is the concatenated deltas");
}

#[tokio::test]
async fn correlation_id_is_taken_from_the_request_and_echoed() {
    let app = test_app();
    let request = Request::get("/api/health").header("x-correlation-id", "trace-abc-123").body(Body::empty()).unwrap();
    let answer = send(&app.router, request).await;
    assert_eq!(answer.headers["x-correlation-id"], "trace-abc-123");

    let hostile = Request::get("/api/nope").header("x-correlation-id", "bad id\twith tab").body(Body::empty()).unwrap();
    let answer = send(&app.router, hostile).await;
    let error = answer.error(StatusCode::NOT_FOUND, "not_found");
    assert_ne!(error["correlation_id"], "bad id\twith tab", "unsafe ids are replaced");
}

// --- Bad input: each gets a JSON error naming the problem, and nothing is stored. ----------

async fn rejected(app: &TestApp, request: Request<Body>, status: StatusCode, code: &str) -> serde_json::Value {
    let answer = send(&app.router, request).await;
    let error = answer.error(status, code);
    assert_eq!(stored_sessions(app), 0, "a rejected request stored nothing");
    error
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = test_app();
    let error =
        rejected(&app, post_json("/api/chat", r#"{"message": "hi""#), StatusCode::BAD_REQUEST, "malformed_json").await;
    assert!(error["message"].as_str().unwrap().contains("line 1"), "{error}");
    rejected(&app, post_json("/api/chat", r#"{"message":"hi"} trailing"#), StatusCode::BAD_REQUEST, "malformed_json")
        .await;
}

#[tokio::test]
async fn missing_and_mistyped_fields_are_400_naming_the_field() {
    let app = test_app();
    let error =
        rejected(&app, post_json("/api/chat", r#"{"session_id":null}"#), StatusCode::BAD_REQUEST, "missing_field")
            .await;
    assert_eq!(error["field"], "message");
    let error =
        rejected(&app, post_json("/api/chat", r#"{"message":42}"#), StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(error["field"], "message");
    let error = rejected(
        &app,
        post_json("/api/chat", r#"{"message":"hi","sesion_id":"x"}"#),
        StatusCode::BAD_REQUEST,
        "unknown_field",
    )
    .await;
    assert_eq!(error["field"], "sesion_id");
}

#[tokio::test]
async fn empty_and_too_long_messages_are_400() {
    let app = test_app();
    let error =
        rejected(&app, post_json("/api/chat", r#"{"message":"  \n "}"#), StatusCode::BAD_REQUEST, "empty_message")
            .await;
    assert_eq!(error["field"], "message");

    let exactly = "é".repeat(4000);
    let ok = send(&app.router, post_json("/api/chat", serde_json::json!({"message": exactly}).to_string())).await;
    assert_eq!(ok.status, StatusCode::OK, "4,000 characters (not bytes) are allowed");

    let app = test_app();
    let too_long = "é".repeat(4001);
    let error = rejected(
        &app,
        post_json("/api/chat", serde_json::json!({"message": too_long}).to_string()),
        StatusCode::BAD_REQUEST,
        "message_too_long",
    )
    .await;
    assert!(error["message"].as_str().unwrap().contains("4001 characters; the limit is 4000"));
}

#[tokio::test]
async fn the_message_limit_is_configurable() {
    let app = test_app_with(
        std::sync::Arc::new(twin_runtime::model::OfflineModel),
        twin_runtime::Limits { max_message_chars: 10, ..limits() },
    );
    rejected(
        &app,
        post_json("/api/chat", r#"{"message":"eleven chars"}"#),
        StatusCode::BAD_REQUEST,
        "message_too_long",
    )
    .await;
}

#[tokio::test]
async fn session_ids_that_are_not_uuids_are_400() {
    let app = test_app();
    for hostile in ["../../etc/passwd", "sessions/other", "", "1234", "00000000-0000-0000-0000-00000000000g"] {
        let body = serde_json::json!({"message": "hi", "session_id": hostile}).to_string();
        let error = rejected(&app, post_json("/api/chat", body), StatusCode::BAD_REQUEST, "invalid_session_id").await;
        assert_eq!(error["field"], "session_id");
    }
    let answer = send(&app.router, get("/api/chat/history/..%2F..%2Fetc%2Fpasswd")).await;
    answer.error(StatusCode::BAD_REQUEST, "invalid_session_id");
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let app = test_app();
    let padding = "x".repeat(70 * 1024);
    let body = format!(r#"{{"message":"hi","padding":"{padding}"}}"#);
    rejected(&app, post_json("/api/chat", body.clone()), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Without a Content-Length the limit still holds while the body streams in.
    let chunks = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(body))]);
    let streamed =
        Request::post("/api/chat").header("content-type", "application/json").body(Body::from_stream(chunks)).unwrap();
    rejected(&app, streamed, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn non_json_content_type_is_415() {
    let app = test_app();
    let request = Request::post("/api/chat")
        .header("content-type", "text/plain")
        .body(Body::from(r#"{"message":"hi"}"#))
        .unwrap();
    rejected(&app, request, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_is_405() {
    let app = test_app();
    rejected(&app, get("/api/nothing-here"), StatusCode::NOT_FOUND, "not_found").await;
    rejected(&app, get("/api/chat"), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let delete = Request::delete("/api/health").body(Body::empty()).unwrap();
    rejected(&app, delete, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}

#[tokio::test]
async fn a_missing_persona_is_500_persona_unavailable_and_stores_nothing() {
    let app = test_app();
    std::fs::remove_file(app.dir.path().join("me.txt")).unwrap();
    rejected(
        &app,
        post_json("/api/chat", r#"{"message":"hi"}"#),
        StatusCode::INTERNAL_SERVER_ERROR,
        "persona_unavailable",
    )
    .await;
}

#[tokio::test]
async fn outside_local_only_requests_with_cloudfronts_origin_header_are_served() {
    let app = test_app_behind_cloudfront();
    let direct = send(&app.router, post_json("/api/chat", r#"{"message":"hi"}"#)).await;
    direct.error(StatusCode::FORBIDDEN, "direct_access_refused");
    let health = Request::get("/api/health").body(Body::empty()).unwrap();
    send(&app.router, health).await.error(StatusCode::FORBIDDEN, "direct_access_refused");
    let mut wrong = post_json("/api/chat", r#"{"message":"hi"}"#);
    wrong.headers_mut().insert("x-origin-verify", "guessed".parse().unwrap());
    send(&app.router, wrong).await.error(StatusCode::FORBIDDEN, "direct_access_refused");
    assert_eq!(stored_sessions(&app), 0, "a refused request stores nothing");

    let mut forwarded = post_json("/api/chat", r#"{"message":"hi"}"#);
    forwarded.headers_mut().insert("x-origin-verify", ORIGIN_VALUE.parse().unwrap());
    let answer = send(&app.router, forwarded).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert!(answer.json()["response"].is_string());
}
