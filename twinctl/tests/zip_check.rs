//! The function zip check (`twinctl::bundle::check`) on real executables: the workspace's own
//! debug `twin-runtime` (an ELF for this machine, dynamically linked against glibc) zipped the
//! ways a build can go wrong.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write as _;
use std::path::Path;

use twinctl::bundle::check::{Requirements, function_zip};

fn zip_with(dir: &Path, entries: &[(&str, &[u8], u32)]) -> std::path::PathBuf {
    let path = dir.join(format!("function-{}.zip", entries.len()));
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (name, bytes, mode) in entries {
        writer.start_file(*name, zip::write::SimpleFileOptions::default().unix_permissions(*mode)).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap();
    path
}

fn other_architecture() -> &'static str {
    if common::native_label() == "arm64" { "x86_64" } else { "arm64" }
}

#[test]
fn the_native_runtime_passes_here_and_fails_on_the_wrong_architecture_or_an_old_glibc() {
    let dir = tempfile::tempdir().unwrap();
    let binary = std::fs::read(common::runtime_binary()).unwrap();
    let zip = zip_with(dir.path(), &[("bootstrap", &binary, 0o755)]);
    let native = common::native_label();
    function_zip(&zip, Requirements::here(native)).unwrap();
    // A glibc far in the future accepts any dynamic binary; the check reads real symbol versions.
    function_zip(&zip, Requirements { architecture: native, max_glibc: Some((99, 0)), scripts_allowed: false })
        .unwrap();

    let message = function_zip(&zip, Requirements::here(other_architecture())).unwrap_err().to_string();
    assert!(message.contains(&format!("built for {native}")) && message.contains(other_architecture()), "{message}");

    let ancient = Requirements { architecture: native, max_glibc: Some((2, 1)), scripts_allowed: false };
    let message = function_zip(&zip, ancient).unwrap_err().to_string();
    assert!(message.contains("needs GLIBC_2.") && message.contains("the runtime has 2.1"), "{message}");
}

#[test]
fn a_missing_duplicated_or_non_executable_bootstrap_is_refused_with_every_problem_named() {
    let dir = tempfile::tempdir().unwrap();
    let script: &[u8] = b"#!/bin/sh\nexec true\n";
    let native = common::native_label();

    let missing = zip_with(dir.path(), &[("runtime", script, 0o755)]);
    let message = function_zip(&missing, Requirements::here(native)).unwrap_err().to_string();
    assert!(message.contains("no `bootstrap` at its root"), "{message}");

    let nested = dir.path().join("nested");
    std::fs::create_dir(&nested).unwrap();
    let nested = zip_with(&nested, &[("bin/bootstrap", script, 0o755)]);
    assert!(function_zip(&nested, Requirements::here(native)).is_err(), "only the root counts");

    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let plain = zip_with(&plain, &[("bootstrap", script, 0o644)]);
    let message = function_zip(&plain, Requirements::lambda(native)).unwrap_err().to_string();
    assert!(message.contains("mode 0644") && message.contains("is a script"), "both problems at once: {message}");
}
