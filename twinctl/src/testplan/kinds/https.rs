//! The `https-live` and `https-config` kinds: HTTPS as viewers meet it, and as the distribution
//! is configured.
//!
//! [`live`] looks from outside, as a browser or a scanner would: each plain-HTTP path's answer (a
//! permanent redirect to the same path over HTTPS for the site, a refusal for the API), the
//! protocol an HTTPS connection negotiates, whether a TLS 1.0 or 1.1 client is turned away
//! (handcrafted ClientHellos: rustls speaks neither), the Strict-Transport-Security header, and
//! the certificate (valid for the host, days left). [`config`] reads the same intentions from
//! CloudFront's configuration: viewer protocol policies, security policy, the site origin's
//! access control and the response headers policy's HSTS.
//!
//! Must not: change anything it looks at, or decide pass or fail beyond its findings (the runner
//! does, from the plan).

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use aws_sdk_cloudfront::types::DistributionConfig;
use chrono::Utc;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::aws::SdkContext;
use crate::error::{Error, Result};
use crate::local_tls;
use crate::target::Target;
use crate::testplan::observation::{Finding, Observation};

/// Each connection, request and legacy handshake gives up after this.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What the template's response headers policy sets (`AccessControlMaxAgeSec: 31536000`, one
/// year); `https-config` fails a policy below it.
pub const CONFIGURED_HSTS_SECONDS: i64 = 31_536_000;

/// Security policies that allow nothing below TLS 1.2 and none of its weak ciphers: the
/// template's TLSv1.2_2021 and its successors ("Supported protocols and ciphers between viewers
/// and CloudFront",
/// https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/secure-connections-supported-viewer-protocols-ciphers.html).
const MODERN_SECURITY_POLICIES: [&str; 3] = ["TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"];

/// How a path must answer over plain HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlainHttpExpect {
    /// 301 or 308 to the same path and query over HTTPS (`redirect-to-https`).
    Redirect,
    /// 403, or no connection at all (`https-only`).
    Refused,
}

/// HTTPS as viewers meet it at `base_https`, with `base_plain_http` the same site over plain
/// HTTP. `extra_root` (the local CA) is then the only trusted root; without it the platform's
/// verifier decides, as for a browser.
///
/// Checks: `plain_http` (per path: status, location, expect, ok), `tls_version`,
/// `tls10_refused`, `tls11_refused`, `legacy_tls` (what each legacy hello got),
/// `hsts_max_age`, `certificate_valid`, `certificate_not_after`, `certificate_days_left`.
/// Arguments that are not URLs or paths are user errors; everything the sites answer (or do not)
/// is a finding.
pub async fn live(
    base_https: &str,
    base_plain_http: &str,
    paths: &[(String, PlainHttpExpect)],
    min_hsts_seconds: u64,
    certificate_days: u32,
    extra_root: Option<&str>,
) -> Result<Observation> {
    let started = Instant::now();
    let https = base_url(base_https, "https")?;
    let plain = base_url(base_plain_http, "http")?;
    let requests = paths.iter().map(|(path, expect)| Ok((at(&plain, path)?, *expect))).collect::<Result<Vec<_>>>()?;
    let root = extra_root
        .map(|pem| reqwest::tls::Certificate::from_pem(pem.as_bytes()))
        .transpose()
        .map_err(|e| Error::user(format!("the extra root certificate is not a PEM certificate: {e}")))?;
    let host = https.host_str().unwrap_or_default().to_owned();
    let port = https.port_or_known_default().unwrap_or(443);

    let mut observation = Observation::default();
    plain_http(&mut observation, &https, &requests).await?;
    secure_answer(&mut observation, &https, min_hsts_seconds, certificate_days, root).await?;
    let mut legacy = serde_json::Map::new();
    for probe in LEGACY_PROBES {
        let answer = legacy_hello(&host, port, probe.version).await;
        legacy.insert(probe.name.to_owned(), answer.to_string().into());
        match answer {
            LegacyAnswer::Refused(_) => observation.check(probe.check, true),
            LegacyAnswer::Accepted(version) => {
                observation.check(probe.check, false);
                observation.findings.push(legacy_finding(&host, port, probe.name, version));
            }
            LegacyAnswer::Unreachable(problem) => {
                observation.check(probe.check, Value::Null);
                observation
                    .findings
                    .push(Finding::fail(format!("could not try a {} client at {host}:{port}: {problem}", probe.name)));
            }
        }
    }
    observation.check("legacy_tls", Value::Object(legacy));
    observation.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(observation)
}

/// `https-config`: the distribution's HTTPS settings, from GetDistributionConfig and each
/// attached response headers policy (GetResponseHeadersPolicyConfig).
///
/// Checks: `viewer_policies` (behaviour → ViewerProtocolPolicy), `minimum_protocol`
/// (MinimumProtocolVersion, or `default-certificate`), `origin_access_control` (S3 origin → OAC
/// id), `hsts_max_age` (the smallest over all behaviours; null when one has none).
pub async fn config(target: &Target) -> Result<Observation> {
    let started = Instant::now();
    let distribution = target.output("DistributionId")?;
    let cloudfront = target.aws.cloudfront();
    let answer = cloudfront
        .get_distribution_config()
        .id(distribution)
        .send()
        .await
        .sdk_context(|| format!("failed to read the configuration of distribution {distribution}"))?;
    let configuration = answer.distribution_config().ok_or_else(|| {
        Error::Internal(anyhow::anyhow!("CloudFront answered without the configuration of distribution {distribution}"))
    })?;
    let mut observation = Observation::default();
    let behaviours = judge_distribution(configuration, &mut observation);
    let mut policies: BTreeMap<String, Option<i32>> = BTreeMap::new();
    for id in behaviours.iter().filter_map(|(_, policy)| policy.as_deref()) {
        if policies.contains_key(id) {
            continue;
        }
        let policy = cloudfront
            .get_response_headers_policy_config()
            .id(id)
            .send()
            .await
            .sdk_context(|| format!("failed to read response headers policy {id}"))?;
        let max_age = policy
            .response_headers_policy_config()
            .and_then(|config| config.security_headers_config())
            .and_then(|headers| headers.strict_transport_security())
            .map(|hsts| hsts.access_control_max_age_sec());
        policies.insert(id.to_owned(), max_age);
    }
    judge_hsts(&behaviours, &policies, &mut observation);
    observation.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(observation)
}

/// Viewer protocol policies, security policy and origin access control; returns each behaviour
/// (`default` or its path pattern) with its response headers policy, for [`judge_hsts`].
///
/// ViewerProtocolPolicy (CloudFront API reference, CacheBehavior,
/// https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CacheBehavior.html):
/// `redirect-to-https` answers plain HTTP with 301 and the HTTPS URL, `https-only` with 403
/// (Forbidden), `allow-all` serves it. The site is redirected; `/api/*` is refused, since a
/// redirect would turn a POST into a GET.
pub fn judge_distribution(
    configuration: &DistributionConfig,
    observation: &mut Observation,
) -> Vec<(String, Option<String>)> {
    let mut viewer = serde_json::Map::new();
    let mut behaviours = Vec::new();
    match configuration.default_cache_behavior() {
        Some(default) => {
            let policy = default.viewer_protocol_policy().as_str();
            viewer.insert("default".to_owned(), policy.into());
            if policy != "redirect-to-https" {
                observation.findings.push(Finding::fail(format!(
                    "the site's (default) cache behaviour has ViewerProtocolPolicy {policy}; \
                     it must be redirect-to-https"
                )));
            }
            behaviours.push(("default".to_owned(), default.response_headers_policy_id().map(str::to_owned)));
        }
        None => observation.findings.push(Finding::fail("the distribution has no default cache behaviour")),
    }
    let mut api_seen = false;
    for behaviour in configuration.cache_behaviors().map(|b| b.items()).unwrap_or_default() {
        let pattern = behaviour.path_pattern();
        let policy = behaviour.viewer_protocol_policy().as_str();
        viewer.insert(pattern.to_owned(), policy.into());
        // CloudFront takes the pattern with or without its leading slash.
        let api = pattern.trim_start_matches('/') == "api/*";
        api_seen |= api;
        let wanted = if api { "https-only" } else { "redirect-to-https" };
        if policy != wanted {
            observation.findings.push(Finding::fail(format!(
                "cache behaviour {pattern} has ViewerProtocolPolicy {policy}; it must be {wanted}"
            )));
        }
        behaviours.push((pattern.to_owned(), behaviour.response_headers_policy_id().map(str::to_owned)));
    }
    if !api_seen {
        observation.findings.push(Finding::fail("the distribution has no /api/* cache behaviour"));
    }
    observation.check("viewer_policies", Value::Object(viewer));

    // With the default *.cloudfront.net certificate "CloudFront automatically sets the security
    // policy to TLSv1 regardless of the value that you set here" (CloudFront API reference,
    // ViewerCertificate MinimumProtocolVersion,
    // https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_ViewerCertificate.html).
    let certificate = configuration.viewer_certificate();
    let custom = certificate.is_some_and(|c| {
        c.cloud_front_default_certificate() != Some(true)
            && (c.acm_certificate_arn().is_some_and(|a| !a.is_empty())
                || c.iam_certificate_id().is_some_and(|i| !i.is_empty()))
    });
    if custom {
        let minimum = certificate.and_then(|c| c.minimum_protocol_version()).map(|m| m.as_str()).unwrap_or("");
        observation.check("minimum_protocol", minimum);
        if !MODERN_SECURITY_POLICIES.contains(&minimum) {
            observation.findings.push(Finding::fail(format!(
                "the viewer certificate's MinimumProtocolVersion is {minimum:?}; it must be TLSv1.2_2021 \
                 (or newer) so that no viewer gets TLS 1.0, 1.1 or TLS 1.2's weak ciphers"
            )));
        }
    } else {
        observation.check("minimum_protocol", "default-certificate");
        observation.findings.push(Finding::warn(
            "the distribution uses the default *.cloudfront.net certificate, with which CloudFront allows \
             TLSv1 whatever MinimumProtocolVersion says; serve the site on a custom domain (DomainName and \
             CertificateArn) to get TLSv1.2_2021",
        ));
    }

    // The site's S3 origin: the one the default behaviour targets, and any other S3 origin.
    let site_origin = configuration.default_cache_behavior().map(|d| d.target_origin_id());
    let mut controls = serde_json::Map::new();
    for origin in configuration.origins().map(|o| o.items()).unwrap_or_default() {
        if origin.s3_origin_config().is_none() && Some(origin.id()) != site_origin {
            continue;
        }
        let control = origin.origin_access_control_id().filter(|id| !id.is_empty());
        controls.insert(origin.id().to_owned(), control.into());
        if control.is_none() {
            observation.findings.push(Finding::fail(format!(
                "S3 origin {} ({}) has no origin access control: CloudFront would read the bucket unsigned, \
                 so the bucket would have to be readable without CloudFront",
                origin.id(),
                origin.domain_name()
            )));
        }
    }
    if controls.is_empty() {
        observation.findings.push(Finding::fail("the distribution has no S3 origin for the site"));
    }
    observation.check("origin_access_control", Value::Object(controls));
    behaviours
}

/// `hsts_max_age` from each behaviour's response headers policy (`policies`: id → the
/// StrictTransportSecurity max-age it sets, if any).
pub fn judge_hsts(
    behaviours: &[(String, Option<String>)],
    policies: &BTreeMap<String, Option<i32>>,
    observation: &mut Observation,
) {
    let mut smallest: Option<i32> = None;
    let mut complete = !behaviours.is_empty();
    for (behaviour, policy) in behaviours {
        let max_age = match policy {
            None => {
                observation.findings.push(Finding::fail(format!(
                    "cache behaviour {behaviour} has no response headers policy: its answers carry no \
                     Strict-Transport-Security"
                )));
                None
            }
            Some(id) => {
                let max_age = policies.get(id).copied().flatten();
                if max_age.is_none() {
                    observation.findings.push(Finding::fail(format!(
                        "response headers policy {id} (cache behaviour {behaviour}) sets no Strict-Transport-Security"
                    )));
                }
                max_age
            }
        };
        match max_age {
            Some(age) => smallest = Some(smallest.map_or(age, |s| s.min(age))),
            None => complete = false,
        }
    }
    let reported = smallest.filter(|_| complete);
    observation.check("hsts_max_age", reported);
    if let Some(age) = reported
        && i64::from(age) < CONFIGURED_HSTS_SECONDS
    {
        observation.findings.push(Finding::fail(format!(
            "Strict-Transport-Security max-age is {age}s; the template sets {CONFIGURED_HSTS_SECONDS}s (one year)"
        )));
    }
}

/// `max-age` of a Strict-Transport-Security value: directives separated by `;`, names
/// case-insensitive, the value a number, possibly quoted (RFC 6797 §6.1).
pub fn hsts_max_age(value: &str) -> Option<u64> {
    value.split(';').find_map(|directive| {
        let (name, value) = directive.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("max-age") {
            return None;
        }
        value.trim().trim_matches('"').parse().ok()
    })
}

/// What a TLS 1.0 or 1.1 client gets: a refusal, or a connection. On the default
/// `*.cloudfront.net` certificate CloudFront always allows TLSv1 and TLSv1.1 (see [`judge_distribution`]):
/// that is a warning naming the fix, never a silent pass; anywhere else it fails.
pub fn legacy_finding(host: &str, port: u16, protocol: &str, negotiated: u16) -> Finding {
    let negotiated = wire_version(negotiated);
    if host.ends_with(".cloudfront.net") {
        Finding::warn(format!(
            "{protocol} accepted by {host} (negotiated {negotiated}): CloudFront's default *.cloudfront.net \
             certificate allows TLSv1 and TLSv1.1 whatever the template says; serve the site on a custom \
             domain (DomainName and CertificateArn) to get TLSv1.2_2021"
        ))
    } else {
        Finding::fail(format!("{protocol} accepted by {host}:{port} (negotiated {negotiated})"))
    }
}

fn base_url(text: &str, scheme: &str) -> Result<Url> {
    let url = Url::parse(text).map_err(|e| Error::user(format!("{text:?} is not a URL: {e}")))?;
    if url.scheme() != scheme || url.host_str().is_none() {
        return Err(Error::user(format!("{text:?} must be a {scheme}:// URL with a host")));
    }
    Ok(url)
}

/// `path` (with its query) at `base`'s scheme, host and port.
fn at(base: &Url, path: &str) -> Result<Url> {
    if !path.starts_with('/') || path.starts_with("//") {
        return Err(Error::user(format!("path {path:?} must start with a single /")));
    }
    let text = format!("{}{path}", base.origin().ascii_serialization());
    Url::parse(&text).map_err(|e| Error::user(format!("{text:?} is not a URL: {e}")))
}

/// The path and query of a URL, as a Location header would carry them.
fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

#[derive(Debug)]
enum PlainAnswer {
    Answered { status: u16, location: Option<String> },
    Refused,
    Failed(String),
}

async fn plain_http(observation: &mut Observation, https: &Url, requests: &[(Url, PlainHttpExpect)]) -> Result<()> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| Error::Internal(e.into()))?;
    let mut answers = serde_json::Map::new();
    for (url, expect) in requests {
        let answer = match client.get(url.clone()).send().await {
            Ok(response) => PlainAnswer::Answered {
                status: response.status().as_u16(),
                location: response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            },
            Err(error) if connection_refused(&error) => PlainAnswer::Refused,
            Err(error) => PlainAnswer::Failed(causes(&error)),
        };
        let verdict = match expect {
            PlainHttpExpect::Redirect => judge_redirect(&answer, url, https),
            PlainHttpExpect::Refused => judge_refusal(&answer),
        };
        let path = path_and_query(url);
        let (status, location) = match &answer {
            PlainAnswer::Answered { status, location } => (Some(*status), location.clone()),
            _ => (None, None),
        };
        let mut record = json!({
            "status": status,
            "location": location,
            "expect": expect,
            "ok": verdict.is_ok(),
        });
        match &answer {
            PlainAnswer::Refused => record["connection"] = "refused".into(),
            PlainAnswer::Failed(problem) => record["connection"] = problem.as_str().into(),
            PlainAnswer::Answered { .. } => {}
        }
        answers.insert(path.clone(), record);
        if let Err(problem) = verdict {
            observation.findings.push(Finding::fail(format!("plain HTTP {path}: {problem}")));
        }
    }
    observation.check("plain_http", Value::Object(answers));
    Ok(())
}

/// A permanent redirect (301 as CloudFront sends, or 308) to the same path and query on the
/// HTTPS host and port.
fn judge_redirect(answer: &PlainAnswer, request: &Url, https: &Url) -> Result<(), String> {
    let expected = format!("{}{}", https.origin().ascii_serialization(), path_and_query(request));
    match answer {
        PlainAnswer::Answered { status: status @ (301 | 308), location } => {
            let Some(location) = location else {
                return Err(format!("answered {status} without a Location; expected {expected}"));
            };
            let target = request.join(location).map_err(|_| format!("answered {status} to {location:?}, not a URL"))?;
            let same = target.origin() == https.origin()
                && target.path() == request.path()
                && target.query() == request.query();
            if same { Ok(()) } else { Err(format!("answered {status} to {location}; expected {expected}")) }
        }
        PlainAnswer::Answered { status, location } => Err(format!(
            "answered {status}{}; expected a 301 or 308 to {expected}",
            location.as_deref().map(|l| format!(" (Location {l})")).unwrap_or_default()
        )),
        PlainAnswer::Refused => Err(format!("the connection was refused; expected a 301 or 308 to {expected}")),
        PlainAnswer::Failed(problem) => Err(format!("no answer ({problem}); expected a 301 or 308 to {expected}")),
    }
}

/// 403, as CloudFront answers plain HTTP for an `https-only` behaviour, or nothing listening.
fn judge_refusal(answer: &PlainAnswer) -> Result<(), String> {
    match answer {
        PlainAnswer::Answered { status: 403, .. } | PlainAnswer::Refused => Ok(()),
        PlainAnswer::Answered { status, location } => Err(format!(
            "answered {status}{}; the API must refuse plain HTTP (403, or no connection)",
            location.as_deref().map(|l| format!(" (Location {l})")).unwrap_or_default()
        )),
        PlainAnswer::Failed(problem) => Err(format!("no answer ({problem}); expected 403 or a refused connection")),
    }
}

/// One HTTPS request to the root: the negotiated protocol, HSTS and the certificate.
async fn secure_answer(
    observation: &mut Observation,
    https: &Url,
    min_hsts_seconds: u64,
    certificate_days: u32,
    root: Option<reqwest::tls::Certificate>,
) -> Result<()> {
    let url = at(https, "/")?;
    let host = https.host_str().unwrap_or_default();
    let verified = https_client(root.map(|r| vec![r]), false)?.get(url.clone()).send().await;
    let response = match verified {
        Ok(response) => {
            observation.check("certificate_valid", true);
            Some(response)
        }
        Err(error) => match certificate_problem(&error) {
            Some(problem) => {
                observation.check("certificate_valid", false);
                observation.findings.push(Finding::fail(format!("the certificate of {host} is not valid: {problem}")));
                // The protocol, HSTS and expiry are still worth reporting.
                https_client(None, true)?.get(url.clone()).send().await.ok()
            }
            None => {
                observation.check("certificate_valid", Value::Null);
                observation.findings.push(Finding::fail(format!("HTTPS request to {url} failed: {}", causes(&error))));
                None
            }
        },
    };
    let Some(response) = response else {
        for check in ["tls_version", "hsts_max_age", "certificate_not_after", "certificate_days_left"] {
            observation.check(check, Value::Null);
        }
        return Ok(());
    };

    observation.status = Some(response.status().as_u16());
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        observation
            .headers
            .entry(name.as_str().to_owned())
            .and_modify(|existing| {
                existing.push_str(", ");
                existing.push_str(&value);
            })
            .or_insert(value);
    }

    let info = response.extensions().get::<reqwest::tls::TlsInfo>();
    match info.and_then(|i| i.version()) {
        Some(version) => {
            observation.check("tls_version", tls_version_name(version));
            if version < reqwest::tls::Version::TLS_1_2 {
                observation.findings.push(Finding::fail(format!(
                    "HTTPS negotiated {}; nothing below TLS 1.2 may be offered",
                    tls_version_name(version)
                )));
            }
        }
        None => {
            observation.check("tls_version", Value::Null);
            observation.findings.push(Finding::fail("the HTTPS connection reported no TLS version"));
        }
    }

    match info.and_then(|i| i.peer_certificate()).and_then(local_tls::certificate_not_after) {
        Some(not_after) => {
            let days_left = (not_after - Utc::now()).num_days();
            observation.check("certificate_not_after", not_after.to_rfc3339());
            observation.check("certificate_days_left", days_left);
            if days_left < i64::from(certificate_days) {
                observation.findings.push(Finding::fail(format!(
                    "the certificate of {host} expires {} ({days_left} days left; at least {certificate_days} wanted)",
                    not_after.format("%Y-%m-%d")
                )));
            }
        }
        None => {
            observation.check("certificate_not_after", Value::Null);
            observation.check("certificate_days_left", Value::Null);
            observation.findings.push(Finding::fail(format!("could not read when the certificate of {host} expires")));
        }
    }

    // HSTS is only honoured over HTTPS (RFC 6797 §8.1), so only this answer counts.
    let hsts = response.headers().get(reqwest::header::STRICT_TRANSPORT_SECURITY);
    let max_age = hsts.and_then(|v| v.to_str().ok()).and_then(hsts_max_age);
    observation.check("hsts_max_age", max_age);
    match (hsts, max_age) {
        (None, _) => observation
            .findings
            .push(Finding::fail(format!("the HTTPS answer of {url} has no Strict-Transport-Security header"))),
        (Some(value), None) => observation.findings.push(Finding::fail(format!(
            "Strict-Transport-Security {:?} has no max-age",
            String::from_utf8_lossy(value.as_bytes())
        ))),
        (Some(_), Some(age)) if age < min_hsts_seconds => observation
            .findings
            .push(Finding::fail(format!("Strict-Transport-Security max-age={age} is below {min_hsts_seconds}"))),
        (Some(_), Some(_)) => {}
    }
    Ok(())
}

/// `roots`: trust only these (the local CA); None: the platform's verifier (reqwest's `rustls`
/// feature brings rustls-platform-verifier), as a browser on this machine would.
fn https_client(roots: Option<Vec<reqwest::tls::Certificate>>, unverified: bool) -> Result<reqwest::Client> {
    let mut builder =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(TIMEOUT).tls_info(true);
    if unverified {
        builder = builder.tls_danger_accept_invalid_certs(true);
    } else if let Some(roots) = roots {
        builder = builder.tls_certs_only(roots);
    }
    builder.build().map_err(|e| Error::Internal(e.into()))
}

fn tls_version_name(version: reqwest::tls::Version) -> &'static str {
    use reqwest::tls::Version;
    if version == Version::TLS_1_3 {
        "TLSv1.3"
    } else if version == Version::TLS_1_2 {
        "TLSv1.2"
    } else if version == Version::TLS_1_1 {
        "TLSv1.1"
    } else if version == Version::TLS_1_0 {
        "TLSv1.0"
    } else {
        "unknown"
    }
}

/// rustls's verdict on the certificate, when that is why a request failed. tokio-rustls reports
/// it inside an `io::Error`, whose `source()` skips it, hence `get_ref`.
fn certificate_problem(error: &(dyn StdError + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(current) = next {
        let tls = current.downcast_ref::<rustls::Error>().or_else(|| {
            current
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls @ (rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)) = tls {
            return Some(tls.to_string());
        }
        next = current.source();
    }
    // Should a layer between reqwest and rustls ever hide the error's type, its text still says
    // it (rustls's Display of InvalidCertificate).
    let text = causes(error);
    text.contains("invalid peer certificate").then_some(text)
}

fn connection_refused(error: &reqwest::Error) -> bool {
    let mut next: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = next {
        if current.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        next = current.source();
    }
    false
}

/// An error and its causes on one line, each said once.
fn causes(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        next = cause.source();
    }
    text
}

// --- Legacy protocols -------------------------------------------------------------------------
// rustls cannot offer TLS 1.0 or 1.1, so the ClientHello is written by hand (RFC 2246 §7.4.1.2,
// RFC 4346 §7.4.1.2) and only the first record of the answer is read: an alert or a closed
// connection is a refusal; a ServerHello for a version below TLS 1.2 is an accepted legacy client.
// Both versions are deprecated (RFC 8996).

struct LegacyProbe {
    version: u16,
    name: &'static str,
    check: &'static str,
}

const LEGACY_PROBES: [LegacyProbe; 2] = [
    LegacyProbe { version: 0x0301, name: "TLS 1.0", check: "tls10_refused" },
    LegacyProbe { version: 0x0302, name: "TLS 1.1", check: "tls11_refused" },
];

const CONTENT_ALERT: u8 = 21;
const CONTENT_HANDSHAKE: u8 = 22;
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
/// The largest record a peer may send: 2^14 plus expansion (RFC 5246 §6.2.3).
const MAX_RECORD: usize = 16_384 + 2_048;

/// What a 2010 browser offered over TLS 1.0: ECDHE and RSA key exchange with CBC ciphers,
/// 3DES, and the renegotiation SCSV (RFC 5746). CloudFront's TLSv1 policy takes the ECDHE ones
/// ("Supported protocols and ciphers between viewers and CloudFront").
const LEGACY_SUITES: [u16; 8] = [
    0xc009, // TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA
    0xc00a, // TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA
    0xc013, // TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA
    0xc014, // TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA
    0x002f, // TLS_RSA_WITH_AES_128_CBC_SHA
    0x0035, // TLS_RSA_WITH_AES_256_CBC_SHA
    0x000a, // TLS_RSA_WITH_3DES_EDE_CBC_SHA
    0x00ff, // TLS_EMPTY_RENEGOTIATION_INFO_SCSV
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum LegacyAnswer {
    Refused(String),
    /// The version of the ServerHello.
    Accepted(u16),
    Unreachable(String),
}

impl std::fmt::Display for LegacyAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LegacyAnswer::Refused(how) => write!(f, "refused ({how})"),
            LegacyAnswer::Accepted(version) => write!(f, "accepted (ServerHello for {})", wire_version(*version)),
            LegacyAnswer::Unreachable(problem) => write!(f, "not tried ({problem})"),
        }
    }
}

async fn legacy_hello(host: &str, port: u16, version: u16) -> LegacyAnswer {
    let address = host.trim_start_matches('[').trim_end_matches(']');
    // SNI carries host names only, never an IP literal (RFC 6066 §3).
    let server_name = address.parse::<IpAddr>().is_err().then_some(address);
    let stream = match tokio::time::timeout(TIMEOUT, TcpStream::connect((address, port))).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return LegacyAnswer::Unreachable(error.to_string()),
        Err(_) => return LegacyAnswer::Unreachable(format!("no connection within {}s", TIMEOUT.as_secs())),
    };
    match tokio::time::timeout(TIMEOUT, exchange(stream, client_hello(version, server_name))).await {
        Ok(answer) => answer,
        Err(_) => LegacyAnswer::Refused(format!("no answer within {}s", TIMEOUT.as_secs())),
    }
}

async fn exchange(mut stream: TcpStream, hello: Vec<u8>) -> LegacyAnswer {
    if let Err(error) = stream.write_all(&hello).await {
        return LegacyAnswer::Refused(format!("the connection closed: {error}"));
    }
    let mut header = [0u8; 5];
    if let Err(error) = stream.read_exact(&mut header).await {
        return LegacyAnswer::Refused(if error.kind() == std::io::ErrorKind::UnexpectedEof {
            "the connection closed".to_owned()
        } else {
            format!("the connection closed: {error}")
        });
    }
    let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
    match header[0] {
        CONTENT_ALERT => {
            let mut alert = [0u8; 2];
            match stream.read_exact(&mut alert).await {
                Ok(_) => LegacyAnswer::Refused(format!("alert {}", alert_name(alert[1]))),
                Err(_) => LegacyAnswer::Refused("an alert".to_owned()),
            }
        }
        CONTENT_HANDSHAKE if length <= MAX_RECORD => {
            let mut fragment = vec![0u8; length];
            if stream.read_exact(&mut fragment).await.is_err() {
                return LegacyAnswer::Refused("the connection closed mid-record".to_owned());
            }
            match server_hello_version(&fragment) {
                Some(version) if version < 0x0303 => LegacyAnswer::Accepted(version),
                Some(version) => LegacyAnswer::Refused(format!("a ServerHello for {}", wire_version(version))),
                None => LegacyAnswer::Refused("a handshake message that is not a ServerHello".to_owned()),
            }
        }
        other => LegacyAnswer::Refused(format!("not a TLS answer (first byte 0x{other:02x})")),
    }
}

/// `server_version` of a ServerHello at the start of a handshake record's fragment: type (1),
/// length (3), then the version (RFC 5246 §7.4.1.3).
fn server_hello_version(fragment: &[u8]) -> Option<u16> {
    match fragment {
        [SERVER_HELLO, _, _, _, major, minor, ..] => Some(u16::from_be_bytes([*major, *minor])),
        _ => None,
    }
}

/// A ClientHello offering `version` at most (and in the record header), [`LEGACY_SUITES`], no
/// compression, SNI when the host is a name, and the curves and point format ECDHE needs
/// (RFC 4492 §5.1).
fn client_hello(version: u16, server_name: Option<&str>) -> Vec<u8> {
    let mut extensions = Vec::new();
    if let Some(name) = server_name {
        let name = name.as_bytes();
        extensions.extend_from_slice(&[0x00, 0x00]); // server_name
        extensions.extend_from_slice(&u16_length(name.len() + 5));
        extensions.extend_from_slice(&u16_length(name.len() + 3)); // server_name_list
        extensions.push(0); // host_name
        extensions.extend_from_slice(&u16_length(name.len()));
        extensions.extend_from_slice(name);
    }
    // supported_groups (elliptic_curves): x25519, secp256r1, secp384r1
    extensions.extend_from_slice(&[0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18]);
    // ec_point_formats: uncompressed
    extensions.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);

    let mut body = Vec::new();
    body.extend_from_slice(&version.to_be_bytes()); // client_version
    let mut random = [0u8; 32];
    fastrand::fill(&mut random);
    body.extend_from_slice(&random);
    body.push(0); // session_id: none
    body.extend_from_slice(&u16_length(LEGACY_SUITES.len() * 2));
    for suite in LEGACY_SUITES {
        body.extend_from_slice(&suite.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression_methods: null
    body.extend_from_slice(&u16_length(extensions.len()));
    body.extend_from_slice(&extensions);

    let mut record = vec![CONTENT_HANDSHAKE];
    record.extend_from_slice(&version.to_be_bytes());
    record.extend_from_slice(&u16_length(body.len() + 4));
    record.push(CLIENT_HELLO);
    record.extend_from_slice(&u32::try_from(body.len()).unwrap_or(0).to_be_bytes()[1..]); // 24-bit length
    record.extend_from_slice(&body);
    record
}

fn u16_length(length: usize) -> [u8; 2] {
    u16::try_from(length).unwrap_or(u16::MAX).to_be_bytes()
}

fn wire_version(version: u16) -> String {
    match version {
        0x0300 => "SSL 3.0".to_owned(),
        0x0301 => "TLS 1.0".to_owned(),
        0x0302 => "TLS 1.1".to_owned(),
        0x0303 => "TLS 1.2".to_owned(),
        0x0304 => "TLS 1.3".to_owned(),
        other => format!("version 0x{other:04x}"),
    }
}

/// AlertDescription names (RFC 5246 §7.2, RFC 8446 §6) for the alerts a refusal comes with.
fn alert_name(code: u8) -> String {
    let name = match code {
        40 => "handshake_failure",
        47 => "illegal_parameter",
        50 => "decode_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        112 => "unrecognized_name",
        _ => return code.to_string(),
    };
    format!("{code} {name}")
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudfront::types::{
        CacheBehavior, CacheBehaviors, DefaultCacheBehavior, Origin, Origins, S3OriginConfig, ViewerCertificate,
        ViewerProtocolPolicy,
    };

    use super::*;
    use crate::testplan::observation::FindingSeverity;

    #[test]
    fn a_client_hello_is_one_consistent_record() {
        for (version, name) in [(0x0301, Some("d111111abcdef8.cloudfront.net")), (0x0302, None)] {
            let hello = client_hello(version, name);
            assert_eq!(hello[0], CONTENT_HANDSHAKE);
            assert_eq!(u16::from_be_bytes([hello[1], hello[2]]), version);
            assert_eq!(usize::from(u16::from_be_bytes([hello[3], hello[4]])), hello.len() - 5);
            assert_eq!(hello[5], CLIENT_HELLO);
            let body = (usize::from(hello[7]) << 8) | usize::from(hello[8]);
            assert_eq!((hello[6], body), (0, hello.len() - 9));
            assert_eq!(u16::from_be_bytes([hello[9], hello[10]]), version);
            let sni = hello.windows(29).any(|w| w == b"d111111abcdef8.cloudfront.net");
            assert_eq!(sni, name.is_some());
        }
    }

    #[test]
    fn a_server_hello_says_its_version() {
        assert_eq!(server_hello_version(&[2, 0, 0, 38, 3, 1, 0]), Some(0x0301));
        assert_eq!(server_hello_version(&[11, 0, 0, 38, 3, 1]), None);
        assert_eq!(server_hello_version(&[2, 0]), None);
    }

    #[test]
    fn max_age_is_read_as_rfc_6797_writes_it() {
        assert_eq!(hsts_max_age("max-age=31536000; includeSubDomains"), Some(31_536_000));
        assert_eq!(hsts_max_age("includeSubDomains; Max-Age=\"600\""), Some(600));
        assert_eq!(hsts_max_age("includeSubDomains"), None);
        assert_eq!(hsts_max_age("max-age=soon"), None);
    }

    #[test]
    fn legacy_tls_on_the_default_cloudfront_certificate_warns_with_the_fix() {
        let warned = legacy_finding("d111111abcdef8.cloudfront.net", 443, "TLS 1.0", 0x0301);
        assert_eq!(warned.severity, FindingSeverity::Warn);
        assert!(warned.message.contains("TLSv1.2_2021"), "{}", warned.message);
        let failed = legacy_finding("twin.example.com", 443, "TLS 1.0", 0x0301);
        assert_eq!(failed.severity, FindingSeverity::Fail);
        assert!(failed.message.starts_with("TLS 1.0 accepted"), "{}", failed.message);
    }

    #[test]
    fn plain_http_answers_are_judged_by_status_and_location() {
        let https = Url::parse("https://127.0.0.1:3443").expect("url");
        let request = Url::parse("http://127.0.0.1:3080/about?x=1").expect("url");
        let redirect = |status, location: &str| PlainAnswer::Answered { status, location: Some(location.to_owned()) };
        assert!(judge_redirect(&redirect(308, "https://127.0.0.1:3443/about?x=1"), &request, &https).is_ok());
        assert!(judge_redirect(&redirect(301, "https://127.0.0.1:3443/about?x=1"), &request, &https).is_ok());
        assert!(judge_redirect(&redirect(302, "https://127.0.0.1:3443/about?x=1"), &request, &https).is_err());
        assert!(judge_redirect(&redirect(308, "https://127.0.0.1:3443/"), &request, &https).is_err());
        assert!(judge_redirect(&redirect(308, "http://127.0.0.1:3443/about?x=1"), &request, &https).is_err());
        assert!(judge_redirect(&PlainAnswer::Refused, &request, &https).is_err());
        assert!(judge_refusal(&PlainAnswer::Answered { status: 403, location: None }).is_ok());
        assert!(judge_refusal(&PlainAnswer::Refused).is_ok());
        assert!(judge_refusal(&redirect(308, "https://127.0.0.1:3443/api/x")).is_err());
    }

    fn distribution(api_policy: ViewerProtocolPolicy, certificate: ViewerCertificate, oac: &str) -> DistributionConfig {
        let site = Origin::builder()
            .id("site")
            .domain_name("site.s3.us-east-1.amazonaws.com")
            .origin_access_control_id(oac)
            .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
            .build()
            .expect("origin");
        let api =
            Origin::builder().id("api").domain_name("abc.execute-api.us-east-1.amazonaws.com").build().expect("origin");
        DistributionConfig::builder()
            .caller_reference("r")
            .comment("")
            .enabled(true)
            .origins(Origins::builder().quantity(2).items(site).items(api).build().expect("origins"))
            .default_cache_behavior(
                DefaultCacheBehavior::builder()
                    .target_origin_id("site")
                    .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                    .response_headers_policy_id("headers")
                    .build()
                    .expect("default behaviour"),
            )
            .cache_behaviors(
                CacheBehaviors::builder()
                    .quantity(1)
                    .items(
                        CacheBehavior::builder()
                            .path_pattern("/api/*")
                            .target_origin_id("api")
                            .viewer_protocol_policy(api_policy)
                            .response_headers_policy_id("headers")
                            .build()
                            .expect("behaviour"),
                    )
                    .build()
                    .expect("behaviours"),
            )
            .viewer_certificate(certificate)
            .build()
            .expect("configuration")
    }

    fn fails(observation: &Observation) -> Vec<&str> {
        observation
            .findings
            .iter()
            .filter(|f| f.severity == FindingSeverity::Fail)
            .map(|f| f.message.as_str())
            .collect()
    }

    #[test]
    fn the_templates_distribution_passes_and_its_default_certificate_warns() {
        let default_certificate = ViewerCertificate::builder().cloud_front_default_certificate(true).build();
        let mut observation = Observation::default();
        let behaviours = judge_distribution(
            &distribution(ViewerProtocolPolicy::HttpsOnly, default_certificate, "E1"),
            &mut observation,
        );
        let policies = BTreeMap::from([("headers".to_owned(), Some(31_536_000))]);
        judge_hsts(&behaviours, &policies, &mut observation);
        assert!(fails(&observation).is_empty(), "{:?}", observation.findings);
        assert_eq!(observation.checks["minimum_protocol"], "default-certificate");
        assert_eq!(observation.checks["hsts_max_age"], 31_536_000);
        assert_eq!(observation.checks["viewer_policies"]["/api/*"], "https-only");
        assert_eq!(observation.checks["origin_access_control"]["site"], "E1");
        assert!(observation.findings.iter().any(|f| f.severity == FindingSeverity::Warn));
    }

    #[test]
    fn a_redirected_api_an_old_policy_no_oac_and_a_short_hsts_fail() {
        let custom = ViewerCertificate::builder()
            .acm_certificate_arn("arn:aws:acm:us-east-1:123456789012:certificate/x")
            .minimum_protocol_version(aws_sdk_cloudfront::types::MinimumProtocolVersion::TlSv12016)
            .build();
        let mut observation = Observation::default();
        let behaviours =
            judge_distribution(&distribution(ViewerProtocolPolicy::RedirectToHttps, custom, ""), &mut observation);
        let policies = BTreeMap::from([("headers".to_owned(), Some(300))]);
        judge_hsts(&behaviours, &policies, &mut observation);
        let fails = fails(&observation);
        assert!(fails.iter().any(|f| f.contains("/api/*") && f.contains("https-only")), "{fails:?}");
        assert!(fails.iter().any(|f| f.contains("TLSv1_2016")), "{fails:?}");
        assert!(fails.iter().any(|f| f.contains("origin access control")), "{fails:?}");
        assert!(fails.iter().any(|f| f.contains("max-age is 300s")), "{fails:?}");
        assert_eq!(observation.checks["minimum_protocol"], "TLSv1_2016");
    }
}
