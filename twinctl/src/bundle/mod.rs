//! The deployable bundle: `function-<sha256>.zip` (the runtime binary as `bootstrap`), `site/`
//! (the built frontend, if configured) and `bundle.json` describing both.
//!
//! Owns: the bundle's types and layout on disk, reading a bundle back (`--artifacts`), its
//! [`digest`], and the choice between a bundle given and one built now. Building lives in [`build`].
//! Must not: talk to AWS. CI builds once and deploys the same bundle everywhere: the digest is how
//! a deploy proves it holds those bytes.

pub mod build;
pub mod check;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::config::{Architecture, Config};
use crate::error::{Error, Result};
use crate::output::Printer;

/// What `bundle.json` says about a build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bundle {
    pub fingerprint: String,
    pub architecture: String,
    pub function: FunctionArtifact,
    pub site: Option<SiteArtifact>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionArtifact {
    /// File name inside the bundle directory.
    pub zip: String,
    /// Hex sha256 of the zip: its key in the artifacts bucket.
    pub sha256: String,
    /// Base64 sha256, as Lambda reports CodeSha256.
    pub code_sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SiteArtifact {
    /// Directory inside the bundle directory.
    pub dir: String,
    pub files: usize,
    pub bytes: u64,
}

/// A bundle on disk, and whether this command built it.
#[derive(Debug, Clone)]
pub struct Located {
    pub dir: PathBuf,
    pub bundle: Bundle,
    pub outcome: Outcome,
}

/// What getting a bundle did; one meaning everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Compiled and packaged now.
    Built,
    /// The inputs matched the last build; nothing was rebuilt.
    UpToDate,
    /// Given with `--artifacts`.
    Given,
}

impl Located {
    pub fn site_dir(&self) -> Option<PathBuf> {
        self.bundle.site.as_ref().map(|site| self.dir.join(&site.dir))
    }

    pub fn zip_path(&self) -> PathBuf {
        self.dir.join(&self.bundle.function.zip)
    }
}

/// The label used in paths and the Lambda `Architectures` value.
pub fn architecture_label(architecture: Architecture) -> &'static str {
    match architecture {
        Architecture::Arm64 => "arm64",
        Architecture::X86_64 => "x86_64",
        Architecture::Native => {
            if cfg!(target_arch = "aarch64") {
                "arm64"
            } else {
                "x86_64"
            }
        }
    }
}

pub fn bundle_dir(config: &Config, architecture: Architecture) -> PathBuf {
    let name = match architecture {
        Architecture::Native => "native".to_owned(),
        other => architecture_label(other).to_owned(),
    };
    config.resolve(Path::new("target/twin")).join(name)
}

/// The bundle to deploy or compare: `--artifacts DIR` (checked against the environment's
/// architecture), else a build (skipped when its inputs are unchanged).
pub async fn resolve(
    config: &Config,
    printer: &Printer,
    architecture: Architecture,
    artifacts: Option<&Path>,
) -> Result<Located> {
    match artifacts {
        Some(dir) => {
            let bundle = load(dir)?;
            if bundle.architecture != architecture_label(architecture) {
                return Err(Error::user(format!(
                    "the bundle in {} is for {}, but the environment runs {}",
                    dir.display(),
                    bundle.architecture,
                    architecture_label(architecture)
                )));
            }
            Ok(Located { dir: dir.to_owned(), bundle, outcome: Outcome::Given })
        }
        None => build::build(config, printer, architecture, false).await,
    }
}

/// `bundle.json` in `dir`, or None when there is none. A file that does not parse is an error.
pub fn read(dir: &Path) -> Result<Option<Bundle>> {
    let path = dir.join("bundle.json");
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::user_with_hint(
                format!("{} is not a bundle description: {e}", path.display()),
                "rebuild it with `twinctl build --force`",
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Internal(anyhow::Error::new(e).context(format!("failed to read {}", path.display())))),
    }
}

/// A bundle directory given with `--artifacts`, checked before anything is deployed: complete,
/// and its zip the one `bundle.json` describes (the zip's sha256 is its key in the artifacts
/// bucket, so a changed zip would be stored under another zip's name).
pub fn load(dir: &Path) -> Result<Bundle> {
    let bundle = read(dir)?.ok_or_else(|| {
        Error::user(format!("{} holds no bundle.json; build one with `twinctl build`", dir.display()))
    })?;
    if !complete(dir, &bundle) {
        return Err(Error::user(format!("the bundle in {} is incomplete (its zip or site is missing)", dir.display())));
    }
    let zip = dir.join(&bundle.function.zip);
    let actual = file_sha256(&zip)?;
    if actual != bundle.function.sha256 {
        return Err(Error::user(format!(
            "{} has sha256 {actual}, but its bundle.json says {}: the zip was changed after `twinctl build`",
            zip.display(),
            bundle.function.sha256
        )));
    }
    Ok(bundle)
}

/// The bundle's digest: what `twinctl build --output json` reports as `digest`, and what
/// `twinctl deploy --artifacts DIR --bundle-digest SHA256` requires.
///
/// Format: the lowercase hex sha256 of one line per file that deploys — `bundle.json`, the
/// function zip, and every file under the site directory if the bundle has one:
///
/// ```text
/// {path}\0{sha256}\n
/// ```
///
/// where `path` is the file's path relative to `dir` with `/` separators, `\0` a NUL byte,
/// `sha256` the lowercase hex sha256 of the file's bytes and `\n` a newline; the lines are ordered
/// by `path`, byte by byte. Names and contents both count (a file changed, added, removed or
/// renamed changes the digest); where the directory is, and the order and times its files were
/// written in, do not.
pub fn digest(dir: &Path, bundle: &Bundle) -> Result<String> {
    let mut paths = vec![dir.join("bundle.json"), dir.join(&bundle.function.zip)];
    if let Some(site) = &bundle.site {
        paths.extend(files(&dir.join(&site.dir), Walk::All, &[])?);
    }
    let mut lines = Vec::with_capacity(paths.len());
    for path in &paths {
        let relative = path.strip_prefix(dir).unwrap_or(path);
        // The same bundle must give the same digest on Windows as on the CI runner.
        let name: Vec<String> =
            relative.components().map(|part| part.as_os_str().to_string_lossy().into_owned()).collect();
        lines.push((name.join("/"), file_sha256(path)?));
    }
    lines.sort();
    let mut hasher = Sha256::new();
    for (name, sha256) in &lines {
        hasher.update(name.as_bytes());
        hasher.update(b"\0");
        hasher.update(sha256.as_bytes());
        hasher.update(b"\n");
    }
    Ok(hex::encode(hasher.finalize()))
}

/// `--bundle-digest`: the bundle in `dir` is the one built and tested (its [`digest`] is
/// `expected`), or a user error saying it is not.
pub fn expect_digest(dir: &Path, bundle: &Bundle, expected: &str) -> Result<()> {
    let actual = digest(dir, bundle)?;
    if actual.eq_ignore_ascii_case(expected.trim()) {
        return Ok(());
    }
    Err(Error::user(format!(
        "the bundle in {} has digest {actual}, not {expected}: it is not the bundle that was built and tested",
        dir.display()
    )))
}

/// Hex sha256 of a file's bytes.
fn file_sha256(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// The function zip is the one `bundle.json` describes.
fn zip_intact(dir: &Path, bundle: &Bundle) -> Result<bool> {
    Ok(file_sha256(&dir.join(&bundle.function.zip))? == bundle.function.sha256)
}

fn complete(dir: &Path, bundle: &Bundle) -> bool {
    dir.join(&bundle.function.zip).is_file() && bundle.site.as_ref().is_none_or(|site| dir.join(&site.dir).is_dir())
}

/// Which files a walk yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Every file (a built site).
    All,
    /// What git would track: `.gitignore`d files are left out (build inputs).
    Tracked,
}

/// The files below `dir`, sorted, skipping directories named in `skip`.
pub fn files(dir: &Path, walk: Walk, skip: &[&str]) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let skip: Vec<String> = skip.iter().map(|s| (*s).to_owned()).collect();
    let mut builder = ignore::WalkBuilder::new(dir);
    builder.standard_filters(walk == Walk::Tracked).hidden(false).require_git(false).follow_links(false).filter_entry(
        move |entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            !(entry.depth() > 0 && is_dir && skip.iter().any(|s| entry.file_name() == s.as_str()))
        },
    );
    let mut files = Vec::new();
    for entry in builder.build() {
        let entry = entry.with_context(|| format!("failed to walk {}", dir.display()))?;
        if entry.file_type().is_some_and(|t| t.is_file()) {
            files.push(entry.into_path());
        }
    }
    files.sort();
    Ok(files)
}

/// Writes via a temporary file and a rename, so a crash never leaves a half-written artifact.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&temporary, bytes)
        .and_then(|()| fs::rename(&temporary, path))
        .with_context(|| format!("failed to write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZIP: &[u8] = b"PK\x05\x06 the function zip";

    fn write(path: &Path, bytes: &[u8]) {
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, bytes).expect("write");
    }

    /// A bundle directory as `twinctl build` leaves it, its site files written in the order given.
    fn make(dir: &Path, site: &[(&str, &str)]) -> Bundle {
        let sha256 = hex::encode(<Sha256 as sha2::Digest>::digest(ZIP));
        let zip = format!("function-{}.zip", &sha256[..16]);
        write(&dir.join(&zip), ZIP);
        for (path, text) in site {
            write(&dir.join("site").join(path), text.as_bytes());
        }
        let bundle = Bundle {
            fingerprint: "inputs".to_owned(),
            architecture: "x86_64".to_owned(),
            function: FunctionArtifact { zip, sha256, code_sha256: String::new(), bytes: ZIP.len() as u64 },
            site: Some(SiteArtifact { dir: "site".to_owned(), files: site.len(), bytes: 0 }),
        };
        write(&dir.join("bundle.json"), &serde_json::to_vec_pretty(&bundle).expect("bundle.json"));
        bundle
    }

    const SITE: &[(&str, &str)] =
        &[("index.html", "<!doctype html>"), ("assets/app.js", "run()"), ("assets/style.css", "body{}")];

    #[test]
    fn the_digest_changes_with_a_byte_of_a_site_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bundle = make(dir.path(), SITE);
        let before = digest(dir.path(), &bundle).expect("digest");
        assert_eq!(before.len(), 64, "hex sha256");
        write(&dir.path().join("site/assets/app.js"), b"run!)");
        assert_ne!(digest(dir.path(), &bundle).expect("digest"), before);
    }

    #[test]
    fn the_digest_changes_when_a_file_is_added() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bundle = make(dir.path(), SITE);
        let before = digest(dir.path(), &bundle).expect("digest");
        write(&dir.path().join("site/assets/extra.js"), b"");
        assert_ne!(digest(dir.path(), &bundle).expect("digest"), before);
    }

    #[test]
    fn the_digest_changes_when_a_file_is_renamed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bundle = make(dir.path(), SITE);
        let before = digest(dir.path(), &bundle).expect("digest");
        fs::rename(dir.path().join("site/assets/app.js"), dir.path().join("site/assets/main.js")).expect("rename");
        assert_ne!(digest(dir.path(), &bundle).expect("digest"), before);
    }

    #[test]
    fn identical_bundles_built_in_another_order_have_one_digest() {
        let first = tempfile::tempdir().expect("tempdir");
        let second = tempfile::tempdir().expect("tempdir");
        let reversed: Vec<(&str, &str)> = SITE.iter().rev().copied().collect();
        let a = make(first.path(), SITE);
        let b = make(second.path(), &reversed);
        assert_eq!(digest(first.path(), &a).expect("digest"), digest(second.path(), &b).expect("digest"));
    }

    #[test]
    fn the_expected_digest_is_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bundle = make(dir.path(), SITE);
        let actual = digest(dir.path(), &bundle).expect("digest");
        expect_digest(dir.path(), &bundle, &actual).expect("the digest of the bundle itself");
        let other = "0".repeat(64);
        let error = expect_digest(dir.path(), &bundle, &other).expect_err("another digest");
        let message = error.to_string();
        assert!(message.contains(&actual) && message.contains(&other), "{message}");
        assert!(message.contains("not the bundle that was built and tested"), "{message}");
    }

    #[test]
    fn load_refuses_a_zip_changed_after_the_build() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bundle = make(dir.path(), SITE);
        load(dir.path()).expect("an intact bundle loads");
        write(&dir.path().join(&bundle.function.zip), b"PK\x05\x06 another function");
        let error = load(dir.path()).expect_err("a changed zip");
        let message = error.to_string();
        assert!(matches!(error, Error::User { .. }), "{message}");
        assert!(message.contains(&bundle.function.zip) && message.contains(&bundle.function.sha256), "{message}");
        assert!(message.contains("the zip was changed after `twinctl build`"), "{message}");
    }
}
