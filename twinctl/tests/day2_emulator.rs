//! Day-2 commands against the local AWS emulator: `secrets set|status`, `logs`.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

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

/// Before the first deploy there is no secret: `status` says so, and `set` makes the data stack
/// (where the secret lives) so that the first deploy's smoke test finds the key; that deploy then
/// leaves the data stack as it is and the key in place.
#[test]
fn secrets_set_before_the_first_deploy_makes_the_data_stack_and_the_deploy_keeps_the_key() {
    let project = Project::new(1);
    project.bootstrap();
    let status = project.run(&["secrets", "status", "local"]);
    assert_eq!(status.status.code(), Some(1), "{}", stderr(&status));
    assert!(stderr(&status).contains("has no secret yet"), "{}", stderr(&status));

    let empty = run_with_stdin(&project, &["secrets", "set", "local"], "\n");
    assert_eq!(empty.status.code(), Some(1), "an empty key is refused before anything is made");
    assert!(!stderr(&empty).contains("created"), "{}", stderr(&empty));

    let output = run_with_stdin(&project, &["secrets", "set", "local", "--output", "json"], KEY);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("0123456789abcdef"), "{}", stderr(&output));
    assert!(stderr(&output).contains("-data created"), "{}", stderr(&output));
    assert_eq!(project.json(&["secrets", "status", "local"])["key_set"], true);

    let deployed = project.json(&["deploy", "local", "--artifacts", project.bundle("a", "").to_str().unwrap()]);
    assert_eq!(deployed["data_stack_changes"], 0, "the deploy found the data stack as it would make it: {deployed}");
    assert_eq!(stored_value(&project)["api_key"], KEY, "the key survives the first deploy");
}

#[test]
fn status_reports_what_changed_behind_twinctls_back_and_check_exits_3() {
    let project = Project::new(2);
    project.bootstrap();
    project.deploy(&project.bundle("a", ""));
    project.deploy(&project.bundle("b", ""));

    let clean = project.run(&["status", "local", "--check", "--output", "json"]);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    let report: Value = serde_json::from_slice(&clean.stdout).unwrap();
    assert_eq!(report["drift"]["drifted"], false, "{report}");
    assert_eq!(report["drift"]["stack"]["status"], "not_checked");

    // By hand: a site object rewritten, the alias moved back a version, a stray file added.
    let site = report["outputs"]["FrontendBucketName"].as_str().unwrap().to_owned();
    let function = report["outputs"]["FunctionName"].as_str().unwrap().to_owned();
    with_emulator(|sdk| async move {
        let s3 = s3_client(&sdk);
        for (key, body) in [("index.html", "<!doctype html><title>defaced</title>"), ("stray.txt", "hello")] {
            s3.put_object()
                .bucket(&site)
                .key(key)
                .body(aws_sdk_s3::primitives::ByteStream::from(body.as_bytes().to_vec()))
                .send()
                .await
                .unwrap();
        }
        let lambda = aws_sdk_lambda::Client::new(&sdk);
        lambda.update_alias().function_name(&function).name("live").function_version("1").send().await.unwrap();
    });

    let drifted = project.run(&["status", "local", "--check", "--output", "json"]);
    assert_eq!(drifted.status.code(), Some(3), "drift with --check exits 3: {}", stderr(&drifted));
    let report: Value = serde_json::from_slice(&drifted.stdout).unwrap();
    let drift = &report["drift"];
    assert_eq!(drift["drifted"], true, "{report}");
    assert_eq!(drift["site"]["changed"], serde_json::json!(["index.html"]), "{drift}");
    assert_eq!(drift["site"]["added"], serde_json::json!(["stray.txt"]), "{drift}");
    assert_eq!(drift["site"]["missing"], serde_json::json!([]), "{drift}");
    assert_eq!(drift["alias"]["live_version"], "1", "{drift}");
    assert_eq!(drift["alias"]["recorded_version"], "2", "{drift}");
    assert!(drift["persona"].is_null(), "the persona was not touched: {drift}");

    // Without --check the same report exits 0, and the text names what drifted.
    let text = project.run(&["status", "local"]);
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("DRIFTED") && text.contains("site changed: index.html"), "{text}");

    // CloudFormation's drift detection: the emulator has none, and says so instead of "in sync".
    let stack = project.json(&["status", "local", "--drift"]);
    let status = stack["drift"]["stack"]["status"].as_str().unwrap();
    assert!(matches!(status, "unsupported" | "in_sync" | "drifted"), "{stack}");
    if status == "unsupported" {
        assert!(stack["drift"]["stack"]["reason"].is_string(), "{stack}");
    }
}

/// The JSON lines of `twinctl logs local --output json ARGS`, asked again for a few seconds until
/// `complete` holds: a local function's lines are shipped in batches while it runs.
fn log_lines(project: &Project, args: &[&str], complete: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut all = vec!["logs", "local", "--output", "json"];
        all.extend(args);
        let output = project.run(&all);
        assert!(output.status.success(), "twinctl {all:?} failed:\n{}", stderr(&output));
        let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}")))
            .collect();
        if complete(&lines) || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn has_message(lines: &[Value], message: &str) -> bool {
    lines.iter().any(|line| line["message"] == message)
}

#[test]
fn logs_find_a_request_by_correlation_id_in_order_and_errors_without_info_lines() {
    let project = Project::new(0);
    project.bootstrap();
    // The deploy's smoke test runs the version on this machine and sends it GET /api/health?deep=1
    // with the correlation id `twinctl-smoke-test`; the version's lines are shipped to the
    // function's log group in the emulator, as Lambda would write them.
    project.deploy(&project.bundle("a", ""));

    let request =
        log_lines(&project, &["--correlation-id", "twinctl-smoke-test"], |lines| has_message(lines, "request served"));
    assert!(has_message(&request, "request served"), "{request:#?}");
    assert!(request.iter().all(|line| line["span"]["correlation_id"] == "twinctl-smoke-test"), "{request:#?}");
    assert!(request.iter().all(|line| line["span"]["path"] == "/api/health"), "{request:#?}");
    let times: Vec<i64> = request.iter().map(|line| line["log_timestamp"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "in order: {times:?}");
    // Lambda's stream naming: YYYY/MM/DD/[VERSION] and 32 hex digits.
    let stream = request[0]["log_stream"].as_str().unwrap();
    let (day, rest) = stream.split_at("2026/01/02".len());
    assert!(day.bytes().all(|b| b.is_ascii_digit() || b == b'/'), "{stream}");
    let hex = rest.strip_prefix("/[1]").unwrap_or_else(|| panic!("not version 1's stream: {stream}"));
    assert!(hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()), "{stream}");

    // A version whose deep health check fails logs an ERROR line for the smoke request.
    let broken = project.run(&[
        "deploy",
        "local",
        "--artifacts",
        project.bundle("b", "export S3_PERSONA_KEY=nobody.txt").to_str().unwrap(),
    ]);
    assert_eq!(broken.status.code(), Some(1), "{}", stderr(&broken));

    let errors = log_lines(&project, &["--level", "error"], |lines| has_message(lines, "deep health check failed"));
    assert!(has_message(&errors, "deep health check failed"), "{errors:#?}");
    assert!(errors.iter().all(|line| line["level"] == "ERROR"), "info lines hidden: {errors:#?}");
    let everything = log_lines(&project, &[], |lines| has_message(lines, "deep health check failed"));
    assert!(everything.iter().any(|line| line["level"] == "INFO"), "there were info lines to hide: {everything:#?}");
    let failed = log_lines(&project, &["--grep", "deep health check failed"], |lines| !lines.is_empty());
    assert!(
        !failed.is_empty() && failed.iter().all(|line| line["message"] == "deep health check failed"),
        "{failed:#?}"
    );

    // As text: time, level, correlation id, message, fields.
    let text = project.run(&["logs", "local", "--level", "error"]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.lines().any(|line| line.contains(" ERROR [twinctl-smoke-test] deep health check failed ")), "{text}");
}

#[test]
fn logs_of_an_environment_without_a_stack_say_to_deploy_first() {
    let project = Project::new(0);
    let output = project.run(&["logs", "local"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("twinctl deploy local"), "{}", stderr(&output));
    let since = project.run(&["logs", "local", "--since", "yesterday"]);
    assert_eq!(since.status.code(), Some(1), "{}", stderr(&since));
    assert!(stderr(&since).contains("--since"), "{}", stderr(&since));
}
