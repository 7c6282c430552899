//! The `http` step kind: one HTTP request and its answer as an [`Observation`] — the status, the
//! headers (names lower-case; a repeated header's values joined with ", "), the body as text,
//! the body as JSON when it parses, and the time from sending to the last byte of the body.
//!
//! Must not: judge the answer (the plan's `expect` does) or retry (the runner does); show a
//! header's or body's value anywhere but in the observation (the runner redacts secrets).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::elapsed_ms;
use crate::error::{Error, Result};
use crate::testplan::observation::Observation;

/// A request's body.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpBody {
    /// Sent as JSON, with `content-type: application/json` unless the step sets one.
    Json(serde_json::Value),
    /// Sent as given.
    Text(String),
}

/// The whole request's budget on the client built here (one that does not follow redirects).
const TIMEOUT: Duration = Duration::from_secs(60);

/// Sends `method url` with `headers` and `body`. With `follow_redirects` the request goes
/// through `client` as it is configured; without, through a client that never follows a
/// redirect (reqwest fixes the policy per client), so a 301/302 and its `location` are observed.
/// A request that gets no answer at all (DNS, connection, TLS, timeout) is an error.
pub async fn request(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    headers: &BTreeMap<String, String>,
    body: Option<HttpBody>,
    follow_redirects: bool,
) -> Result<Observation> {
    let method = parse_method(method)?;
    let not_following: reqwest::Client;
    let client = if follow_redirects {
        client
    } else {
        not_following = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| Error::Internal(anyhow::anyhow!("failed to build an HTTP client: {}", chain(&e))))?;
        &not_following
    };
    let mut request = client.request(method.clone(), url);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    request = match body {
        Some(HttpBody::Json(value)) => request.json(&value),
        Some(HttpBody::Text(text)) => request.body(text),
        None => request,
    };
    let started = Instant::now();
    let response =
        request.send().await.map_err(|e| Error::user(format!("{method} {url}: no answer: {}", chain(&e))))?;
    let status = response.status().as_u16();
    let mut answered: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        answered
            .entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.clone());
    }
    let text = response
        .text()
        .await
        .map_err(|e| Error::user(format!("{method} {url}: the body was cut off: {}", chain(&e))))?;
    let duration_ms = elapsed_ms(started);
    Ok(Observation {
        status: Some(status),
        headers: answered,
        json: parse_json(&text),
        body: Some(text),
        duration_ms,
        ..Observation::default()
    })
}

/// `GET`, `post`, … as a method (upper-cased, as methods are case-sensitive and the plans' are not).
fn parse_method(text: &str) -> Result<reqwest::Method> {
    reqwest::Method::from_bytes(text.trim().to_ascii_uppercase().as_bytes())
        .map_err(|_| Error::user(format!("{text:?} is not an HTTP method")))
}

/// The body as JSON, when it is JSON (an empty body is not).
fn parse_json(text: &str) -> Option<serde_json::Value> {
    if text.trim().is_empty() {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// An error and its causes ("error sending request: connection refused").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_json_body_becomes_json() {
        assert_eq!(parse_json(r#"{"status":"healthy"}"#), Some(serde_json::json!({"status": "healthy"})));
        assert_eq!(parse_json("[1, 2]"), Some(serde_json::json!([1, 2])));
        assert_eq!(parse_json("<html></html>"), None);
        assert_eq!(parse_json("  "), None);
    }

    #[test]
    fn methods_are_upper_cased_and_a_non_method_is_the_users_error() {
        assert_eq!(parse_method("post").expect("a method"), reqwest::Method::POST);
        assert_eq!(parse_method(" GET ").expect("a method"), reqwest::Method::GET);
        let error = parse_method("GE T").expect_err("not a method");
        assert_eq!(error.exit(), crate::error::Exit::User);
    }
}
