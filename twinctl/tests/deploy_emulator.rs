//! The real `twinctl` binary against the local AWS emulator: deploy.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::Value;

#[test]
fn deploy_from_nothing_then_noop_then_site_and_code_changes() {
    let project = Project::new(3);
    project.bootstrap();

    let first = project.deploy(&project.bundle("a", ""));
    assert!(first["stack_changes"].as_u64().unwrap() > 20, "{first}");
    assert_eq!(first["zip_uploaded"], true);
    assert_eq!(first["function_version"], "1");
    assert_eq!(first["alias_moved"], true);
    assert_eq!(first["site"]["uploaded"], 6, "5 site files and config.json: {first}");

    let again = project.deploy(&project.bundle("a", ""));
    assert_eq!(again["stack_changes"], 0, "no change set executed: {again}");
    assert_eq!(again["zip_uploaded"], false);
    assert_eq!(again["version_published"], false);
    assert_eq!(again["alias_moved"], false);
    assert_eq!(again["site"]["uploaded"], 0);
    assert_eq!(again["invalidated"], serde_json::json!([]));

    std::fs::write(project.path().join("site/index.html"), "<!doctype html><title>twin v2</title>").unwrap();
    let page = project.deploy(&project.bundle("a", ""));
    assert_eq!(page["site"]["uploaded"], 1, "{page}");
    // `/` is the default root object, cached apart from `/index.html`: both are invalidated.
    assert_eq!(page["invalidated"], serde_json::json!(["/", "/index.html"]));
    assert_eq!(page["stack_changes"], 0);

    let code = project.deploy(&project.bundle("b", ""));
    assert_eq!(code["function_version"], "2", "{code}");
    assert_eq!(code["version_published"], true);
    assert_eq!(code["alias_moved"], true);

    let status = project.json(&["status", "local"]);
    assert_eq!(status["live_version"], "2");
    assert_eq!(status["last_release"]["outcome"], "succeeded");
    assert_eq!(status["last_release"]["function"]["version"], "2");
    assert_eq!(status["current_release"]["id"], status["last_release"]["id"]);
    assert!(status["last_release"]["site"].as_array().unwrap().iter().all(|o| o["version_id"].is_string()));

    // A version whose deep health fails never goes live.
    let broken = project.run(&[
        "deploy",
        "local",
        "--artifacts",
        project.bundle("c", "export S3_PERSONA_KEY=nobody.txt").to_str().unwrap(),
    ]);
    assert_eq!(broken.status.code(), Some(1), "{}", stderr(&broken));
    assert!(stderr(&broken).contains("smoke test"), "{}", stderr(&broken));
    let status = project.json(&["status", "local"]);
    assert_eq!(status["live_version"], "2", "the alias stayed where it was");
    assert_eq!(status["last_release"]["outcome"], "failed");
    assert_eq!(status["current_release"]["function"]["version"], "2", "a failed deploy never becomes current");
}

#[test]
fn a_configuration_only_change_goes_live_as_a_new_smoke_tested_version() {
    let project = Project::new(0);
    project.bootstrap();
    let bundle = project.bundle("a", "");
    let first = project.deploy(&bundle);
    assert_eq!(first["function_version"], "1");

    let config_path = project.path().join("twinctl.yaml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let changed =
        config.replace("      LlmProvider: offline\n", "      LlmProvider: offline\n      LlmModelId: model-two\n");
    assert_ne!(config, changed);
    std::fs::write(&config_path, changed).unwrap();

    let second = project.deploy(&bundle);
    assert_eq!(second["zip_uploaded"], false, "same code: {second}");
    assert_eq!(second["function_version"], "2", "the new configuration is a version of its own: {second}");
    assert_eq!(second["alias_moved"], true);
    assert_eq!(live_environment(&project)["LLM_MODEL_ID"], "model-two", "the live version carries the new value");

    let again = project.deploy(&bundle);
    assert_eq!(again["function_version"], "2", "nothing changed, nothing published: {again}");
    assert_eq!(again["alias_moved"], false);
}

#[test]
fn a_cache_rule_change_alone_rewrites_metadata_in_place_without_uploads() {
    let project = Project::new(2);
    project.bootstrap();
    let bundle = project.bundle("a", "");
    project.deploy(&bundle);

    let config_path = project.path().join("twinctl.yaml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let changed = config.replace(
        "  output: site\n",
        "  output: site\n  cache:\n    - glob: index.html\n      cache_control: public, max-age=60\n",
    );
    assert_ne!(config, changed);
    std::fs::write(&config_path, changed).unwrap();

    let again = project.deploy(&bundle);
    assert_eq!(again["site"]["uploaded"], 0, "same bytes, no upload: {again}");
    assert_eq!(again["site"]["redescribed"], 1, "{again}");
    assert_eq!(again["invalidated"], serde_json::json!(["/", "/index.html"]));

    let status = project.json(&["status", "local"]);
    let bucket = status["outputs"]["FrontendBucketName"].as_str().unwrap().to_owned();
    let head = with_emulator(|sdk| async move {
        s3_client(&sdk).head_object().bucket(&bucket).key("index.html").send().await.unwrap()
    });
    assert_eq!(head.cache_control(), Some("public, max-age=60"));
    assert_eq!(head.content_type(), Some("text/html"));
    assert!(head.metadata().and_then(|m| m.get("sha256")).is_some(), "the content digest is kept");
    let recorded = &status["current_release"]["site"];
    let index = recorded.as_array().unwrap().iter().find(|o| o["key"] == "index.html").unwrap();
    assert_eq!(index["version_id"].as_str(), head.version_id(), "the release records the rewritten version");

    let settled = project.deploy(&bundle);
    assert_eq!(settled["site"]["redescribed"], 0, "{settled}");
    assert_eq!(settled["site"]["uploaded"], 0);
}

#[test]
fn no_traffic_reaches_a_version_before_it_passed_a_smoke_test() {
    let project = Project::new(0);
    project.bootstrap();
    let broken = project.run(&[
        "deploy",
        "local",
        "--artifacts",
        project.bundle("broken", "export S3_PERSONA_KEY=nobody.txt").to_str().unwrap(),
    ]);
    assert_eq!(broken.status.code(), Some(1), "{}", stderr(&broken));
    let status = project.json(&["status", "local"]);
    assert_eq!(status["live_version"], Value::Null, "no alias, so nothing (not $LATEST) serves: {status}");
    assert_eq!(status["current_release"], Value::Null);
    assert_eq!(status["last_release"]["outcome"], "failed");

    let fixed = project.deploy(&project.bundle("fixed", ""));
    assert_eq!(fixed["alias_moved"], true, "{fixed}");
    let status = project.json(&["status", "local"]);
    assert_eq!(status["live_version"], fixed["function_version"]);
    assert_eq!(status["outputs"]["LiveVersion"], fixed["function_version"], "the stack records the live version");
}

#[test]
fn a_held_lock_fails_fast_naming_its_holder_and_force_unlock_clears_it() {
    let project = Project::new(0);
    let bucket = project.bootstrap();
    hold_lock_as(&bucket, "arn:aws:iam::123456789012:user/alice", "ci-runner-7");
    let started = std::time::Instant::now();
    let blocked = project.run(&["deploy", "local", "--artifacts", project.bundle("a", "").to_str().unwrap()]);
    assert_eq!(blocked.status.code(), Some(1), "{}", stderr(&blocked));
    let message = stderr(&blocked);
    assert!(message.contains("locked by arn:aws:iam::123456789012:user/alice on ci-runner-7"), "{message}");
    assert!(message.contains("--force-unlock"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10), "fails fast");

    let forced =
        project.json(&["deploy", "local", "--force-unlock", "--artifacts", project.bundle("a", "").to_str().unwrap()]);
    assert_eq!(forced["function_version"], "1");
}

#[test]
fn a_deploy_killed_midway_converges_on_the_next_run() {
    let project = Project::new(300);
    project.bootstrap();
    let bundle = project.bundle("a", "");
    // Kill it (SIGKILL: no cleanup, the lock stays behind) as soon as the site upload begins.
    let reached_site = kill_deploy_after(
        &project,
        &["deploy", "local", "--artifacts", bundle.to_str().unwrap()],
        "✓ function",
        || true,
    );
    assert!(reached_site, "the first deploy should have reached the site upload");

    let resumed = project.run(&["deploy", "local", "--artifacts", bundle.to_str().unwrap()]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(stderr(&resumed).contains("taking over the lock"), "{}", stderr(&resumed));
    let settled = project.deploy(&bundle);
    assert_eq!(settled["stack_changes"], 0, "{settled}");
    assert_eq!(settled["site"]["uploaded"], 0, "every file made it: {settled}");
    assert_eq!(settled["site"]["skipped"], 303);
}

#[test]
fn malformed_config_is_reported_with_file_line_and_column() {
    let project = Project::new(0);
    let path = project.path().join("twinctl.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("    region: us-east-1\n    architecture", "    regoin: us-east-1\n    architecture");
    std::fs::write(&path, text).unwrap();
    let output = project.run(&["status", "local"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains(&format!("{}:", path.display())), "{message}");
    assert!(message.contains("unknown field `regoin`"), "{message}");
    let location: Vec<&str> = message.split(&format!("{}:", path.display())).nth(1).unwrap().splitn(3, ':').collect();
    assert!(location[0].parse::<u32>().is_ok() && location[1].parse::<u32>().is_ok(), "{message}");
}

#[test]
fn unknown_environments_and_missing_credentials_are_user_errors() {
    let project = Project::new(0);
    let output = project.run(&["status", "prod"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("known: local, staging"), "{}", stderr(&output));

    let output = project
        .command(&["deploy", "staging", "--yes"])
        .env_remove("TWINCTL_ENDPOINT_URL")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("no AWS credentials found"), "{message}");
    assert!(!message.contains("panicked") && !message.contains("DispatchFailure"), "{message}");
}

#[test]
fn approval_gated_environments_need_yes_without_a_terminal() {
    let project = Project::new(0);
    let output = project.command(&["deploy", "staging"]).stdin(std::process::Stdio::null()).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("requires approval"), "{}", stderr(&output));
}

#[test]
fn diff_reports_pending_changes_with_exit_3_and_changes_nothing() {
    let project = Project::new(1);
    project.bootstrap();
    let bundle = project.bundle("a", "");
    let diff = |bundle: &Path| {
        let output = project.run(&["diff", "local", "--artifacts", bundle.to_str().unwrap(), "--output", "json"]);
        let body: Value =
            serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stderr(&output)));
        (output.status.code(), body)
    };

    let (code, before) = diff(&bundle);
    assert_eq!(code, Some(3), "a stack that does not exist yet is a change: {before}");
    assert_eq!(before["stack_exists"], false);
    assert!(before["stack_changes"].as_array().unwrap().iter().any(|c| c["action"] == "Add"));
    let status = project.run(&["status", "local"]);
    assert_eq!(status.status.code(), Some(1), "diff created nothing: {}", stderr(&status));

    project.deploy(&bundle);
    let (code, clean) = diff(&bundle);
    assert_eq!(code, Some(0), "{clean}");
    assert_eq!(clean["changes"], false);

    std::fs::write(project.path().join("site/_next/static/chunk-0.js"), "/* changed */").unwrap();
    std::fs::write(project.path().join("site/new.html"), "<p>new</p>").unwrap();
    let changed_bundle = project.bundle("b", "");
    let (code, pending) = diff(&changed_bundle);
    assert_eq!(code, Some(3), "{pending}");
    assert_eq!(pending["function_code_changes"], true);
    assert_eq!(pending["site"]["changed"], serde_json::json!(["_next/static/chunk-0.js"]));
    assert_eq!(pending["site"]["new"], serde_json::json!(["new.html"]));
    assert_eq!(pending["stack_changes"].as_array().unwrap().len(), 1, "only the function's CodeKey: {pending}");
    assert_eq!(pending["stack_changes"][0]["logical_id"], "Function");

    let after = project.deploy(&bundle);
    assert_eq!(after["stack_changes"], 0, "diff left no change set or state behind: {after}");
}

#[test]
fn two_concurrent_deploys_one_fails_fast_naming_the_other() {
    let project = Project::new(300);
    project.bootstrap();
    let bundle = project.bundle("a", "");
    let spawn = || {
        project
            .command(&["deploy", "local", "--artifacts", bundle.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    let outputs = [first.wait_with_output().unwrap(), second.wait_with_output().unwrap()];
    let codes: Vec<Option<i32>> = outputs.iter().map(|o| o.status.code()).collect();
    assert!(codes.contains(&Some(0)) && codes.contains(&Some(1)), "one wins, one loses: {codes:?}");
    let loser = outputs.iter().find(|o| o.status.code() == Some(1)).unwrap();
    let message = stderr(loser);
    assert!(message.contains("environment local is locked by") && message.contains("(pid "), "{message}");
}

#[test]
fn serve_local_serves_the_site_and_the_live_api_and_stops_on_sigterm() {
    let project = Project::new(0);
    project.bootstrap();
    project.deploy(&project.bundle("a", ""));
    let served = Served::start(&project);
    let page = served.get_with_cache_control("/");
    let config: Value = serde_json::from_str(&served.get("/config.json").unwrap().1).unwrap();
    let (status, chat) = served.post_json("/api/chat", r#"{"message":"served?"}"#);
    assert_eq!(status, 200, "{chat}");
    let chat: Value = serde_json::from_str(&chat).unwrap();
    assert_eq!(page.0.as_deref(), Some("no-cache"), "stored Cache-Control is served");
    assert!(page.1.contains("<title>twin</title>"), "{}", page.1);
    assert_eq!(config["environment"], "local");
    assert!(chat["response"].as_str().unwrap().contains("persona: I am the test twin."), "{chat}");
    assert!(served.terminate().success(), "serve exits cleanly on SIGTERM");
}

#[test]
fn an_approval_gated_environments_stack_cannot_be_deleted_by_accident() {
    let project = Project::new(1);
    project.configure_local("approval: true");
    project.bootstrap();
    let bundle = project.bundle("a", "");
    // A first deploy adds every grant: `--yes` approves the deploy, not the IAM it brings.
    let refused = project.run(&["deploy", "local", "--yes", "--artifacts", bundle.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("IAM broadens: ") && stderr(&refused).contains("--approve-iam-broadening"));
    let deployed = project.json(&[
        "deploy",
        "local",
        "--yes",
        "--approve-iam-broadening",
        "--artifacts",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(deployed["function_version"], "1", "{deployed}");
    // The same template again broadens nothing: `--yes` alone suffices.
    let again = project.json(&["deploy", "local", "--yes", "--artifacts", bundle.to_str().unwrap()]);
    assert_eq!(again["stack_changes"], 0, "{again}");
    let stack = format!("{}-local", project.name);
    with_emulator(|sdk| async move {
        let cfn = aws_sdk_cloudformation::Client::new(&sdk);
        let described = cfn.describe_stacks().stack_name(&stack).send().await.unwrap();
        assert_eq!(described.stacks()[0].enable_termination_protection(), Some(true));
        let refused = cfn.delete_stack().stack_name(&stack).send().await;
        assert!(refused.is_err(), "a protected stack was deleted");
        let still = cfn.describe_stacks().stack_name(&stack).send().await.unwrap();
        assert!(still.stacks()[0].stack_status().unwrap().as_str().ends_with("_COMPLETE"));
        assert_ne!(still.stacks()[0].stack_status().unwrap().as_str(), "DELETE_COMPLETE");
    });
}

#[test]
fn diff_lists_the_iam_grants_a_template_change_adds() {
    let project = Project::new(1);
    project.bootstrap();
    let bundle = project.bundle("a", "");
    project.deploy(&bundle);
    let template = std::fs::read_to_string(workspace().join("templates/twin.yaml")).unwrap();
    let anchor =
        "              - Sid: ReadPersona\n                Effect: Allow\n                Action: s3:GetObject\n";
    assert!(template.contains(anchor), "twin.yaml changed; update this test's anchor");
    let wider = template.replacen(
        anchor,
        "              - Sid: ReadPersona\n                Effect: Allow\n                Action: [s3:GetObject, s3:GetObjectVersion]\n",
        1,
    );
    std::fs::write(project.path().join("twin.yaml"), wider).unwrap();
    let config = project.path().join("twinctl.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let stack_line = format!("  stack: {}/templates/twin.yaml\n", workspace().canonicalize().unwrap().display());
    assert!(text.contains(&stack_line), "{text}");
    std::fs::write(&config, text.replacen(&stack_line, "  stack: twin.yaml\n", 1)).unwrap();

    let output = project.run(&["diff", "local", "--artifacts", bundle.to_str().unwrap(), "--output", "json"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let diff: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        diff["iam"]["broadened"],
        serde_json::json!([
            "FunctionRole: Allow s3:GetObjectVersion on arn:${AWS::Partition}:s3:::${DataMemoryBucketName}/persona/me.txt"
        ]),
        "{diff}"
    );
    assert_eq!(diff["iam"]["narrowed"], serde_json::json!([]));
}
