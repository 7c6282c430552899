//! The local HTTPS of `twinctl serve`: a certificate authority made on this machine, the server
//! certificate it signs for `localhost`, `127.0.0.1` and `::1`, and the listener that accepts
//! TLS connections with it.
//!
//! Owns the directory the caller gives (the project's `.twin/tls/`): `ca.pem`, `ca-key.pem`,
//! `server.pem`, `server-key.pem`, the keys readable by their owner only. Everything is made
//! with rcgen on first use and reused while it verifies and lasts at least 30 more days. When
//! only the server certificate fails that, it is issued again by the same CA, so a browser that
//! was told to trust the CA keeps trusting; the CA is replaced only when it is the one that
//! expires or is damaged.
//!
//! Must not: add the CA to any trust store (trusting it is the user's decision, made once with
//! the path `serve` prints), or let the CA vouch for anything but this machine: its name
//! constraints permit only `localhost`, 127.0.0.0/8 and ::1, so its key, which sits in a file,
//! cannot impersonate another site even to a browser that trusts the CA.

use std::fs;
use std::io::Write as _;
use std::net::{Ipv6Addr, SocketAddr};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Datelike as _, TimeDelta, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, PublicKeyData as _,
};
use rustls::client::danger::ServerCertVerifier as _;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use sha2::{Digest as _, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

use crate::error::{Error, Result};

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca-key.pem";
pub const SERVER_CERT: &str = "server.pem";
pub const SERVER_KEY: &str = "server-key.pem";

/// Certificates with fewer days left than this are made again before serving.
pub const RENEW_WITHIN_DAYS: i64 = 30;
const CA_DAYS: i64 = 3650;
/// Under Apple's 825-day limit for TLS server certificates, which applies to certificates of
/// user-added roots too (Apple support HT210176, "Requirements for trusted certificates in
/// iOS 13 and macOS 10.15"); 397 is also what public CAs may issue at most.
const SERVER_DAYS: i64 = 397;
/// Every name the server certificate is checked for before it is reused.
const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// A client that stalls mid-handshake is dropped after this; others are not held up meanwhile.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The local CA and a TLS server configuration with its server certificate.
#[derive(Debug, Clone)]
pub struct LocalTls {
    /// The CA certificate (PEM): what a client must trust to accept the server certificate.
    pub ca_pem: String,
    /// Where the CA certificate is, for users to trust (`serve` prints it).
    pub ca_path: PathBuf,
    /// TLS 1.3 and 1.2 (rustls has nothing older), ALPN `http/1.1` (axum serves HTTP/1 only
    /// here).
    pub server_config: Arc<rustls::ServerConfig>,
}

/// The CA and server certificate kept in `dir`, made or renewed as needed (see the module).
pub fn load_or_create(dir: &Path) -> Result<LocalTls> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("failed to create {}", dir.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let now = Utc::now();
    let mut authority = match Authority::read(dir, &provider, now) {
        Some(authority) => authority,
        None => Authority::create(dir, now)?,
    };
    let (certificate, key) = match read_server(dir, &authority, &provider, now) {
        Some(server) => server,
        None => {
            issue_server(dir, &authority, now, now + TimeDelta::days(SERVER_DAYS))?;
            match read_server(dir, &authority, &provider, now) {
                Some(server) => server,
                // The CA files were not made by this code (a subject it does not rebuild from the
                // key): what it signs does not chain to them. Start again with a CA of its own.
                None => {
                    authority = Authority::create(dir, now)?;
                    issue_server(dir, &authority, now, now + TimeDelta::days(SERVER_DAYS))?;
                    read_server(dir, &authority, &provider, now).ok_or_else(|| {
                        Error::Internal(anyhow::anyhow!(
                            "the server certificate just issued in {} does not verify against its CA",
                            dir.display()
                        ))
                    })?
                }
            }
        }
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("failed to set the TLS versions of the local server")?
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .with_context(|| format!("failed to load the server certificate in {}", dir.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(LocalTls { ca_pem: authority.pem, ca_path: dir.join(CA_CERT), server_config: Arc::new(config) })
}

/// When a DER certificate stops being valid: `tbsCertificate.validity.notAfter` (RFC 5280
/// §4.1, §4.1.2.5). Read by hand: twinctl has no X.509 parser (rcgen's needs its `x509-parser`
/// feature, and rustls-webpki does not expose validity).
pub fn certificate_not_after(der: &[u8]) -> Option<DateTime<Utc>> {
    const SEQUENCE: u8 = 0x30;
    const EXPLICIT_VERSION: u8 = 0xa0;
    let (certificate, _) = der_expect(der, SEQUENCE)?;
    let (tbs, _) = der_expect(certificate, SEQUENCE)?;
    // version [0] is absent from v1 certificates; serialNumber, signature and issuer follow.
    let mut rest = tbs;
    if rest.first() == Some(&EXPLICIT_VERSION) {
        rest = der_element(rest)?.2;
    }
    for _ in 0..3 {
        rest = der_element(rest)?.2;
    }
    let (validity, _) = der_expect(rest, SEQUENCE)?;
    let (_, _, after_not_before) = der_element(validity)?;
    let (tag, time, _) = der_element(after_not_before)?;
    der_time(tag, time)
}

/// Accepts TLS connections for `axum::serve`. Each handshake runs in a task of its own: a client
/// that stalls mid-handshake, or a probe that never finishes one (`verify`'s TLS 1.0 hello),
/// holds up no other connection.
#[derive(Debug)]
pub struct TlsListener {
    local: SocketAddr,
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Starts accepting on `listener` (inside a tokio runtime); stops when dropped.
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (sender, accepted) = mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    () = sender.closed() => return,
                    connection = listener.accept() => match connection {
                        Ok(connection) => connection,
                        // Out of file descriptors and the like: wait instead of spinning.
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    // A failed handshake (an old protocol, an untrusted certificate on the client's
                    // side) has already been answered with an alert by rustls; nothing to serve.
                    if let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        let _ = sender.send((tls, peer)).await;
                    }
                });
            }
        });
        Ok(Self { local, accepted })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(connection) => connection,
            // The accepting task ended (its runtime is shutting down): no more connections.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// The CA: its certificate, and its key to sign server certificates with.
struct Authority {
    pem: String,
    der: CertificateDer<'static>,
    key: KeyPair,
}

impl Authority {
    /// The CA in `dir`, unless missing, damaged, not matching its key or ending within
    /// [`RENEW_WITHIN_DAYS`].
    fn read(dir: &Path, provider: &Arc<CryptoProvider>, now: DateTime<Utc>) -> Option<Self> {
        let pem = fs::read_to_string(dir.join(CA_CERT)).ok()?;
        let key_pem = fs::read_to_string(dir.join(CA_KEY)).ok()?;
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).ok()?;
        let key = KeyPair::from_pem(&key_pem).ok()?;
        let key_der = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).ok()?;
        // Fails when the key is not the certificate's.
        rustls::sign::CertifiedKey::from_der(vec![der.clone()], key_der, provider).ok()?;
        if !lasts(&der, now) {
            return None;
        }
        owner_only(&dir.join(CA_KEY)).ok()?;
        Some(Self { pem, der, key })
    }

    /// A new CA, written to `dir`.
    fn create(dir: &Path, now: DateTime<Utc>) -> Result<Self> {
        let key = KeyPair::generate().context("failed to generate the local CA's key")?;
        let certificate = authority_params(&key, now, now + TimeDelta::days(CA_DAYS))
            .self_signed(&key)
            .context("failed to make the local CA's certificate")?;
        let pem = certificate.pem();
        write_file(&dir.join(CA_KEY), &key.serialize_pem(), 0o600)?;
        write_file(&dir.join(CA_CERT), &pem, 0o644)?;
        Ok(Self { pem, der: certificate.der().clone(), key })
    }
}

/// The CA's certificate parameters. The subject is derived from the key alone, so that the
/// issuer of a server certificate signed later (rcgen's `Issuer` takes the CA's name from these
/// parameters) is exactly the CA's subject, without parsing the CA certificate. The key's
/// fingerprint in the name also keeps two machines' (or two generations') CAs apart in a
/// browser's certificate list.
fn authority_params(key: &KeyPair, from: DateTime<Utc>, until: DateTime<Utc>) -> CertificateParams {
    let mut params = CertificateParams::default();
    validity(&mut params, from, until);
    let fingerprint = hex::encode(&Sha256::digest(key.der_bytes())[..6]);
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "twinctl");
    name.push(DnType::CommonName, format!("twinctl local CA {fingerprint}"));
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    // RFC 5280 §4.2.1.10: a name of a permitted form outside these subtrees is rejected.
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::DnsName("localhost".to_owned()),
            GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix([127, 0, 0, 0], 8)),
            GeneralSubtree::IpAddress(CidrSubnet::from_v6_prefix(Ipv6Addr::LOCALHOST.octets(), 128)),
        ],
        excluded_subtrees: Vec::new(),
    });
    params
}

/// Issues a server certificate for [`SERVER_NAMES`] valid until `until`, written to `dir`.
fn issue_server(dir: &Path, authority: &Authority, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<()> {
    let key = KeyPair::generate().context("failed to generate the local server's key")?;
    let mut params = CertificateParams::new(SERVER_NAMES.map(str::to_owned).to_vec())
        .context("failed to prepare the local server certificate")?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "localhost");
    params.distinguished_name = name;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, now, until);
    let issuer = Issuer::new(authority_params(&authority.key, now, now), &authority.key);
    let certificate = params.signed_by(&key, &issuer).context("failed to sign the local server certificate")?;
    write_file(&dir.join(SERVER_KEY), &key.serialize_pem(), 0o600)?;
    write_file(&dir.join(SERVER_CERT), &certificate.pem(), 0o644)?;
    Ok(())
}

/// The server certificate and key in `dir`, unless missing, damaged, not matching, not chaining
/// to `authority` for every one of [`SERVER_NAMES`], or ending within [`RENEW_WITHIN_DAYS`].
fn read_server(
    dir: &Path,
    authority: &Authority,
    provider: &Arc<CryptoProvider>,
    now: DateTime<Utc>,
) -> Option<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
    let certificate = CertificateDer::from_pem_file(dir.join(SERVER_CERT)).ok()?;
    let key = PrivateKeyDer::from_pem_file(dir.join(SERVER_KEY)).ok()?;
    rustls::sign::CertifiedKey::from_der(vec![certificate.clone()], key.clone_key(), provider).ok()?;
    if !lasts(&certificate, now) {
        return None;
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.add(authority.der.clone()).ok()?;
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().ok()?;
    let verifies = SERVER_NAMES.iter().all(|name| {
        ServerName::try_from(*name)
            .is_ok_and(|name| verifier.verify_server_cert(&certificate, &[], &name, &[], UnixTime::now()).is_ok())
    });
    if !verifies {
        return None;
    }
    owner_only(&dir.join(SERVER_KEY)).ok()?;
    Some((certificate, key))
}

/// Valid for at least [`RENEW_WITHIN_DAYS`] more days.
fn lasts(der: &[u8], now: DateTime<Utc>) -> bool {
    certificate_not_after(der).is_some_and(|end| end - now >= TimeDelta::days(RENEW_WITHIN_DAYS))
}

/// Whole days in UTC (what `rcgen::date_time_ymd` takes), starting a day early so that a clock
/// a little behind still accepts a certificate made just now.
fn validity(params: &mut CertificateParams, from: DateTime<Utc>, until: DateTime<Utc>) {
    let start = from - TimeDelta::days(1);
    params.not_before = rcgen::date_time_ymd(start.year(), start.month() as u8, start.day() as u8);
    params.not_after = rcgen::date_time_ymd(until.year(), until.month() as u8, until.day() as u8);
}

/// A key file someone made readable to others is narrowed again before it is used.
fn owner_only(path: &Path) -> std::io::Result<()> {
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Writes through a temporary file renamed into place: a reader (or a crash) never sees half a
/// file, and a key is never readable by others, not even while it is written.
fn write_file(path: &Path, contents: &str, mode: u32) -> Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    write_then_rename(&temporary, path, contents, mode)
        .with_context(|| format!("failed to write {}", path.display()))?;
    Ok(())
}

fn write_then_rename(temporary: &Path, path: &Path, contents: &str, mode: u32) -> std::io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(temporary)?;
    // `mode` applies only to a file this call created; a leftover temporary keeps its own.
    fs::set_permissions(temporary, fs::Permissions::from_mode(mode))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    fs::rename(temporary, path)
}

/// One DER element: tag, content, what follows. Low tag numbers only (all that certificates'
/// outer structure uses) and definite lengths of up to four bytes (DER has no other).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        (bytes.iter().fold(0usize, |length, byte| (length << 8) | usize::from(*byte)), rest)
    };
    if rest.len() < length {
        return None;
    }
    let (content, rest) = rest.split_at(length);
    Some((tag, content, rest))
}

fn der_expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match der_element(input)? {
        (found, content, rest) if found == tag => Some((content, rest)),
        _ => None,
    }
}

/// UTCTime `YYMMDDHHMMSSZ` (years 1950-2049) or GeneralizedTime `YYYYMMDDHHMMSSZ`, the two forms
/// RFC 5280 §4.1.2.5 allows.
fn der_time(tag: u8, text: &[u8]) -> Option<DateTime<Utc>> {
    const UTC_TIME: u8 = 0x17;
    const GENERALIZED_TIME: u8 = 0x18;
    let digits = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let short: i32 = digits[..2].parse().ok()?;
            (if short >= 50 { 1900 + short } else { 2000 + short }, &digits[2..])
        }
        (GENERALIZED_TIME, 14) => (digits[..4].parse().ok()?, &digits[4..]),
        _ => return None,
    };
    let field = |at: usize| rest.get(at..at + 2)?.parse::<u32>().ok();
    let date = chrono::NaiveDate::from_ymd_opt(year, field(0)?, field(2)?)?;
    Some(date.and_hms_opt(field(4)?, field(6)?, field(8)?)?.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate_until(until: DateTime<Utc>) -> Vec<u8> {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        validity(&mut params, Utc::now(), until);
        params.self_signed(&key).expect("certificate").der().to_vec()
    }

    #[test]
    fn not_after_is_read_from_utc_and_generalized_times() {
        let ymd = |y, m, d| {
            chrono::NaiveDate::from_ymd_opt(y, m, d).expect("date").and_hms_opt(0, 0, 0).expect("time").and_utc()
        };
        // rcgen writes UTCTime before 2050 and GeneralizedTime from 2050 on.
        for until in [ymd(2031, 5, 17), ymd(2049, 12, 31), ymd(2050, 1, 1), ymd(2101, 2, 3)] {
            assert_eq!(certificate_not_after(&certificate_until(until)), Some(until));
        }
        assert_eq!(certificate_not_after(b"\x30\x03\x02\x01\x01"), None);
        assert_eq!(certificate_not_after(&[]), None);
    }

    #[test]
    fn an_expiring_server_certificate_is_issued_again_by_the_same_ca() {
        let dir = tempfile::tempdir().expect("temporary directory");
        load_or_create(dir.path()).expect("first");
        let ca = fs::read_to_string(dir.path().join(CA_CERT)).expect("ca");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let now = Utc::now();
        let authority = Authority::read(dir.path(), &provider, now).expect("the CA is reused");
        issue_server(dir.path(), &authority, now, now + TimeDelta::days(10)).expect("short-lived certificate");
        let short = fs::read(dir.path().join(SERVER_CERT)).expect("server");
        assert!(read_server(dir.path(), &authority, &provider, now).is_none(), "10 days left is too few");

        load_or_create(dir.path()).expect("second");
        assert_eq!(fs::read_to_string(dir.path().join(CA_CERT)).expect("ca"), ca, "the CA is kept");
        assert_ne!(fs::read(dir.path().join(SERVER_CERT)).expect("server"), short, "the server certificate is new");
        assert!(read_server(dir.path(), &authority, &provider, now).is_some());
    }

    #[test]
    fn a_ca_whose_key_was_replaced_is_made_again() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let first = load_or_create(dir.path()).expect("first");
        let other = KeyPair::generate().expect("key");
        write_file(&dir.path().join(CA_KEY), &other.serialize_pem(), 0o600).expect("replace the key");
        let second = load_or_create(dir.path()).expect("second");
        assert_ne!(first.ca_pem, second.ca_pem);
    }
}
