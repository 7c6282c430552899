//! Serving what is deployed to an emulator environment, as CloudFront and Lambda would: the site
//! from the frontend bucket with each object's stored Content-Type and Cache-Control; `/api/*`
//! forwarded, streaming, to the `twin-runtime` of the version the `live` alias points to, started
//! on this machine with that version's environment (`local_function`).
//!
//! Three listeners serve it. The plain one is HTTP, as the browser quick start uses it. The HTTPS
//! one serves the same over TLS with the local CA's certificate (`local_tls`, kept in
//! `.twin/tls/`) and Strict-Transport-Security on every answer, as the template's response
//! headers policy adds it. The redirect one is plain HTTP as CloudFront answers it: the site's
//! paths are redirected to HTTPS, `/api/*` is refused. `twinctl serve` runs one until stopped;
//! `twinctl verify` and `deploy --verify` run one on free ports for the length of a run.
//!
//! Must not: add the CA to any trust store, send HSTS over plain HTTP, or print.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::aws::{Aws, lambda};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::local_function::LocalFunction;
use crate::local_tls::{self, TlsListener};
use crate::serve_state::Urls;
use crate::target::Target;

/// Where the three listeners listen (port 0: any free port).
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub redirect: SocketAddr,
}

impl Addresses {
    /// Free ports on loopback, for a run that serves only itself.
    pub fn ephemeral() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self { http: any, https: any, redirect: any }
    }
}

/// A running twin: its URLs, the version it serves, and what stops it.
pub struct Serving {
    pub urls: Urls,
    pub function: String,
    pub version: String,
    pub function_url: String,
    pub function_log: std::path::PathBuf,
    stop: watch::Sender<()>,
    servers: tokio::task::JoinHandle<std::io::Result<()>>,
    running: LocalFunction,
}

/// Starts serving `target`'s live version on `addresses`.
pub async fn start(config: &Config, target: &Target, addresses: Addresses) -> Result<Serving> {
    if !target.aws.is_emulator() {
        return Err(Error::user(format!(
            "serving runs what is deployed to an emulator; environment {} has no endpoint_url",
            target.name
        )));
    }
    let function_name = target.output("FunctionName")?.to_owned();
    let site_bucket = target.output("FrontendBucketName")?.to_owned();
    let artifacts = target.artifacts_bucket()?.to_owned();
    let version = target.live_version.clone().ok_or_else(|| {
        Error::user_with_hint(
            format!("{} has no live version yet", target.stack_name),
            format!("run `twinctl deploy {}` first", target.name),
        )
    })?;
    let configuration = lambda::version_configuration(&target.aws.lambda(), &function_name, &version).await?;
    let aws = target.aws.clone();
    let work_dir = config.resolve(Path::new("target/twin/run"));
    std::fs::create_dir_all(&work_dir).with_context(|| format!("failed to create {}", work_dir.display()))?;
    // Listeners and certificates first: a taken port fails before a function is started.
    let tls = local_tls::load_or_create(&config.resolve(Path::new(TLS_DIR)))?;
    let listener = bind(addresses.http).await?;
    let secure_listener = bind(addresses.https).await?;
    let redirect_listener = bind(addresses.redirect).await?;
    let https_address = local_address(&secure_listener)?;
    let urls = Urls {
        http: format!("http://{}", local_address(&listener)?),
        https: format!("https://{}", url_authority(https_address)),
        redirect: format!("http://{}", url_authority(local_address(&redirect_listener)?)),
        ca: tls.ca_path.clone(),
    };
    // What CloudFront forwards to the API carries the origin header; so does what serve forwards.
    let origin = target.origin_secret().await?;
    let running = LocalFunction::start(&aws, &artifacts, &configuration, &work_dir, origin.as_ref()).await?;
    let served = Arc::new(Served { aws, site_bucket, api_url: running.url.clone(), http: running.client.clone() });
    let app = axum::Router::new().fallback(handle).with_state(served);
    let (stop, stopped) = watch::channel(());
    let plain = axum::serve(listener, app.clone()).with_graceful_shutdown(until(stopped.clone()));
    let secure_listener =
        TlsListener::new(secure_listener, tls.server_config.clone()).context("failed to start the HTTPS listener")?;
    let secure = axum::serve(secure_listener, over_https(app)).with_graceful_shutdown(until(stopped.clone()));
    let redirect =
        axum::serve(redirect_listener, redirect_to_https(https_address)).with_graceful_shutdown(until(stopped));
    let servers = tokio::spawn(async move {
        let (plain, secure, redirect) =
            tokio::join!(async move { plain.await }, async move { secure.await }, async move { redirect.await });
        plain.and(secure).and(redirect)
    });
    Ok(Serving {
        urls,
        function: function_name,
        version,
        function_url: running.url.clone(),
        function_log: running.log.clone(),
        stop,
        servers,
        running,
    })
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving").field("urls", &self.urls).field("version", &self.version).finish_non_exhaustive()
    }
}

impl Serving {
    /// Stops the listeners (letting answers in flight finish), then the function.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        let served = self.servers.await;
        self.running.stop().await;
        match served {
            Ok(result) => result.map_err(|e| Error::Internal(e.into())),
            Err(e) => Err(Error::Internal(anyhow::anyhow!("the servers stopped abnormally: {e}"))),
        }
    }
}

/// What the HTTPS listener adds to every answer: the template's response headers policy sets
/// `AccessControlMaxAgeSec: 31536000` with `Override: true`; includeSubDomains as asked for
/// locally (an IP literal host is never recorded as an HSTS host, RFC 6797 §8.1, so browsers
/// that open the printed 127.0.0.1 URL keep no state from it).
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000; includeSubDomains";

/// The project's directory of the local CA and server certificate.
pub const TLS_DIR: &str = ".twin/tls";

struct Served {
    aws: Aws,
    site_bucket: String,
    api_url: String,
    http: reqwest::Client,
}

async fn bind(address: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|e| Error::user(format!("cannot listen on {address}: {e}")))
}

fn local_address(listener: &TcpListener) -> Result<SocketAddr> {
    listener.local_addr().context("failed to read the listening address").map_err(Error::from)
}

/// `host:port` to reach a listener by: a wildcard address is reached on loopback, and loopback by
/// IP (the server certificate names 127.0.0.1 and ::1, and an IP literal keeps HSTS out of the
/// browser's state, RFC 6797 §8.1).
pub fn url_authority(address: SocketAddr) -> String {
    let ip = match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, address.port()).to_string()
}

/// The shutdown of one listener: when `stop` is sent (or dropped).
async fn until(mut stopped: watch::Receiver<()>) {
    let _ = stopped.changed().await;
}

/// `app` with Strict-Transport-Security on every answer, replacing any the function sent (the
/// template's policy overrides the origin's header).
pub fn over_https(app: axum::Router) -> axum::Router {
    app.layer(axum::middleware::map_response(strict_transport_security))
}

async fn strict_transport_security(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(STRICT_TRANSPORT_SECURITY));
    response
}

/// Plain HTTP as CloudFront answers it for the template's behaviours (CloudFront API reference,
/// CacheBehavior ViewerProtocolPolicy,
/// https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CacheBehavior.html): the site
/// is `redirect-to-https`, `/api/*` is `https-only`, which "returns an HTTP status code of 403
/// (Forbidden)". CloudFront redirects with 301; 308 here keeps a method and body if a client ever
/// follows one with a POST. No HSTS: it means nothing over plain HTTP (RFC 6797 §7.2).
pub fn redirect_to_https(https: SocketAddr) -> axum::Router {
    let origin = Arc::new(format!("https://{}", url_authority(https)));
    axum::Router::new().fallback(redirect_or_refuse).with_state(origin)
}

async fn redirect_or_refuse(State(origin): State<Arc<String>>, request: Request) -> Response {
    // The behaviour's path pattern is `/api/*`: `/api` alone is the site's (unlike `handle`,
    // which forwards it to the function).
    if request.uri().path().starts_with("/api/") {
        return (StatusCode::FORBIDDEN, "403 Forbidden: /api/* answers over HTTPS only\n").into_response();
    }
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    match HeaderValue::from_str(&format!("{origin}{path}")) {
        Ok(location) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, location)]).into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "not a path to redirect\n").into_response(),
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
    use super::{candidates, url_authority};

    #[test]
    fn paths_resolve_like_the_static_export() {
        assert_eq!(candidates("/"), ["index.html"]);
        assert_eq!(candidates("/docs/"), ["docs/index.html"]);
        assert_eq!(candidates("/about"), ["about", "about.html", "about/index.html"]);
        assert_eq!(candidates("/_next/static/a.js"), ["_next/static/a.js"]);
    }

    #[test]
    fn wildcard_listeners_are_reached_on_loopback() {
        let authority = |address: &str| url_authority(address.parse().expect("address"));
        assert_eq!(authority("0.0.0.0:3443"), "127.0.0.1:3443");
        assert_eq!(authority("[::]:3443"), "[::1]:3443");
        assert_eq!(authority("127.0.0.1:3080"), "127.0.0.1:3080");
        assert_eq!(authority("192.168.1.2:3443"), "192.168.1.2:3443");
    }
}
