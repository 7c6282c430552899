//! Logging and request correlation.
//!
//! Owns: the tracing subscriber (JSON for CloudWatch, text for a terminal), and the
//! middleware that gives every request a correlation id — taken from `x-correlation-id`,
//! else the Lambda request id, else a new UUID — puts it on every log line of the request
//! (a span field) and echoes it in the response header. On Lambda, every answer is also one
//! embedded-metric line on stdout (`DigitalTwin` `Requests` and `Http5xx` by function and
//! `ExecutedVersion`): a handled 5xx is a successful invocation to Lambda, so its `Errors`
//! never count it, and a canary must see it per version (twinctl/src/canary.rs).
//! Must not: log message contents at INFO or any secret value; callers pass lengths, not text.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

pub const CORRELATION_HEADER: &str = "x-correlation-id";

tokio::task_local! {
    static CORRELATION_ID: String;
}

/// The id of the request being served, or `-` outside a request.
pub fn current_correlation_id() -> String {
    CORRELATION_ID.try_with(Clone::clone).unwrap_or_else(|_| "-".to_owned())
}

/// Runs `future` (a task spawned by a request) with that request's correlation id.
pub async fn with_correlation_id<F: Future>(id: String, future: F) -> F::Output {
    CORRELATION_ID.scope(id, future).await
}

/// Installs the global subscriber. `RUST_LOG` overrides the default level (info).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = if json {
        tracing::subscriber::set_global_default(json_subscriber(filter, std::io::stderr))
    } else {
        tracing::subscriber::set_global_default(
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .with_target(false)
                .with_ansi(std::io::stderr().is_terminal())
                .finish(),
        )
    };
}

/// The CloudWatch format: one JSON object per line, event fields at the top level, and the
/// request span's fields (correlation id, method, path) under `span`.
pub fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .finish()
}

/// Accepts a caller's id only if it is short and plain, so it is safe in logs and headers.
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn correlation_id_for(request: &Request) -> String {
    if let Some(id) = request.headers().get(CORRELATION_HEADER).and_then(|v| v.to_str().ok())
        && acceptable(id)
    {
        return id.to_owned();
    }
    if let Some(context) = request.extensions().get::<lambda_http::Context>()
        && acceptable(&context.request_id)
    {
        return context.request_id.clone();
    }
    uuid::Uuid::new_v4().to_string()
}

/// The embedded-metric namespace (twinctl's canary reads it).
pub const METRIC_NAMESPACE: &str = "DigitalTwin";

/// The function and version this process runs as, when Lambda runs it (its reserved
/// environment variables `AWS_LAMBDA_FUNCTION_NAME` and `AWS_LAMBDA_FUNCTION_VERSION`).
fn lambda_identity() -> Option<&'static (String, String)> {
    static IDENTITY: OnceLock<Option<(String, String)>> = OnceLock::new();
    IDENTITY
        .get_or_init(|| {
            let name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok()?;
            let version = std::env::var("AWS_LAMBDA_FUNCTION_VERSION").ok()?;
            Some((name, version))
        })
        .as_ref()
}

/// One request as an embedded-metric document (CloudWatch, "Specification: Embedded metric
/// format"): one JSON object on one line, its `_aws` member naming the metrics, their
/// dimension set and namespace; the values are top-level members.
pub fn metric_line(function: &str, version: &str, status: u16, timestamp_ms: u128) -> String {
    let document = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [["FunctionName", "ExecutedVersion"]],
                "Metrics": [{"Name": "Requests", "Unit": "Count"}, {"Name": "Http5xx", "Unit": "Count"}]
            }]
        },
        "FunctionName": function,
        "ExecutedVersion": version,
        "Requests": 1,
        "Http5xx": u8::from(status >= 500),
        "status": status
    });
    document.to_string()
}

fn emit_metric(status: u16) {
    let Some((function, version)) = lambda_identity() else { return };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    // Lambda sends stdout to CloudWatch Logs, which extracts the metrics; a failed write loses
    // one data point, never the answer.
    let _ = writeln!(std::io::stdout().lock(), "{}", metric_line(function, version, status, now));
}

/// Middleware: correlation id, request span, one access log line per request.
pub async fn correlate(request: Request, next: Next) -> Response {
    let id = correlation_id_for(&request);
    let span = tracing::info_span!(
        "request",
        correlation_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = Instant::now();
    let header_value = HeaderValue::from_str(&id).ok();
    let mut response = CORRELATION_ID
        .scope(id, async move {
            let response = next.run(request).await;
            tracing::info!(
                status = response.status().as_u16(),
                duration_ms = started.elapsed().as_secs_f64() * 1000.0,
                "request served"
            );
            emit_metric(response.status().as_u16());
            response
        })
        .instrument(span)
        .await;
    if let Some(value) = header_value {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::{METRIC_NAMESPACE, acceptable, metric_line};

    #[test]
    fn a_metric_line_is_an_embedded_metric_document_counting_5xx_per_version() {
        let line = metric_line("twin-staging-api", "7", 502, 1_764_720_000_000);
        assert!(!line.contains('\n'), "one line");
        let doc: serde_json::Value = serde_json::from_str(&line).expect("json");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], METRIC_NAMESPACE);
        assert_eq!(directive["Dimensions"], serde_json::json!([["FunctionName", "ExecutedVersion"]]));
        // Every dimension and every metric named in the directive is a top-level member.
        for name in ["FunctionName", "ExecutedVersion"] {
            assert!(doc[name].is_string(), "{name}");
        }
        for metric in directive["Metrics"].as_array().expect("metrics") {
            assert!(doc[metric["Name"].as_str().expect("name")].is_number(), "{metric}");
        }
        assert_eq!(doc["ExecutedVersion"], "7");
        assert_eq!(doc["Http5xx"], 1);
        assert_eq!(doc["_aws"]["Timestamp"], 1_764_720_000_000_u64);
        let ok: serde_json::Value = serde_json::from_str(&metric_line("f", "7", 200, 0)).expect("json");
        assert_eq!(ok["Http5xx"], 0);
        assert_eq!(ok["Requests"], 1);
    }

    #[test]
    fn correlation_ids_are_restricted_to_safe_characters() {
        assert!(acceptable("3f1e0c9a-8d7b-4c6a-9e5f-0a1b2c3d4e5f"));
        assert!(acceptable("req.1:abc_DEF"));
        assert!(!acceptable(""));
        assert!(!acceptable("a\nfake log line"));
        assert!(!acceptable("<script>"));
        assert!(!acceptable(&"x".repeat(129)));
    }
}
