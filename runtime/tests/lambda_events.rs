//! The Lambda path: API Gateway HTTP API (payload v2) events through lambda_http's adapter
//! into the same router, and the serialized responses API Gateway would receive.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use common::*;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent};
use tower::{Service, ServiceExt};

struct LambdaAnswer {
    status: u16,
    headers: serde_json::Value,
    body: serde_json::Value,
}

async fn invoke(app: &TestApp, fixture: &str, request_id: &str) -> LambdaAnswer {
    let path = format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let event: LambdaRequest = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(matches!(event, LambdaRequest::ApiGatewayV2(_)), "{fixture} is an HTTP API v2 event");
    let mut context = Context::default();
    context.request_id = request_id.to_owned();

    let mut adapter: Adapter<'_, _, _> = Adapter::from(app.router.clone());
    let response = adapter.ready().await.unwrap().call(LambdaEvent::new(event, context)).await.unwrap();
    let response = serde_json::to_value(response).unwrap();

    let raw_body = response["body"].as_str().unwrap_or_default();
    let body = if response["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD.decode(raw_body).unwrap()
    } else {
        raw_body.as_bytes().to_vec()
    };
    LambdaAnswer {
        status: response["statusCode"].as_u64().unwrap() as u16,
        headers: response["headers"].clone(),
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    }
}

#[tokio::test]
async fn chat_event_is_answered_and_stored() {
    let app = test_app();
    let answer = invoke(&app, "apigw-v2-chat.json", "lambda-req-1").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(answer.headers["x-correlation-id"], "lambda-req-1", "the Lambda request id correlates");
    assert!(answer.body["response"].as_str().unwrap().contains("you said: Hello from API Gateway"));
    assert_eq!(stored_sessions(&app), 1);
}

#[tokio::test]
async fn base64_encoded_bodies_are_decoded() {
    let app = test_app();
    let answer = invoke(&app, "apigw-v2-chat-base64.json", "lambda-req-2").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body["response"].as_str().unwrap().contains("you said: base64 body"));
}

#[tokio::test]
async fn deep_health_event_reads_the_query_string() {
    let app = test_app();
    let answer = invoke(&app, "apigw-v2-health-deep.json", "lambda-req-3").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["checks"]["persona"]["status"], "ok");
}

#[tokio::test]
async fn errors_keep_the_callers_correlation_id_over_the_request_id() {
    let app = test_app();
    let answer = invoke(&app, "apigw-v2-history-invalid.json", "lambda-req-4").await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["error"]["code"], "invalid_session_id");
    assert_eq!(answer.body["error"]["correlation_id"], "caller-trace-42");
    assert_eq!(answer.headers["x-correlation-id"], "caller-trace-42");

    let answer = invoke(&app, "apigw-v2-unknown-route.json", "lambda-req-5").await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.body["error"]["correlation_id"], "lambda-req-5");
}
