//! The `https` checks (`twinctl::testplan::kinds::https::live`) against servers started in this
//! process: the HTTPS of `twinctl serve` (the local CA's certificate, HSTS, a plain port that
//! redirects as CloudFront does), servers that each get one thing wrong, and a raw "legacy"
//! server that accepts TLS 1.0. Also `local_tls`'s reuse of what it made. No emulator needed.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use twinctl::local_serve::{over_https, redirect_to_https};
use twinctl::local_tls::{self, LocalTls, TlsListener};
use twinctl::testplan::kinds::https::{PlainHttpExpect, live};
use twinctl::testplan::observation::{FindingSeverity, Observation};

const YEAR: u64 = 31_536_000;

fn site() -> axum::Router {
    axum::Router::new().fallback(|| async { "the twin" })
}

async fn serve_plain(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

async fn serve_tls(app: axum::Router, tls: &LocalTls) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener = TlsListener::new(listener, tls.server_config.clone()).unwrap();
    let address = axum::serve::Listener::local_addr(&listener).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

fn paths() -> Vec<(String, PlainHttpExpect)> {
    vec![
        ("/".to_owned(), PlainHttpExpect::Redirect),
        ("/about?from=test".to_owned(), PlainHttpExpect::Redirect),
        ("/api/health".to_owned(), PlainHttpExpect::Refused),
    ]
}

fn failures(observation: &Observation) -> Vec<&str> {
    observation.findings.iter().filter(|f| f.severity == FindingSeverity::Fail).map(|f| f.message.as_str()).collect()
}

#[tokio::test]
async fn the_https_of_serve_passes() {
    let dir = tempfile::tempdir().unwrap();
    let tls = local_tls::load_or_create(dir.path()).unwrap();
    let https = serve_tls(over_https(site()), &tls).await;
    let redirect = serve_plain(redirect_to_https(https)).await;

    let observation =
        live(&format!("https://{https}"), &format!("http://{redirect}"), &paths(), YEAR, 30, Some(tls.ca_pem.as_str()))
            .await
            .unwrap();

    assert!(observation.findings.is_empty(), "{:#?}", observation.findings);
    assert_eq!(observation.checks["tls10_refused"], true);
    assert_eq!(observation.checks["tls11_refused"], true);
    assert_eq!(observation.checks["tls_version"], "TLSv1.3");
    assert_eq!(observation.checks["hsts_max_age"], YEAR);
    assert_eq!(observation.checks["certificate_valid"], true);
    assert!(observation.checks["certificate_days_left"].as_i64().unwrap() >= 390, "{:?}", observation.checks);
    let plain = &observation.checks["plain_http"];
    assert_eq!(plain["/about?from=test"]["status"], 308);
    assert_eq!(plain["/about?from=test"]["location"], format!("https://{https}/about?from=test"));
    assert_eq!(plain["/api/health"]["status"], 403);
    assert_eq!(observation.status, Some(200));
}

#[tokio::test]
async fn a_plain_port_that_serves_instead_of_redirecting_fails_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let tls = local_tls::load_or_create(dir.path()).unwrap();
    let https = serve_tls(over_https(site()), &tls).await;
    let plain = serve_plain(site()).await;

    let observation =
        live(&format!("https://{https}"), &format!("http://{plain}"), &paths(), YEAR, 30, Some(tls.ca_pem.as_str()))
            .await
            .unwrap();

    let failures = failures(&observation);
    assert!(failures.iter().any(|f| f.contains("/about?from=test") && f.contains("200")), "{failures:?}");
    assert!(failures.iter().any(|f| f.contains("/api/health")), "{failures:?}");
    assert_eq!(observation.checks["plain_http"]["/"]["ok"], false);
    // HTTPS itself is fine.
    assert_eq!(observation.checks["hsts_max_age"], YEAR);
    assert_eq!(observation.checks["tls10_refused"], true);
}

#[tokio::test]
async fn https_without_hsts_fails() {
    let dir = tempfile::tempdir().unwrap();
    let tls = local_tls::load_or_create(dir.path()).unwrap();
    let https = serve_tls(site(), &tls).await;
    let redirect = serve_plain(redirect_to_https(https)).await;

    let observation =
        live(&format!("https://{https}"), &format!("http://{redirect}"), &paths(), YEAR, 30, Some(tls.ca_pem.as_str()))
            .await
            .unwrap();

    let failures = failures(&observation);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("Strict-Transport-Security"), "{failures:?}");
    assert!(observation.checks["hsts_max_age"].is_null());
}

#[tokio::test]
async fn a_certificate_of_an_untrusted_ca_fails() {
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let served = local_tls::load_or_create(ours.path()).unwrap();
    let trusted = local_tls::load_or_create(theirs.path()).unwrap();
    let https = serve_tls(over_https(site()), &served).await;
    let redirect = serve_plain(redirect_to_https(https)).await;

    let observation = live(
        &format!("https://{https}"),
        &format!("http://{redirect}"),
        &paths(),
        YEAR,
        30,
        Some(trusted.ca_pem.as_str()),
    )
    .await
    .unwrap();

    assert_eq!(observation.checks["certificate_valid"], false);
    assert!(failures(&observation).iter().any(|f| f.contains("certificate")), "{:?}", observation.findings);
    // Looked at anyway, without verification.
    assert_eq!(observation.checks["hsts_max_age"], YEAR);
}

/// The first record of a TLS 1.0 server's answer: a ServerHello choosing TLS 1.0 and
/// TLS_RSA_WITH_AES_128_CBC_SHA, whatever the client offered (RFC 2246 §7.4.1.3).
fn server_hello_tls10() -> Vec<u8> {
    let mut body = vec![0x03, 0x01]; // server_version
    body.extend_from_slice(&[0x5a; 32]); // random
    body.push(0); // session_id: none
    body.extend_from_slice(&[0x00, 0x2f]); // cipher_suite
    body.push(0); // compression_method: null
    let mut handshake = vec![0x02, 0x00, 0x00, u8::try_from(body.len()).unwrap()];
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, u8::try_from(handshake.len()).unwrap()];
    record.extend_from_slice(&handshake);
    record
}

async fn legacy_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut hello = [0u8; 2048];
                let _ = stream.read(&mut hello).await;
                let _ = stream.write_all(&server_hello_tls10()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    address
}

#[tokio::test]
async fn a_server_that_accepts_tls_1_0_fails() {
    let dir = tempfile::tempdir().unwrap();
    let tls = local_tls::load_or_create(dir.path()).unwrap();
    let legacy = legacy_server().await;

    let observation =
        live(&format!("https://{legacy}"), "http://127.0.0.1:9", &[], YEAR, 30, Some(tls.ca_pem.as_str()))
            .await
            .unwrap();

    assert_eq!(observation.checks["tls10_refused"], false);
    let failures = failures(&observation);
    assert!(failures.iter().any(|f| f.starts_with("TLS 1.0 accepted")), "{failures:?}");
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    [local_tls::CA_CERT, local_tls::CA_KEY, local_tls::SERVER_CERT, local_tls::SERVER_KEY]
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            ((*name).to_owned(), std::fs::read(&path).unwrap(), mode)
        })
        .collect()
}

#[test]
fn local_tls_is_made_once_then_reused() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join(".twin/tls");
    let first = local_tls::load_or_create(&tls).unwrap();
    let made = files(&tls);
    assert_eq!(made[1].2, 0o600, "ca-key.pem is its owner's only");
    assert_eq!(made[3].2, 0o600, "server-key.pem is its owner's only");
    assert_eq!(first.ca_path, tls.join(local_tls::CA_CERT));

    let second = local_tls::load_or_create(&tls).unwrap();
    assert_eq!(files(&tls), made, "nothing is made again");
    assert_eq!(second.ca_pem, first.ca_pem);

    // A damaged server certificate is issued again by the same CA.
    std::fs::write(tls.join(local_tls::SERVER_CERT), "not a certificate").unwrap();
    let third = local_tls::load_or_create(&tls).unwrap();
    let remade = files(&tls);
    assert_eq!(third.ca_pem, first.ca_pem);
    assert_eq!(remade[0], made[0], "the CA is kept");
    assert_ne!(remade[2], made[2], "the server certificate is new");
}
