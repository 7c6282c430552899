//! `twinctl serve local`: what is deployed to the local environment, in a browser.
//!
//! The site comes from the emulator's frontend bucket with each object's stored Content-Type
//! and Cache-Control (what CloudFront would serve); `/api/*` is forwarded, streaming, to the
//! `twin-runtime` of the version the `live` alias points to, started on this machine with
//! that version's environment and `AWS_ENDPOINT_URL` pointing at the emulator.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;

use anyhow::Context as _;

use crate::aws::{Aws, lambda};
use crate::cli::ServeArgs;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::local_function::LocalFunction;

struct Served {
    aws: Aws,
    site_bucket: String,
    api_url: String,
    http: reqwest::Client,
}

pub async fn run(ctx: &Context, args: &ServeArgs) -> Result<()> {
    let target = ctx.target(&args.env).await?;
    if !target.aws.is_emulator() {
        return Err(Error::user(format!(
            "`serve` runs what is deployed to an emulator; environment {} has no endpoint_url",
            args.env
        )));
    }
    let function_name = target.output("FunctionName")?.to_owned();
    let site_bucket = target.output("FrontendBucketName")?.to_owned();
    let artifacts = target.artifacts_bucket()?.to_owned();
    let version = target.live_version.clone().ok_or_else(|| {
        Error::user_with_hint(
            format!("{} has no live version yet", target.stack_name),
            format!("run `twinctl deploy {}` first", args.env),
        )
    })?;
    let configuration = lambda::version_configuration(&target.aws.lambda(), &function_name, &version).await?;
    let aws = target.aws.clone();
    let work_dir = ctx.config.resolve(Path::new("target/twin/run"));
    std::fs::create_dir_all(&work_dir).with_context(|| format!("failed to create {}", work_dir.display()))?;
    let phase = ctx.printer.phase("serve");
    phase.message(format!("starting {function_name}:{version}"));
    let running = LocalFunction::start(&aws, &artifacts, &configuration, &work_dir).await?;
    phase.finish(format!("{function_name}:{version} running at {} (log {})", running.url, running.log.display()));

    let served = Arc::new(Served { aws, site_bucket, api_url: running.url.clone(), http: reqwest::Client::new() });
    let app = axum::Router::new().fallback(handle).with_state(served);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Error::user(format!("cannot listen on {}: {e}", args.listen)))?;
    let url = format!("http://{}", listener.local_addr().context("failed to read the listening address")?);
    ctx.printer.result(&serde_json::json!({ "url": url, "version": version }), || {
        format!("The twin ({} version {version}) is served at {url} — Ctrl-C stops it.", args.env)
    });
    let served = axum::serve(listener, app).with_graceful_shutdown(stop_requested());
    let result = served.await;
    running.stop().await;
    ctx.printer.note("stopped");
    result.map_err(|e| Error::Internal(e.into()))
}

/// Ctrl-C or SIGTERM: either way the local function is stopped before twinctl exits.
async fn stop_requested() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
}

async fn handle(State(served): State<Arc<Served>>, request: Request) -> Response {
    if request.uri().path().starts_with("/api/") || request.uri().path() == "/api" {
        return forward(&served, request).await.unwrap_or_else(|e| {
            (StatusCode::BAD_GATEWAY, format!("twinctl serve: the function did not answer: {e:#}")).into_response()
        });
    }
    site(&served, request.uri().path()).await
}

/// Forwards to the local function, streaming the answer (Server-Sent Events included).
async fn forward(served: &Served, request: Request) -> anyhow::Result<Response> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let body = axum::body::to_bytes(body, 1024 * 1024).await?;
    let mut upstream = served.http.request(parts.method.clone(), format!("{}{path}", served.api_url));
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.body(body).send().await?;
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        response = response.header(name, value);
    }
    Ok(response.body(Body::from_stream(answer.bytes_stream().map_err(std::io::Error::other)))?)
}

/// Site paths as CloudFront resolves them here: `/` and `dir/` → `index.html`, a path
/// without extension → `path.html` (Next.js static export), else a 404 page.
fn candidates(path: &str) -> Vec<String> {
    let key = path.trim_start_matches('/');
    if key.is_empty() || key.ends_with('/') {
        return vec![format!("{key}index.html")];
    }
    let mut keys = vec![key.to_owned()];
    if !key.rsplit('/').next().unwrap_or_default().contains('.') {
        keys.push(format!("{key}.html"));
        keys.push(format!("{key}/index.html"));
    }
    keys
}

async fn site(served: &Served, path: &str) -> Response {
    let s3 = served.aws.s3();
    for key in candidates(path) {
        if let Ok(object) = s3.get_object().bucket(&served.site_bucket).key(&key).send().await {
            return object_response(StatusCode::OK, object).await;
        }
    }
    match s3.get_object().bucket(&served.site_bucket).key("404.html").send().await {
        Ok(object) => object_response(StatusCode::NOT_FOUND, object).await,
        Err(_) => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn object_response(status: StatusCode, object: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Response {
    let content_type = object.content_type().unwrap_or("application/octet-stream").to_owned();
    let cache_control = object.cache_control().map(str::to_owned);
    let Ok(bytes) = object.body.collect().await.map(|b| b.into_bytes()) else {
        return (StatusCode::BAD_GATEWAY, "could not read the object").into_response();
    };
    let mut response = (status, bytes).into_response();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    if let Some(value) = cache_control.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::candidates;

    #[test]
    fn paths_resolve_like_the_static_export() {
        assert_eq!(candidates("/"), ["index.html"]);
        assert_eq!(candidates("/docs/"), ["docs/index.html"]);
        assert_eq!(candidates("/about"), ["about", "about.html", "about/index.html"]);
        assert_eq!(candidates("/_next/static/a.js"), ["_next/static/a.js"]);
    }
}
