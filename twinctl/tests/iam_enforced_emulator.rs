//! The CI path rehearsed under IAM enforcement: a second emulator, started by `scripts/test` with
//! `TWIN_EMULATOR_IAM=enforce` on `TWIN_EMULATOR_IAM_PORT`, checks every request against the
//! caller's policies and runs each stack resource operation as the stack's execution role.
//!
//! Bootstrap runs as the emulator's admin (`.twin/emulator/admin.env`), as a person with an
//! administrator's session would; everything after it runs as GitHub Actions would: a token for
//! the repository's environment, `AssumeRoleWithWebIdentity` to the environment's deploy role,
//! and `twinctl` with those temporary credentials.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Output;

use common::*;
use serde_json::Value;

/// The account's GitHub OIDC provider: created once by an administrator and named in
/// twinctl.yaml, as in an account that already has one.
const PROVIDER_URL: &str = "https://token.actions.githubusercontent.com";
/// What bootstrap trusts for an emulator environment without a configured repository.
const PLACEHOLDER_REPOSITORY: &str = "twinctl/placeholder";

fn enforced_url() -> String {
    let port = std::env::var("TWIN_EMULATOR_IAM_PORT").unwrap_or_else(|_| "4567".to_owned());
    let address = format!("127.0.0.1:{port}");
    if std::net::TcpStream::connect_timeout(&address.parse().unwrap(), std::time::Duration::from_secs(2)).is_err() {
        panic!(
            "the IAM-enforcing emulator is not running at {address}; start it with \
             `TWIN_EMULATOR_PORT={port} TWIN_EMULATOR_IAM=enforce scripts/emulator start` (scripts/test does)"
        );
    }
    format!("http://{address}")
}

#[derive(Clone, Debug)]
struct Keys {
    id: String,
    secret: String,
    session: Option<String>,
}

/// The enforcing emulator's administrator, as `scripts/emulator start` wrote it.
fn admin() -> Keys {
    let path = workspace().join(".twin/emulator/admin.env");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{} has no {key}", path.display()))
            .trim()
            .to_owned()
    };
    Keys { id: value("AWS_ACCESS_KEY_ID"), secret: value("AWS_SECRET_ACCESS_KEY"), session: None }
}

fn sdk_as(keys: &Keys) -> aws_config::SdkConfig {
    let credentials =
        aws_sdk_s3::config::Credentials::new(&keys.id, &keys.secret, keys.session.clone(), None, "enforced-tests");
    block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(enforced_url())
            .credentials_provider(credentials)
            .load(),
    )
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

/// A token from the emulator's test issuer, as GitHub issues one to a job of that subject.
fn token(subject: &str) -> String {
    let output = std::process::Command::new(workspace().join("scripts/emulator"))
        .args(["token", "--sub", subject])
        .output()
        .unwrap();
    assert!(output.status.success(), "scripts/emulator token failed: {}", stderr(&output));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// What aws-actions/configure-aws-credentials does in a job: an unsigned AssumeRoleWithWebIdentity.
async fn assume_with_token(role_arn: &str, token: &str) -> Result<Keys, String> {
    // No credentials at all: the SDK then sends the call unsigned, as a job's first call is.
    let unsigned = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(enforced_url())
        .no_credentials()
        .load()
        .await;
    let sts = aws_sdk_sts::Client::new(&unsigned);
    let answer = sts
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name("github-actions")
        .web_identity_token(token)
        .send()
        .await
        .map_err(|e| aws_sdk_sts::error::DisplayErrorContext(e).to_string())?;
    let credentials = answer.credentials().unwrap();
    Ok(Keys {
        id: credentials.access_key_id().to_owned(),
        secret: credentials.secret_access_key().to_owned(),
        session: Some(credentials.session_token().to_owned()),
    })
}

/// The account's provider, created by the first test that needs it.
fn provider_arn() -> String {
    let iam = aws_sdk_iam::Client::new(&sdk_as(&admin()));
    block_on(async {
        match iam
            .create_open_id_connect_provider()
            .url(PROVIDER_URL)
            .client_id_list("sts.amazonaws.com")
            .thumbprint_list("6938fd4d98bab03faadb97b34396831e3780aea1")
            .send()
            .await
        {
            Ok(created) => created.open_id_connect_provider_arn().unwrap().to_owned(),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_entity_already_exists_exception()) => {
                "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com".to_owned()
            }
            Err(e) => panic!("creating the OIDC provider: {}", aws_sdk_iam::error::DisplayErrorContext(e)),
        }
    })
}

struct Enforced {
    project: Project,
}

impl Enforced {
    /// A project whose bootstrap names the account's provider; `extra` adds configuration.
    fn new(extra: &str) -> Self {
        let project = Project::new(1);
        let config = project.path().join("twinctl.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, format!("{text}bootstrap:\n  oidc_provider_arn: {}\n{extra}", provider_arn())).unwrap();
        Self { project }
    }

    fn run_as(&self, keys: &Keys, args: &[&str]) -> Output {
        let mut command = self.project.command(args);
        command
            .env("TWINCTL_ENDPOINT_URL", enforced_url())
            .env("AWS_ACCESS_KEY_ID", &keys.id)
            .env("AWS_SECRET_ACCESS_KEY", &keys.secret);
        match &keys.session {
            Some(token) => command.env("AWS_SESSION_TOKEN", token),
            None => command.env_remove("AWS_SESSION_TOKEN"),
        };
        command.output().unwrap()
    }

    fn json_as(&self, keys: &Keys, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let output = self.run_as(keys, &all);
        assert!(output.status.success(), "twinctl {args:?} failed:\n{}", stderr(&output));
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Bootstraps `environment` as the administrator; returns its deploy and execution roles.
    fn bootstrap(&self, environment: &str) -> (String, String) {
        let report = self.json_as(&admin(), &["bootstrap", environment]);
        let outputs = &report["access"]["outputs"];
        let role = |name: &str| outputs[name].as_str().unwrap_or_else(|| panic!("{name} missing: {report}")).to_owned();
        (role("DeployRoleArn"), role("ExecutionRoleArn"))
    }

    fn deploy_as(&self, keys: &Keys) -> Output {
        let bundle = self.project.bundle("a", "");
        self.run_as(keys, &["deploy", "local", "--artifacts", bundle.to_str().unwrap(), "--output", "json"])
    }
}

/// Removes `action` from every statement of the role's inline policy `policy`, as an
/// administrator editing the role by hand would.
fn remove_grant(role_arn: &str, policy: &str, action: &str) {
    let role = role_arn.rsplit('/').next().unwrap().to_owned();
    let iam = aws_sdk_iam::Client::new(&sdk_as(&admin()));
    block_on(async {
        let current = iam.get_role_policy().role_name(&role).policy_name(policy).send().await.unwrap();
        // IAM returns policy documents URL-encoded (GetRolePolicy API reference).
        let raw = current.policy_document();
        let text = percent_encoding::percent_decode_str(raw).decode_utf8().unwrap();
        let mut document: Value = serde_json::from_str(&text).unwrap();
        let mut removed = 0;
        for statement in document["Statement"].as_array_mut().unwrap() {
            match statement.get_mut("Action") {
                Some(Value::Array(actions)) => {
                    let before = actions.len();
                    actions.retain(|a| a != action);
                    removed += before - actions.len();
                }
                Some(Value::String(single)) if single == action => {
                    statement["Action"] = Value::Array(vec![]);
                    removed += 1;
                }
                _ => {}
            }
        }
        assert!(removed > 0, "{policy} of {role} does not grant {action}");
        // A statement left without actions is dropped: IAM refuses an empty Action.
        document["Statement"]
            .as_array_mut()
            .unwrap()
            .retain(|s| !matches!(s.get("Action"), Some(Value::Array(actions)) if actions.is_empty()));
        iam.put_role_policy()
            .role_name(&role)
            .policy_name(policy)
            .policy_document(document.to_string())
            .send()
            .await
            .unwrap();
    });
}

fn deploy_role_keys(project: &Enforced, environment: &str, repository: &str, role: &str) -> Keys {
    let subject = format!("repo:{repository}:environment:{environment}");
    block_on(assume_with_token(role, &token(&subject)))
        .unwrap_or_else(|e| panic!("{subject} could not assume {role}: {e} ({})", project.project.name))
}

#[test]
fn the_ci_path_deploys_the_twin_as_the_environments_deploy_role() {
    let enforced = Enforced::new("");
    let (deploy_role, _) = enforced.bootstrap("local");
    let keys = deploy_role_keys(&enforced, "local", PLACEHOLDER_REPOSITORY, &deploy_role);

    let output = enforced.deploy_as(&keys);
    assert!(output.status.success(), "the deploy role's deploy failed:\n{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["function_version"], "1", "{report}");

    // The same role reads what it deployed, checks it for drift (CI's scheduled check) and reads
    // the smoke request's log lines, which the function shipped as its own role.
    let status = enforced.json_as(&keys, &["status", "local", "--check"]);
    assert_eq!(status["live_version"], "1", "{status}");
    assert_eq!(status["drift"]["drifted"], false, "{status}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let logs =
            enforced.run_as(&keys, &["logs", "local", "--correlation-id", "twinctl-smoke-test", "--output", "json"]);
        assert!(logs.status.success(), "the deploy role reads the function's logs: {}", stderr(&logs));
        if String::from_utf8_lossy(&logs.stdout).contains("request served") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the smoke request's lines never arrived: {}", stderr(&logs));
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    // The same role verifies what it deployed: production validation's reads (the function's
    // role, bucket settings, secrets' metadata, logs, alarms, dashboard, alias) are all granted.
    let plans = workspace().canonicalize().unwrap().join("testplans");
    let config = enforced.project.path().join("twinctl.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("testplans: {}\n{text}", plans.display())).unwrap();
    let verify = enforced.run_as(&keys, &["verify", "local", "--plan", "production-validation", "--output", "json"]);
    let report: Value = serde_json::from_slice(&verify.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&verify)));
    let broken: Vec<&Value> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["outcome"] == "fail" || s["outcome"] == "error")
        .collect();
    assert!(broken.is_empty(), "the deploy role's verify: {}", serde_json::to_string_pretty(&broken).unwrap());
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
    let own_role = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "iam" && s["step"].as_str().unwrap().contains("deploy role"));
    assert_eq!(
        own_role.unwrap()["outcome"],
        "pass",
        "the deploy role holds exactly twinctl's declared actions: {report}"
    );

    // The staging and production CI roles cannot destroy: the first deletion (the site's object
    // versions) is refused by IAM, nothing is deleted and the lock is given back.
    let refused = enforced.run_as(&keys, &["destroy", "local", "--yes"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("s3:DeleteObjectVersion"), "{}", stderr(&refused));
    let after = enforced.json_as(&admin(), &["status", "local"]);
    assert_eq!(after["live_version"], "1", "the stack and its alias are still there: {after}");
    let destroyed = enforced.json_as(&admin(), &["destroy", "local", "--yes"]);
    assert_eq!(destroyed["stack_deleted"], true, "the administrator may: {destroyed}");
}

#[test]
fn an_execution_role_missing_one_grant_fails_the_stack_naming_the_action() {
    let enforced = Enforced::new("");
    let (deploy_role, execution_role) = enforced.bootstrap("local");
    remove_grant(&execution_role, "manage-twin-stack-resources", "lambda:CreateFunction");
    let keys = deploy_role_keys(&enforced, "local", PLACEHOLDER_REPOSITORY, &deploy_role);

    let output = enforced.deploy_as(&keys);
    assert!(!output.status.success(), "the stack needs lambda:CreateFunction, yet the deploy succeeded");
    let text = stderr(&output);
    assert!(text.contains("lambda:CreateFunction"), "the failure must name the action:\n{text}");
    assert!(text.contains("not authorized"), "{text}");
}

#[test]
fn a_deploy_role_missing_one_grant_is_refused_naming_the_action_and_leaves_nothing_behind() {
    let enforced = Enforced::new("");
    let (deploy_role, _) = enforced.bootstrap("local");
    // The environment's lock is the deploy's first write.
    remove_grant(&deploy_role, "deploy-one-environment", "s3:PutObject");
    let keys = deploy_role_keys(&enforced, "local", PLACEHOLDER_REPOSITORY, &deploy_role);

    let output = enforced.deploy_as(&keys);
    assert_eq!(output.status.code(), Some(1), "an access denial is the caller's to fix:\n{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("s3:PutObject"), "the failure must name the action:\n{text}");
    assert!(text.contains("AccessDenied"), "{text}");

    // Nothing was created: the twin stack does not exist.
    let stack = format!("{}-local", enforced.project.name);
    let cfn = aws_sdk_cloudformation::Client::new(&sdk_as(&admin()));
    let described = block_on(async { cfn.describe_stacks().stack_name(&stack).send().await });
    assert!(described.is_err(), "the refused deploy created {stack}");
}

#[test]
fn a_staging_token_cannot_assume_the_production_role() {
    let enforced = Enforced::new("  github_repository: octo/twin\n  ci_environments: [staging, production]\n");
    let config = enforced.project.path().join("twinctl.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("environments:\n", "environments:\n  production:\n    region: us-east-1\n    approval: true\n"),
    )
    .unwrap();
    let (staging_role, _) = enforced.bootstrap("staging");
    let (production_role, _) = enforced.bootstrap("production");

    let staging_token = token("repo:octo/twin:environment:staging");
    block_on(assume_with_token(&staging_role, &staging_token)).expect("staging's token assumes staging's role");
    let refused = block_on(assume_with_token(&production_role, &staging_token))
        .expect_err("a staging job must not assume production's role");
    assert!(refused.contains("AccessDenied"), "{refused}");
    // Another repository's production job is refused too.
    let other = token("repo:someone/else:environment:production");
    assert!(block_on(assume_with_token(&production_role, &other)).is_err());
    block_on(assume_with_token(&production_role, &token("repo:octo/twin:environment:production")))
        .expect("production's token assumes production's role");
}
