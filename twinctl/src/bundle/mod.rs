//! The deployable bundle: `function-<sha256>.zip` (the runtime binary as `bootstrap`), `site/`
//! (the built frontend, if configured) and `bundle.json` describing both.
//!
//! Owns: the bundle's types and layout on disk, reading a bundle back (`--artifacts`), and the
//! choice between a bundle given and one built now. Building lives in [`build`].
//! Must not: talk to AWS. CI builds once and deploys the same bundle everywhere.

pub mod build;
pub mod check;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

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

/// A bundle directory given with `--artifacts`, checked before anything is deployed.
pub fn load(dir: &Path) -> Result<Bundle> {
    let bundle = read(dir)?.ok_or_else(|| {
        Error::user(format!("{} holds no bundle.json; build one with `twinctl build`", dir.display()))
    })?;
    if !complete(dir, &bundle) {
        return Err(Error::user(format!("the bundle in {} is incomplete (its zip or site is missing)", dir.display())));
    }
    Ok(bundle)
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
