//! The real `twinctl` binary against the local AWS emulator: canary deploys. Both versions run
//! on this machine during the window and each probe picks one with the alias's weights.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A project whose local environment deploys through a canary; `window` is its length.
fn canary_project(window: &str) -> Project {
    let project = Project::new(0);
    project
        .configure_local(&format!("canary: {{traffic: 50%, window: {window}, min_requests: 3, probe_every: 100ms}}"));
    project.bootstrap();
    project
}

fn function_name(project: &Project) -> String {
    project.json(&["status", "local"])["outputs"]["FunctionName"].as_str().unwrap().to_owned()
}

/// The alias's (version, weights), read from Lambda.
fn alias(project: &Project) -> (String, Vec<(String, f64)>) {
    let function = function_name(project);
    with_emulator(|sdk| async move {
        let alias =
            aws_sdk_lambda::Client::new(&sdk).get_alias().function_name(&function).name("live").send().await.unwrap();
        let weights = alias
            .routing_config()
            .and_then(|r| r.additional_version_weights())
            .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default();
        (alias.function_version().unwrap().to_owned(), weights)
    })
}

/// Starts a canary deploy of `bundle` and returns once the alias carries its weight.
fn start_canary(project: &Project, bundle: &std::path::Path) -> Child {
    let mut child = project
        .command(&["deploy", "local", "--artifacts", bundle.to_str().unwrap(), "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if !alias(project).1.is_empty() {
            return child;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            panic!("the deploy ended ({status}) before its canary began: {}", String::from_utf8_lossy(&output.stderr));
        }
        assert!(Instant::now() < deadline, "the canary did not begin");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_healthy_canary_is_promoted_after_its_window() {
    let project = canary_project("6s");
    let first = project.deploy(&project.bundle("a", ""));
    assert_eq!(first["canary"], Value::Null, "nothing to compare with on a first deploy: {first}");

    let second = project.deploy(&project.bundle("b", ""));
    let canary = &second["canary"];
    assert_eq!(canary["outcome"], "promoted", "{second}");
    assert_eq!(canary["old_version"], "1");
    assert_eq!(canary["new_version"], "2");
    assert!(canary["probes"]["2"].as_u64().unwrap() >= 3, "enough probes reached version 2: {canary}");
    assert!(canary["probes"]["1"].as_u64().unwrap() >= 1, "the old version kept its share: {canary}");
    assert!(canary["seconds"].as_f64().unwrap() >= 6.0);
    assert_eq!(alias(&project), ("2".to_owned(), Vec::new()), "all traffic on the new version, no weights left");
    let status = project.json(&["status", "local"]);
    assert_eq!(status["current_release"]["function"]["version"], "2");
    assert_eq!(status["outputs"]["LiveVersion"], "2", "the stack recorded it after promotion");
}

#[test]
fn a_canary_whose_alarm_fires_is_reverted_and_recorded_as_failed() {
    let project = canary_project("60s");
    project.deploy(&project.bundle("a", ""));
    let config = std::fs::read_to_string(project.path().join("twinctl.yaml")).unwrap();
    let name = config.lines().next().unwrap().trim_start_matches("project: ").to_owned();

    let child = start_canary(&project, &project.bundle("b", ""));
    let alarm = format!("{name}-local-function-error-rate");
    with_emulator(|sdk| async move {
        aws_sdk_cloudwatch::Client::new(&sdk)
            .set_alarm_state()
            .alarm_name(&alarm)
            .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
            .state_reason("test: errors on the new version")
            .send()
            .await
            .unwrap();
    });
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(started.elapsed() < Duration::from_secs(30), "reverted at once, not at the window's end");
    let message = stderr(&output);
    assert!(
        message.contains("canary of version 2") && message.contains("function-error-rate is in ALARM"),
        "{message}"
    );
    assert!(message.contains("traffic is back on version 1"), "{message}");
    assert_eq!(alias(&project), ("1".to_owned(), Vec::new()));

    let history = project.json(&["releases", "local"]);
    let newest = &history["releases"][0];
    assert_eq!(newest["outcome"], "failed", "{history}");
    assert_eq!(newest["current"], false);
    assert!(newest["error"].as_str().unwrap().contains("in ALARM"), "{newest}");
    assert_eq!(history["releases"][1]["current"], true, "the release before stays current");
}

#[test]
fn a_canary_killed_mid_window_shows_in_status_and_the_next_deploy_reverts_it() {
    let project = canary_project("60s");
    project.deploy(&project.bundle("a", ""));
    let bundle = project.bundle("b", "");
    let mut child = start_canary(&project, &bundle);
    child.kill().unwrap();
    child.wait().unwrap();

    let status = project.json(&["status", "local"]);
    assert_eq!(status["alias_routing"]["version"], "1", "{status}");
    assert_eq!(status["alias_routing"]["weights"]["2"], 0.5, "status shows the weights left: {status}");
    let text = project.run(&["status", "local"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("version 2 gets 50% of the traffic"));

    let next = project.json(&["deploy", "local", "--no-canary", "--artifacts", bundle.to_str().unwrap()]);
    assert_eq!(next["interrupted_canary"]["weights"]["2"], 0.5, "the weights were removed first: {next}");
    assert_eq!(next["canary"], Value::Null);
    assert_eq!(alias(&project), ("2".to_owned(), Vec::new()), "then this deploy's own smoke-tested switch");
}

#[test]
fn a_rollback_aborts_a_canary_in_progress() {
    let project = canary_project("60s");
    let a = project.json(&["deploy", "local", "--no-canary", "--artifacts", project.bundle("a", "").to_str().unwrap()]);
    project.json(&["deploy", "local", "--no-canary", "--artifacts", project.bundle("b", "").to_str().unwrap()]);
    let child = start_canary(&project, &project.bundle("c", ""));

    let rollback = project.run(&["rollback", "local", "--output", "json"]);
    assert!(rollback.status.success(), "{}", stderr(&rollback));
    assert!(stderr(&rollback).contains("a rollback aborts the canary"), "{}", stderr(&rollback));
    let report: Value = serde_json::from_slice(&rollback.stdout).unwrap();
    assert_eq!(report["to"], a["release_id"]);
    assert_eq!(report["interrupted_canary"]["weights"]["3"], 0.5, "{report}");

    let deploy = child.wait_with_output().unwrap();
    assert_eq!(deploy.status.code(), Some(1), "{}", stderr(&deploy));
    assert!(stderr(&deploy).contains("taken over"), "{}", stderr(&deploy));
    assert_eq!(alias(&project), ("1".to_owned(), Vec::new()), "the rollback's target, untouched by the aborted canary");
    let history = project.json(&["releases", "local"]);
    let aborted =
        history["releases"].as_array().unwrap().iter().find(|r| r["kind"] == "deploy" && r["outcome"] == "failed");
    let aborted = aborted.unwrap_or_else(|| panic!("the aborted deploy is recorded as failed: {history}"));
    assert!(aborted["error"].as_str().unwrap().contains("taken over"), "{aborted}");
    assert_eq!(history["current"], report["release_id"], "the rollback stays current");
}
