//! `twinctl build`: the deployable bundle under `target/twin/<arch>/`.
//!
//! Owns: the bundle's layout — `function-<sha256>.zip` (the runtime binary as `bootstrap`),
//! `site/` (the built frontend, if configured) and `bundle.json` describing both — and the
//! fingerprint of its inputs (workspace manifests, Cargo.lock, runtime sources, frontend
//! sources and lockfile, the configuration, the architecture): when it matches the last
//! build, nothing is rebuilt.
//! Must not: talk to AWS. CI builds once and deploys the same bundle everywhere.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cli::BuildArgs;
use crate::config::{Architecture, Config};
use crate::context::Context;
use crate::error::{Error, Result};

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

#[derive(Debug, Serialize)]
struct BuildReport<'a> {
    bundle_dir: String,
    up_to_date: bool,
    seconds: f64,
    bundle: &'a Bundle,
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

fn bundle_dir(config: &Config, architecture: Architecture) -> PathBuf {
    let name = match architecture {
        Architecture::Native => "native".to_owned(),
        other => architecture_label(other).to_owned(),
    };
    config.resolve(Path::new("target/twin")).join(name)
}

pub async fn run(ctx: &Context, args: &BuildArgs) -> Result<()> {
    let architecture = match &args.env {
        Some(name) => ctx.config.architecture(ctx.config.environment(name)?),
        None => ctx.config.runtime.architecture,
    };
    let started = std::time::Instant::now();
    let (dir, bundle, up_to_date) = build(ctx, architecture, args.force).await?;
    let report = BuildReport {
        bundle_dir: dir.display().to_string(),
        up_to_date,
        seconds: started.elapsed().as_secs_f64(),
        bundle: &bundle,
    };
    ctx.printer.result(&report, || {
        let site = bundle.site.as_ref().map(|s| format!(", site {} files", s.files)).unwrap_or_default();
        format!(
            "{} {} ({}, function {} bytes{site})",
            if up_to_date { "up to date:" } else { "built:" },
            dir.display(),
            bundle.architecture,
            bundle.function.bytes
        )
    });
    Ok(())
}

/// Builds (or reuses) the bundle for `architecture`; returns its directory and description.
pub async fn build(ctx: &Context, architecture: Architecture, force: bool) -> Result<(PathBuf, Bundle, bool)> {
    let config = &ctx.config;
    let dir = bundle_dir(config, architecture);
    let phase = ctx.printer.phase("build");
    phase.message("fingerprinting inputs");
    let fingerprint = fingerprint(config, architecture)?;
    if !force
        && let Some(bundle) = read_bundle(&dir)?
        && bundle.fingerprint == fingerprint
        && complete(&dir, &bundle)
    {
        phase.finish("inputs unchanged; nothing to build");
        return Ok((dir, bundle, true));
    }

    phase.message(format!("compiling {} ({})", config.runtime.package, architecture_label(architecture)));
    let binary = compile_runtime(config, architecture)?;
    phase.message("packaging");
    fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let function = package_function(&binary, &dir)?;

    let site = match &config.frontend {
        Some(frontend) => {
            let source_dir = config.resolve(&frontend.directory);
            for command in &frontend.build {
                phase.message(format!("frontend: {}", command.join(" ")));
                run_step(command, &source_dir)?;
            }
            let output = config.resolve(&frontend.output);
            if !output.is_dir() {
                return Err(Error::user(format!(
                    "the frontend build produced no {} (frontend.output in {})",
                    output.display(),
                    config.path.display()
                )));
            }
            Some(copy_site(&output, &dir.join("site"))?)
        }
        None => None,
    };
    let bundle = Bundle { fingerprint, architecture: architecture_label(architecture).to_owned(), function, site };
    let manifest = serde_json::to_vec_pretty(&bundle).context("failed to serialise bundle.json")?;
    write_atomically(&dir.join("bundle.json"), &manifest)?;
    phase.finish(format!("{} ({} bytes)", bundle.function.zip, bundle.function.bytes));
    Ok((dir, bundle, false))
}

pub fn read_bundle(dir: &Path) -> Result<Option<Bundle>> {
    let path = dir.join("bundle.json");
    match fs::read(&path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Internal(anyhow::Error::new(e).context(format!("failed to read {}", path.display())))),
    }
}

/// A bundle directory given with `--artifacts`, checked before anything is deployed.
pub fn load_bundle(dir: &Path) -> Result<Bundle> {
    let bundle = read_bundle(dir)?.ok_or_else(|| {
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

/// Hash of everything that changes the bundle.
fn fingerprint(config: &Config, architecture: Architecture) -> Result<String> {
    let root = config.resolve(Path::new("."));
    let mut hasher = Sha256::new();
    hasher.update(architecture_label(architecture).as_bytes());
    hasher.update(format!("{architecture:?}").as_bytes());
    let mut files = vec![root.join("Cargo.toml"), root.join("Cargo.lock"), config.path.clone()];
    let runtime_dir = root.join("runtime");
    files.extend(walk_files(&runtime_dir, &["target", "tests"])?);
    if let Some(frontend) = &config.frontend {
        let source = config.resolve(&frontend.directory);
        let output = config.resolve(&frontend.output);
        files.extend(
            walk_files(&source, &["node_modules", ".next", "out", "test-results", "playwright-report"])?
                .into_iter()
                .filter(|path| output == source || !path.starts_with(&output)),
        );
    }
    files.sort();
    for file in files {
        let Ok(bytes) = fs::read(&file) else { continue };
        hasher.update(file.strip_prefix(&root).unwrap_or(&file).to_string_lossy().as_bytes());
        hasher.update(Sha256::digest(&bytes));
    }
    Ok(hex::encode(hasher.finalize()))
}

fn walk_files(dir: &Path, skip: &[&str]) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(dir).into_iter().filter_entry(|entry| {
        let name = entry.file_name().to_string_lossy();
        !(entry.depth() > 0 && entry.file_type().is_dir() && skip.contains(&name.as_ref()))
    });
    for entry in walker {
        let entry = entry.with_context(|| format!("failed to walk {}", dir.display()))?;
        if entry.file_type().is_file() {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

fn run_step(argv: &[String], dir: &Path) -> Result<()> {
    let (program, args) = argv.split_first().ok_or_else(|| Error::user("an empty frontend build command"))?;
    let status = Process::new(program)
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::from(std::io::stderr())) // results alone on stdout
        .stderr(std::process::Stdio::inherit())
        .status()
        .with_context(|| format!("failed to run `{}` in {}", argv.join(" "), dir.display()))?;
    if !status.success() {
        return Err(Error::user(format!("`{}` failed in {} ({status})", argv.join(" "), dir.display())));
    }
    Ok(())
}

/// Compiles the runtime: plain cargo for the native architecture (the local environment runs
/// it on this machine), cargo-lambda (zig) to cross-compile for Lambda.
fn compile_runtime(config: &Config, architecture: Architecture) -> Result<PathBuf> {
    let root = config.resolve(Path::new("."));
    let package = &config.runtime.package;
    let binary = &config.runtime.binary;
    let (program, args, output): (PathBuf, Vec<String>, PathBuf) = match architecture {
        Architecture::Native => (
            PathBuf::from(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())),
            vec![
                "build".into(),
                "--release".into(),
                "--locked".into(),
                "-p".into(),
                package.clone(),
                "--bin".into(),
                binary.clone(),
            ],
            root.join("target/release").join(binary),
        ),
        Architecture::Arm64 | Architecture::X86_64 => {
            let flag = if architecture == Architecture::Arm64 { "--arm64" } else { "--x86-64" };
            (
                cargo_lambda(&root)?,
                vec![
                    "lambda".into(),
                    "build".into(),
                    "--release".into(),
                    flag.into(),
                    "-p".into(),
                    package.clone(),
                    "--bin".into(),
                    binary.clone(),
                ],
                root.join("target/lambda").join(binary).join("bootstrap"),
            )
        }
    };
    let mut process = Process::new(&program);
    // The zig cc wrappers cargo-lambda writes for C dependencies (aws-lc-sys) look for `zig`
    // on PATH; scripts/install-tools links it into the tools virtualenv's bin.
    if let Some(bin) = program.parent().filter(|dir| dir.join("zig").exists()) {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let joined = std::env::join_paths(std::iter::once(bin.to_owned()).chain(std::env::split_paths(&path)))
            .context("PATH cannot be extended")?;
        process.env("PATH", joined);
    }
    let status = process
        .args(&args)
        .current_dir(&root)
        .stdout(std::process::Stdio::from(std::io::stderr())) // results alone on stdout
        .stderr(std::process::Stdio::inherit())
        .status()
        .with_context(|| format!("failed to run {} {}", program.display(), args.join(" ")))?;
    if !status.success() {
        return Err(Error::user(format!("building {package} failed ({status}); the compiler's output is above")));
    }
    if !output.is_file() {
        return Err(Error::Internal(anyhow::anyhow!("the build succeeded but {} is missing", output.display())));
    }
    Ok(output)
}

/// `cargo-lambda` from the project's tools virtualenv (scripts/install-tools) or PATH.
fn cargo_lambda(root: &Path) -> Result<PathBuf> {
    let local = root.join(".twin/tools/venv/bin/cargo-lambda");
    if local.is_file() {
        return Ok(local);
    }
    which("cargo-lambda").ok_or_else(|| {
        Error::user_with_hint(
            "cargo-lambda is needed to cross-compile the function for Lambda",
            "run scripts/install-tools (installs cargo-lambda and zig from PyPI)",
        )
    })
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(program)).find(|p| p.is_file()))
}

/// Zips the binary as `bootstrap` with fixed metadata, so equal binaries give equal zips.
fn package_function(binary: &Path, dir: &Path) -> Result<FunctionArtifact> {
    let bytes = fs::read(binary).with_context(|| format!("failed to read {}", binary.display()))?;
    let mut zip_bytes = Vec::new();
    {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(&mut zip_bytes));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o755)
            .last_modified_time(zip::DateTime::default());
        writer.start_file("bootstrap", options).context("failed to start the zip entry")?;
        writer.write_all(&bytes).context("failed to write the zip entry")?;
        writer.finish().context("failed to finish the zip")?;
    }
    let digest = Sha256::digest(&zip_bytes);
    let sha256 = hex::encode(digest);
    let name = format!("function-{}.zip", &sha256[..16]);
    write_atomically(&dir.join(&name), &zip_bytes)?;
    // Older zips of this bundle directory are superseded.
    for entry in fs::read_dir(dir).with_context(|| format!("failed to list {}", dir.display()))?.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with("function-") && file.ends_with(".zip") && file != name {
            let _ = fs::remove_file(entry.path());
        }
    }
    use base64::Engine as _;
    Ok(FunctionArtifact {
        zip: name,
        sha256,
        code_sha256: base64::engine::general_purpose::STANDARD.encode(digest),
        bytes: zip_bytes.len() as u64,
    })
}

fn copy_site(from: &Path, to: &Path) -> Result<SiteArtifact> {
    if to.exists() {
        fs::remove_dir_all(to).with_context(|| format!("failed to clear {}", to.display()))?;
    }
    let mut files = 0;
    let mut bytes = 0;
    for file in walk_files(from, &[])? {
        let relative = file.strip_prefix(from).unwrap_or(&file);
        let target = to.join(relative);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).with_context(|| format!("failed to create {}", parent.display()))?;
        }
        bytes += fs::copy(&file, &target).with_context(|| format!("failed to copy {}", file.display()))?;
        files += 1;
    }
    Ok(SiteArtifact { dir: "site".to_owned(), files, bytes })
}

/// Writes via a temporary file and a rename, so a crash never leaves a half-written artifact.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&temporary, bytes)
        .and_then(|()| fs::rename(&temporary, path))
        .with_context(|| format!("failed to write {}", path.display()))?;
    Ok(())
}
