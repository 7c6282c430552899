//! `twinctl verify` against the local AWS emulator and `twinctl serve local`: the repository's
//! plans pass on a fresh deployment (HTTPS, logs and IAM included); a failing expectation fails
//! the run with exit 1, naming the step, in the table, the JSON document and the JUnit file.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;

/// A project whose persona and test plans are the repository's.
fn project_with_repository_plans() -> Project {
    let project = Project::new(1);
    let root = workspace().canonicalize().unwrap();
    std::fs::copy(root.join("persona/me.txt"), project.path().join("me.txt")).unwrap();
    use_plans(&project, &root.join("testplans"));
    project
}

fn use_plans(project: &Project, dir: &std::path::Path) {
    let config = project.path().join("twinctl.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen("persona: me.txt\n", &format!("persona: me.txt\ntestplans: {}\n", dir.display()), 1);
    std::fs::write(&config, text).unwrap();
}

#[test]
fn the_repositorys_plans_pass_against_the_served_local_twin() {
    let project = project_with_repository_plans();
    project.bootstrap();
    project.deploy(&project.bundle("a", ""));
    let _served = Served::start(&project);
    let junit = project.path().join("verify.xml");
    let output = project.run(&["verify", "local", "--output", "json", "--junit", junit.to_str().unwrap()]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&output)));
    let steps = report["steps"].as_array().unwrap();
    let broken: Vec<&Value> = steps.iter().filter(|s| s["outcome"] == "fail" || s["outcome"] == "error").collect();
    assert!(broken.is_empty(), "failed steps: {}", serde_json::to_string_pretty(&broken).unwrap());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(report["schema_version"], 1);
    for step in steps.iter().filter(|s| s["outcome"] == "skip") {
        assert!(!step["reasons"][0].as_str().unwrap().is_empty(), "a skip says why: {step}");
    }
    let kinds_passed: std::collections::BTreeSet<&str> =
        steps.iter().filter(|s| s["outcome"] == "pass").map(|s| s["kind"].as_str().unwrap()).collect();
    for kind in ["http", "s3", "iam", "https-live", "secrets", "monitoring", "lambda"] {
        assert!(kinds_passed.contains(kind), "no {kind} step passed locally: {kinds_passed:?}");
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), steps.len(), "one testcase per step");
    assert_eq!(xml.matches("<testsuite ").count(), report["plans"].as_array().unwrap().len());
}

#[test]
fn a_failing_expectation_fails_the_run_naming_the_step_and_why() {
    let project = Project::new(0);
    let plans = project.path().join("plans");
    std::fs::create_dir_all(&plans).unwrap();
    std::fs::write(
        plans.join("health.yaml"),
        "id: health\ntitle: Health\ncovers: {requirements: [\"x\"], properties: []}\npurpose: p\nenvironments: [all]\n\
         steps:\n  - name: health answers 201\n    kind: http\n    request: {url: \"{{api}}/api/health\"}\n    \
         expect:\n      status: [{equals: 201}]\n  - name: never here\n    kind: http\n    skip: not today\n    \
         request: {url: \"{{api}}/api/health\"}\n",
    )
    .unwrap();
    use_plans(&project, &plans);
    project.bootstrap();
    project.deploy(&project.bundle("a", ""));
    let _served = Served::start(&project);
    let junit = project.path().join("verify.xml");
    let output = project.run(&["verify", "local", "--junit", junit.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("health answers 201") && table.contains("fail"), "{table}");
    assert!(table.contains("200"), "the reason says what came back: {table}");
    assert!(table.contains("not today") && table.contains("skip"), "{table}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure") && xml.contains("<skipped message=\"not today\""), "{xml}");
}

#[test]
fn verify_local_without_a_running_serve_serves_the_live_version_itself() {
    let project = project_with_repository_plans();
    project.bootstrap();
    project.deploy(&project.bundle("a", ""));
    let report = project.json(&["verify", "local", "--plan", "production-validation", "--plan", "local-testing"]);
    assert_eq!(report["summary"]["failed"], 0, "{report}");
    assert_eq!(report["summary"]["errored"], 0, "{report}");
    assert_eq!(report["plans"], serde_json::json!(["local-testing", "production-validation"]));
    assert!(!project.path().join(".twin/serve/local.json").exists(), "the run's own server leaves no state behind");
    let unknown = project.run(&["verify", "local", "--plan", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("no test plan \"nope\"") && stderr(&unknown).contains("memory-persistence"));
}

/// A plan that version "b" (MAX_MESSAGE_CHARS=5) fails: its chat is longer than five characters.
fn chat_plan(project: &Project) {
    let plans = project.path().join("plans");
    std::fs::create_dir_all(&plans).unwrap();
    std::fs::write(
        plans.join("chat.yaml"),
        "id: chat\ntitle: Chat\ncovers: {requirements: [\"x\"], properties: [1]}\npurpose: p\nenvironments: [all]\n\
         steps:\n  - name: a chat is answered\n    kind: http\n    request:\n      method: POST\n      \
         url: \"{{api}}/api/chat\"\n      headers: {content-type: application/json}\n      json: {message: \"hello world\"}\n    \
         expect:\n      status: [{equals: 200}]\n",
    )
    .unwrap();
    use_plans(project, &plans);
}

#[test]
fn deploy_verify_restores_the_previous_release_when_the_plans_fail() {
    let project = Project::new(1);
    chat_plan(&project);
    project.bootstrap();
    let a = project.bundle("a", "");
    let first = project.json(&["deploy", "local", "--verify", "--artifacts", a.to_str().unwrap()]);
    assert_eq!(first["verification"]["summary"]["passed"], 1, "{first}");
    let b = project.bundle("b", "export MAX_MESSAGE_CHARS=5");
    let junit = project.path().join("deploy-verify.xml");
    let output = project.run(&[
        "deploy",
        "local",
        "--verify",
        "--junit",
        junit.to_str().unwrap(),
        "--artifacts",
        b.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("failed verification") && stderr(&output).contains("a chat is answered"));
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document["verification"]["summary"]["failed"], 1, "{document}");
    assert_eq!(document["rolled_back"]["to"], first["release_id"], "{document}");
    assert!(std::fs::read_to_string(&junit).unwrap().contains("<failure"));
    let status = project.json(&["status", "local"]);
    assert_eq!(status["live_version"], first["function_version"], "the first version is live again: {status}");
    assert_eq!(status["current_release"]["kind"], "rollback", "{status}");
    let failed = project.json(&["releases", "local", document["release_id"].as_str().unwrap()]);
    assert_eq!(failed["release"]["outcome"], "failed", "the verified-out release is recorded as failed: {failed}");
    assert!(failed["release"]["error"].as_str().unwrap().contains("verification failed: chat / a chat is answered"));
}

#[test]
fn deploy_verify_on_a_first_deploy_records_the_failure_and_says_there_is_nothing_to_restore() {
    let project = Project::new(0);
    chat_plan(&project);
    project.bootstrap();
    let b = project.bundle("b", "export MAX_MESSAGE_CHARS=5");
    let output = project.run(&["deploy", "local", "--verify", "--artifacts", b.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("nothing to roll back to"), "{}", stderr(&output));
    let status = project.json(&["status", "local"]);
    assert!(status["current_release"].is_null(), "a failed release never becomes current: {status}");
    assert_eq!(status["last_release"]["outcome"], "failed");
}

#[test]
fn each_kind_fails_on_what_it_must_catch() {
    let project = Project::new(0);
    let plans = project.path().join("plans");
    std::fs::create_dir_all(&plans).unwrap();
    std::fs::write(
        plans.join("catch.yaml"),
        "id: catch\ntitle: Catch\ncovers: {requirements: [\"x\"], properties: [1, 5, 6, 7]}\npurpose: p\nenvironments: [all]\n\
         steps:\n\
         \x20 - name: an unversioned bucket\n    kind: s3\n    bucket: \"{{env.VERIFY_TEST_BUCKET}}\"\n    expect:\n      checks:\n        versioning: [{equals: true}]\n\
         \x20 - name: a role allowed s3:*\n    kind: iam\n    role: function\n\
         \x20 - name: a secret value in the function's environment\n    kind: secrets\n\
         \x20 - name: a request nobody sent\n    kind: monitoring\n    logs: {correlation_id: \"never-sent-{{run_id}}\"}\n    expect:\n      checks:\n        log_lines: [{ge: 1}]\n\
         \x20 - name: an alias moved by hand\n    kind: lambda\n",
    )
    .unwrap();
    use_plans(&project, &plans);
    project.bootstrap();
    project.deploy(&project.bundle("a", ""));
    let outputs = project.json(&["status", "local"])["outputs"].clone();
    let bucket = format!("{}-unversioned", project.name);
    let (role, function, origin) = (
        outputs["FunctionRoleArn"].as_str().unwrap().rsplit('/').next().unwrap().to_owned(),
        outputs["FunctionName"].as_str().unwrap().to_owned(),
        outputs["OriginVerifySecretArn"].as_str().unwrap().to_owned(),
    );
    let leaked = with_emulator(|sdk| async move {
        s3_client(&sdk).create_bucket().bucket(&bucket).send().await.unwrap();
        let iam = aws_sdk_iam::Client::new(&sdk);
        let everything = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        iam.put_role_policy()
            .role_name(&role)
            .policy_name("too-much")
            .policy_document(everything)
            .send()
            .await
            .unwrap();
        // A new live version whose environment holds the origin secret's value.
        let secret =
            aws_sdk_secretsmanager::Client::new(&sdk).get_secret_value().secret_id(&origin).send().await.unwrap();
        let lambda = aws_sdk_lambda::Client::new(&sdk);
        let current = lambda.get_function_configuration().function_name(&function).send().await.unwrap();
        let mut variables = current.environment().and_then(|e| e.variables()).cloned().unwrap_or_default();
        let value = secret.secret_string().unwrap().to_owned();
        variables.insert("LEAKED".to_owned(), value.clone());
        let environment = aws_sdk_lambda::types::Environment::builder().set_variables(Some(variables)).build();
        lambda.update_function_configuration().function_name(&function).environment(environment).send().await.unwrap();
        let version = lambda.publish_version().function_name(&function).send().await.unwrap();
        lambda
            .update_alias()
            .function_name(&function)
            .name("live")
            .function_version(version.version().unwrap())
            .send()
            .await
            .unwrap();
        value
    });
    let output = project
        .command(&["verify", "local", "--output", "json"])
        .env("VERIFY_TEST_BUCKET", format!("{}-unversioned", project.name))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let step = |name: &str| report["steps"].as_array().unwrap().iter().find(|s| s["step"] == name).unwrap().clone();
    let expect_failure = |name: &str, says: &str| {
        let found = step(name);
        assert_eq!(found["outcome"], "fail", "{found}");
        let reasons = found["reasons"].to_string();
        assert!(reasons.contains(says), "{name}: {reasons}");
    };
    expect_failure("an unversioned bucket", "versioning");
    expect_failure("a role allowed s3:*", "s3:*");
    expect_failure("a secret value in the function's environment", "LEAKED");
    expect_failure("a request nobody sent", "log_lines");
    expect_failure("an alias moved by hand", "release");
    let shown = format!("{}{}", String::from_utf8_lossy(&output.stdout), stderr(&output));
    assert!(!shown.contains(&leaked), "the secret's value is never shown, only the variable's name");
}

/// The `lambda` step during `deploy --verify` compares the live alias with the release being
/// made, not with the one it replaces: a first deploy, and one that publishes a new version,
/// both pass it.
#[test]
fn deploy_verify_checks_the_alias_against_the_release_it_is_making() {
    let project = Project::new(0);
    let plans = project.path().join("plans");
    std::fs::create_dir_all(&plans).unwrap();
    std::fs::write(
        plans.join("alias.yaml"),
        "id: alias\ntitle: Alias\ncovers: {requirements: [\"x\"], properties: [1]}\npurpose: p\nenvironments: [all]\n\
         steps:\n  - name: the live alias serves the release's version\n    kind: lambda\n",
    )
    .unwrap();
    use_plans(&project, &plans);
    project.bootstrap();
    let a = project.bundle("a", "");
    let first = project.json(&["deploy", "local", "--verify", "--artifacts", a.to_str().unwrap()]);
    assert_eq!(first["verification"]["summary"]["passed"], 1, "a first deploy: {first}");
    let b = project.bundle("b", "export TWIN_VARIANT=b");
    let second = project.json(&["deploy", "local", "--verify", "--artifacts", b.to_str().unwrap()]);
    assert_ne!(second["function_version"], first["function_version"], "a new version: {second}");
    assert_eq!(second["verification"]["summary"]["passed"], 1, "a new version: {second}");
    assert!(second["rolled_back"].is_null(), "{second}");
}
