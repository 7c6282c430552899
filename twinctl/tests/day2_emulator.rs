//! Day-2 commands against the local AWS emulator: `secrets set|status`.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

use common::*;
use serde_json::Value;

const KEY: &str = "sk-test-0123456789abcdefSECRET";

fn run_with_stdin(project: &Project, args: &[&str], input: &str) -> Output {
    let mut child =
        project.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn stored_value(project: &Project) -> Value {
    let secret = project.json(&["status", "local"])["outputs"]["SecretArn"].as_str().unwrap().to_owned();
    with_emulator(|sdk| async move {
        let client = aws_sdk_secretsmanager::Client::new(&sdk);
        let value = client.get_secret_value().secret_id(&secret).send().await.unwrap();
        serde_json::from_str(value.secret_string().unwrap()).unwrap()
    })
}

#[test]
fn secrets_set_stores_what_stdin_gave_and_shows_none_of_it() {
    let project = Project::new(1);
    project.bootstrap();
    project.deploy(&project.bundle("a", ""));

    let before = project.json(&["secrets", "status", "local"]);
    assert_eq!(before["key_set"], false, "the stack creates the secret without a key: {before}");
    assert_eq!(before["schema_version"], 1);

    let set = run_with_stdin(&project, &["secrets", "set", "local", "--output", "json"], &format!("{KEY}\n"));
    assert!(set.status.success(), "{}", stderr(&set));
    let shown = format!("{}{}", String::from_utf8_lossy(&set.stdout), stderr(&set));
    assert!(!shown.contains("0123456789abcdef"), "the key leaked into the output:\n{shown}");
    let report: Value = serde_json::from_slice(&set.stdout).unwrap();
    assert!(report["version_id"].as_str().is_some_and(|v| !v.is_empty()), "{report}");

    assert_eq!(stored_value(&project)["api_key"], KEY, "stored as the runtime reads it");
    let after = project.json(&["secrets", "status", "local"]);
    assert_eq!(after["key_set"], true, "{after}");
    assert!(after["last_changed"].is_string(), "{after}");
    assert_eq!(after["current_version"], report["version_id"], "{after}");
    let text = project.run(&["secrets", "status", "local"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("API key set"), "{}", stderr(&text));

    // Nothing of the key in what twinctl left in the project (its operations log included).
    for file in walk(project.path()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("0123456789abcdef"), "{} holds the key", file.display());
    }

    // Empty input is refused and changes nothing.
    let empty = run_with_stdin(&project, &["secrets", "set", "local"], "\n");
    assert_eq!(empty.status.code(), Some(1), "{}", stderr(&empty));
    assert!(stderr(&empty).contains("empty"), "{}", stderr(&empty));
    assert_eq!(stored_value(&project)["api_key"], KEY);
}

#[test]
fn secrets_on_an_environment_without_a_stack_say_to_deploy_first() {
    let project = Project::new(1);
    project.bootstrap();
    let output = run_with_stdin(&project, &["secrets", "set", "local"], KEY);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(!stderr(&output).contains("0123456789abcdef"), "{}", stderr(&output));
}
