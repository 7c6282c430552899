//! `twinctl testplans check|docs` on the repository's plans and on broken ones (no AWS needed).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

fn twinctl(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_twinctl"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("TWINCTL_OUTPUT")
        .output()
        .unwrap()
}

#[test]
fn the_committed_testplans_readme_is_what_the_plans_render() {
    let output = twinctl(&repository().join("twinctl.yaml"), &["testplans", "docs", "--check"]);
    assert!(
        output.status.success(),
        "testplans/README.md is stale; run `cargo run -p twinctl -- testplans docs`:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let checked = twinctl(&repository().join("twinctl.yaml"), &["testplans", "check", "--output", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&checked.stdout).unwrap();
    let covered: std::collections::BTreeSet<u64> = report["plans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["properties"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()))
        .collect();
    assert_eq!(covered, (1..=7).collect(), "every Property 1-7 is covered by a plan");
}

#[test]
fn a_broken_plan_is_reported_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("testplans")).unwrap();
    std::fs::write(dir.path().join("twinctl.yaml"), "project: t\nenvironments:\n  local:\n    region: us-east-1\n")
        .unwrap();
    std::fs::write(
        dir.path().join("testplans/bad.yaml"),
        "id: bad\ntitle: Bad\ncovers: {requirements: [x], properties: []}\npurpose: p\nenvironments: [all]\nsteps:\n  - name: s\n    kind: http\n    request: {url: \"{{nobody}}/x\"}\n",
    )
    .unwrap();
    let output = twinctl(&dir.path().join("twinctl.yaml"), &["testplans", "check"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.yaml:9:"), "{stderr}");
    assert!(stderr.contains("nobody"), "{stderr}");
}
