//! Building the bundle: compile the runtime (cargo natively, cargo-lambda + zig for Lambda),
//! zip it reproducibly, build and copy the site, and fingerprint the inputs — what git would
//! track of the workspace manifests, Cargo.lock, the runtime's sources, the frontend's
//! sources and lockfile, the configuration and the architecture — so an unchanged input set
//! builds nothing.
//! Must not: talk to AWS.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use anyhow::Context as _;
use sha2::{Digest, Sha256};

use super::{Bundle, FunctionArtifact, Located, Outcome, SiteArtifact, Walk, architecture_label, bundle_dir, files};
use super::{complete, read, write_atomically, zip_intact};
use crate::config::{Architecture, Config};
use crate::error::{Error, Result};
use crate::output::Printer;

/// Builds (or reuses) the bundle for `architecture`.
pub async fn build(config: &Config, printer: &Printer, architecture: Architecture, force: bool) -> Result<Located> {
    let dir = bundle_dir(config, architecture);
    let phase = printer.phase("build");
    phase.message("fingerprinting inputs");
    let fingerprint = fingerprint(config, architecture)?;
    if !force
        && let Some(bundle) = read(&dir)?
        && bundle.fingerprint == fingerprint
        && complete(&dir, &bundle)
        // A zip changed in place would be reported, digested and deployed as this build.
        && zip_intact(&dir, &bundle)?
    {
        phase.finish("inputs unchanged; nothing to build");
        return Ok(Located { dir, bundle, outcome: Outcome::UpToDate });
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
    Ok(Located { dir, bundle, outcome: Outcome::Built })
}

/// Hash of everything that changes the bundle.
fn fingerprint(config: &Config, architecture: Architecture) -> Result<String> {
    let root = config.resolve(Path::new("."));
    let mut hasher = Sha256::new();
    hasher.update(architecture_label(architecture).as_bytes());
    hasher.update(format!("{architecture:?}").as_bytes());
    let mut inputs = vec![root.join("Cargo.toml"), root.join("Cargo.lock"), config.path.clone()];
    let runtime_dir = root.join("runtime");
    // What git would track: generated files (`next-env.d.ts`, `*.tsbuildinfo`) must not make
    // the next deploy rebuild.
    inputs.extend(files(&runtime_dir, Walk::Tracked, &["target", "tests"])?);
    if let Some(frontend) = &config.frontend {
        let source = config.resolve(&frontend.directory);
        let output = config.resolve(&frontend.output);
        inputs.extend(
            files(&source, Walk::Tracked, &["node_modules", ".next", "out", "test-results", "playwright-report"])?
                .into_iter()
                .filter(|path| output == source || !path.starts_with(&output)),
        );
    }
    inputs.sort();
    for file in inputs {
        let Ok(bytes) = fs::read(&file) else { continue };
        hasher.update(file.strip_prefix(&root).unwrap_or(&file).to_string_lossy().as_bytes());
        hasher.update(Sha256::digest(&bytes));
    }
    Ok(hex::encode(hasher.finalize()))
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
            cargo_target_dir(&root)?.join("release").join(binary),
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
                cargo_target_dir(&root)?.join("lambda").join(binary).join("bootstrap"),
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

/// Where cargo puts build output: `CARGO_TARGET_DIR`, `build.target-dir` or `target/`, as
/// cargo itself resolves it.
fn cargo_target_dir(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Process::new(&cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("failed to run `cargo metadata`")?;
    if !output.status.success() {
        return Err(Error::user(format!("`cargo metadata` failed in {} ({})", root.display(), output.status)));
    }
    #[derive(serde::Deserialize)]
    struct Metadata {
        target_directory: PathBuf,
    }
    let metadata: Metadata =
        serde_json::from_slice(&output.stdout).context("`cargo metadata` printed no target_directory")?;
    Ok(metadata.target_directory)
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
    let mut count = 0;
    let mut bytes = 0;
    for file in files(from, Walk::All, &[])? {
        let relative = file.strip_prefix(from).unwrap_or(&file);
        let target = to.join(relative);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).with_context(|| format!("failed to create {}", parent.display()))?;
        }
        bytes += fs::copy(&file, &target).with_context(|| format!("failed to copy {}", file.display()))?;
        count += 1;
    }
    Ok(SiteArtifact { dir: "site".to_owned(), files: count, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }

    #[test]
    fn the_fingerprint_covers_tracked_sources_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(&root.join("Cargo.toml"), "[workspace]\n");
        write(&root.join("Cargo.lock"), "");
        write(&root.join("runtime/src/main.rs"), "fn main() {}\n");
        write(&root.join("frontend/.gitignore"), "next-env.d.ts\n*.tsbuildinfo\n/out/\n");
        write(&root.join("frontend/app/page.tsx"), "export default 1;\n");
        write(&root.join("frontend/next-env.d.ts"), "// generated by next build\n");
        let config_text = "project: t\nfrontend:\n  directory: frontend\n  output: frontend/out\nenvironments:\n  local:\n    region: us-east-1\n";
        write(&root.join("twinctl.yaml"), config_text);
        let config = Config::parse(config_text, &root.join("twinctl.yaml")).expect("config");
        let before = fingerprint(&config, Architecture::Native).expect("fingerprint");

        // What the first `next build` writes must not make the next deploy rebuild.
        write(&root.join("frontend/next-env.d.ts"), "// regenerated, different\n");
        write(&root.join("frontend/tsconfig.tsbuildinfo"), "{}");
        write(&root.join("frontend/out/index.html"), "<html>");
        assert_eq!(fingerprint(&config, Architecture::Native).expect("fingerprint"), before);

        write(&root.join("frontend/app/page.tsx"), "export default 2;\n");
        let source_changed = fingerprint(&config, Architecture::Native).expect("fingerprint");
        assert_ne!(source_changed, before, "a source change rebuilds");
        write(&root.join("runtime/src/main.rs"), "fn main() { println!(); }\n");
        assert_ne!(fingerprint(&config, Architecture::Native).expect("fingerprint"), source_changed);
    }
}
