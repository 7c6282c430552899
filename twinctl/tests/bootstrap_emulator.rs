//! The real `twinctl` binary against the local AWS emulator: bootstrap — the shared stack and
//! the environment's access stack (execution role, boundary, CI deploy role), settings kept on
//! a rerun, and every AWS operation twinctl calls declared for the CI role.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

const PROVIDER: &str = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";

fn access_parameters(stack: String) -> std::collections::BTreeMap<String, String> {
    with_emulator(|sdk| async move {
        let cfn = aws_sdk_cloudformation::Client::new(&sdk);
        let described = cfn.describe_stacks().stack_name(&stack).send().await.unwrap();
        let stack = described.stacks().first().unwrap().clone();
        stack
            .parameters()
            .iter()
            .map(|p| (p.parameter_key().unwrap().to_owned(), p.parameter_value().unwrap_or_default().to_owned()))
            .collect()
    })
}

#[test]
fn bootstrap_creates_the_environments_roles_and_a_rerun_without_settings_keeps_them() {
    let project = Project::new(1);
    let config = project.path().join("twinctl.yaml");
    let plain = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{plain}bootstrap:\n  github_repository: octo/twin\n  ci_environments: [local]\n  oidc_provider_arn: {PROVIDER}\n"),
    )
    .unwrap();

    let report = project.json(&["bootstrap", "local"]);
    assert_eq!(report["outputs"]["OidcProviderArn"], PROVIDER, "an existing provider is used, not created: {report}");
    let access = &report["access"];
    let project_name = &project.name;
    assert_eq!(access["stack"], format!("{project_name}-ci-local"));
    for (output, role) in [("ExecutionRoleArn", "cfn"), ("DeployRoleArn", "deploy")] {
        let arn = access["outputs"][output].as_str().unwrap_or_else(|| panic!("{output} missing: {report}"));
        assert!(arn.ends_with(&format!(":role/{project_name}-ci-local-{role}-us-east-1")), "{arn}");
    }
    assert!(access["outputs"]["FunctionBoundaryArn"].as_str().unwrap().contains(":policy/"), "{report}");
    let parameters = access_parameters(format!("{project_name}-ci-local"));
    assert_eq!(parameters["GitHubRepository"], "octo/twin");
    assert_eq!(parameters["TwinStackName"], format!("{project_name}-local"));

    // The bootstrap section removed: the rerun keeps the repository (UsePreviousValue), so CI
    // access survives a bootstrap run from a checkout that lacks it.
    std::fs::write(&config, &plain).unwrap();
    let again = project.json(&["bootstrap", "local"]);
    assert_eq!(again["changed"], false, "nothing given, nothing changed: {again}");
    assert_eq!(again["access"]["outputs"]["DeployRoleArn"], access["outputs"]["DeployRoleArn"]);
    assert_eq!(access_parameters(format!("{project_name}-ci-local"))["GitHubRepository"], "octo/twin");

    // The environment deploys through its execution role.
    let deployed = project.deploy(&project.bundle("a", ""));
    assert_eq!(deployed["function_version"], "1", "{deployed}");
    let operations = std::fs::read_to_string(project.path().join("aws-operations.log")).unwrap();
    for expected in ["cloudformation:CreateChangeSet", "s3:PutObject", "lambda:PublishVersion"] {
        assert!(operations.lines().any(|l| l == expected), "{expected} not recorded in:\n{operations}");
    }
}

#[test]
fn deploying_before_the_access_stack_exists_names_the_bootstrap_command() {
    let project = Project::new(1);
    project.bootstrap();
    let access = format!("{}-ci-local", project.name);
    with_emulator(|sdk| async move {
        let cfn = aws_sdk_cloudformation::Client::new(&sdk);
        cfn.delete_stack().stack_name(&access).send().await.unwrap();
        for _ in 0..100 {
            let gone = match cfn.describe_stacks().stack_name(&access).send().await {
                Err(_) => true,
                Ok(d) => d
                    .stacks()
                    .first()
                    .is_none_or(|s| s.stack_status().is_some_and(|st| st.as_str() == "DELETE_COMPLETE")),
            };
            if gone {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{access} was not deleted");
    });
    let output = project.run(&["deploy", "local", "--artifacts", project.bundle("a", "").to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("-ci-local") && message.contains("twinctl bootstrap local"), "{message}");
}
