//! The CI roles of `templates/environment-access.yaml`, checked statically (no emulator):
//! - the deploy role grants exactly the IAM actions twinctl declares for its CI commands
//!   (`twinctl::aws::permissions::CI`) — a missing and an extra action both fail, by name;
//! - escalation guards: the execution role creates or changes roles only with the permissions
//!   boundary attached; both roles carry an explicit Deny on the CI roles themselves and (the
//!   deploy role) on the bootstrap stacks; `iam:PassRole` names one role and one service.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_yaml::{Mapping, Value};

fn template() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../templates/environment-access.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn items(value: &Value) -> Vec<&Value> {
    match value {
        Value::Sequence(list) => list.iter().collect(),
        other => vec![other],
    }
}

/// The literal text of a string, `!Sub "…"` or `!Ref X` (as `!Ref X`).
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Tagged(tagged) => format!("{} {}", tagged.tag, text(&tagged.value)),
        other => format!("{other:?}"),
    }
}

/// The statements of a role's inline policies.
fn statements<'a>(template: &'a Value, role: &str) -> Vec<&'a Mapping> {
    let policies = &template["Resources"][role]["Properties"]["Policies"];
    items(policies)
        .into_iter()
        .flat_map(|policy| items(&policy["PolicyDocument"]["Statement"]))
        .filter_map(Value::as_mapping)
        .collect()
}

fn actions(statements: &[&Mapping], effect: &str) -> BTreeSet<String> {
    statements
        .iter()
        .filter(|s| s.get("Effect").and_then(Value::as_str) == Some(effect))
        .flat_map(|s| s.get("Action").map(items).unwrap_or_default())
        .map(text)
        .collect()
}

fn diff_against_declared(granted: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    let declared: BTreeSet<String> = twinctl::aws::permissions::ci_actions().into_iter().map(str::to_owned).collect();
    let missing = declared.difference(granted).cloned().collect();
    let extra = granted.difference(&declared).cloned().collect();
    (missing, extra)
}

#[test]
fn the_deploy_role_grants_exactly_what_twinctl_declares() {
    let template = template();
    let granted = actions(&statements(&template, "DeployRole"), "Allow");
    let (missing, extra) = diff_against_declared(&granted);
    assert!(
        missing.is_empty() && extra.is_empty(),
        "DeployRole vs twinctl/src/aws/permissions.rs:\n  declared but not granted: {missing:?}\n  granted but not declared: {extra:?}"
    );
}

#[test]
fn the_comparison_names_a_missing_and_an_extra_action() {
    let mut granted: BTreeSet<String> =
        twinctl::aws::permissions::ci_actions().into_iter().map(str::to_owned).collect();
    granted.remove("lambda:PublishVersion");
    granted.insert("iam:CreateRole".to_owned());
    let (missing, extra) = diff_against_declared(&granted);
    assert_eq!(missing, vec!["lambda:PublishVersion".to_owned()]);
    assert_eq!(extra, vec!["iam:CreateRole".to_owned()]);
}

/// IAM actions on roles that the `iam:PermissionsBoundary` condition key governs (IAM's
/// Service Authorization Reference lists the key for exactly these role writes).
const BOUNDED_ROLE_WRITES: [&str; 6] = [
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
];

#[test]
fn the_execution_role_writes_roles_only_with_the_boundary_attached() {
    let template = template();
    let mut bounded = 0;
    for statement in statements(&template, "ExecutionRole") {
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        let writes: Vec<String> = statement
            .get("Action")
            .map(items)
            .unwrap_or_default()
            .into_iter()
            .map(text)
            .filter(|a| BOUNDED_ROLE_WRITES.contains(&a.as_str()))
            .collect();
        if writes.is_empty() {
            continue;
        }
        let boundary = statement
            .get("Condition")
            .and_then(|c| c.get("StringEquals"))
            .and_then(|c| c.get("iam:PermissionsBoundary"))
            .map(text);
        assert_eq!(boundary.as_deref(), Some("!Ref FunctionBoundary"), "{writes:?} without the boundary condition");
        bounded += writes.len();
    }
    assert!(
        bounded >= 2,
        "the execution role must be able to create the function role (found {bounded} bounded writes)"
    );
    let boundary = &template["Resources"]["FunctionBoundary"];
    assert_eq!(boundary["Type"].as_str(), Some("AWS::IAM::ManagedPolicy"));
    let boundary_actions = actions(
        &items(&boundary["Properties"]["PolicyDocument"]["Statement"])
            .into_iter()
            .filter_map(Value::as_mapping)
            .collect::<Vec<_>>(),
        "Allow",
    );
    for forbidden in ["iam:", "sts:", "cloudformation:", "lambda:", "kms:CreateGrant"] {
        assert!(
            !boundary_actions.iter().any(|a| a.starts_with(forbidden)),
            "the boundary lets a created role use {forbidden}*: {boundary_actions:?}"
        );
    }
}

#[test]
fn the_function_role_and_its_boundary_allow_what_twinctl_writes_on_the_functions_behalf() {
    let template = template();
    let boundary = &template["Resources"]["FunctionBoundary"]["Properties"]["PolicyDocument"]["Statement"];
    let boundary: Vec<&Mapping> = items(boundary).into_iter().filter_map(Value::as_mapping).collect();
    let bounded = actions(&boundary, "Allow");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../templates/twin.yaml");
    let twin: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let granted = actions(&statements(&twin, "FunctionRole"), "Allow");
    for action in twinctl::aws::permissions::function_actions() {
        assert!(bounded.contains(action), "the function boundary does not allow {action}");
        assert!(granted.contains(action), "the function role (twin.yaml) does not grant {action}");
    }
}

fn denied_resources(template: &Value, role: &str, action: &str) -> Vec<String> {
    statements(template, role)
        .into_iter()
        .filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Deny"))
        .filter(|s| s.get("Action").map(items).unwrap_or_default().into_iter().any(|a| text(a) == action))
        .flat_map(|s| s.get("Resource").map(items).unwrap_or_default())
        .map(text)
        .collect()
}

#[test]
fn both_ci_roles_are_denied_changing_the_ci_roles_and_the_deploy_role_the_bootstrap_stacks() {
    let template = template();
    for role in ["ExecutionRole", "DeployRole"] {
        for action in ["iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy"] {
            let denied = denied_resources(&template, role, action);
            assert!(
                denied.iter().any(|r| r.contains(":role/${ProjectName}-ci-")),
                "{role}: no explicit Deny of {action} on the CI roles ({denied:?})"
            );
        }
    }
    for action in ["cloudformation:ExecuteChangeSet", "cloudformation:DeleteStack", "cloudformation:UpdateStack"] {
        let denied = denied_resources(&template, "DeployRole", action);
        for stack in [":stack/${BootstrapStackName}/*", ":stack/${ProjectName}-ci-*/*"] {
            assert!(denied.iter().any(|r| r.ends_with(stack)), "DeployRole: {action} on {stack} is not denied");
        }
    }
    let granted = actions(&statements(&template, "DeployRole"), "Allow");
    for never in ["cloudformation:DeleteStack", "s3:DeleteBucket", "s3:DeleteObjectVersion"] {
        assert!(!granted.contains(never), "the CI deploy role may {never}");
    }
}

#[test]
fn pass_role_names_one_role_and_one_service() {
    let template = template();
    for (role, passed, service) in [
        ("DeployRole", "!GetAtt ExecutionRole.Arn", "cloudformation.amazonaws.com"),
        ("ExecutionRole", "role/${TwinStackName}-*", "lambda.amazonaws.com"),
    ] {
        let passes: Vec<&Mapping> = statements(&template, role)
            .into_iter()
            .filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow"))
            .filter(|s| s.get("Action").map(items).unwrap_or_default().into_iter().any(|a| text(a) == "iam:PassRole"))
            .collect();
        assert_eq!(passes.len(), 1, "{role}: one PassRole statement");
        let resources: Vec<String> = items(passes[0].get("Resource").unwrap()).into_iter().map(text).collect();
        assert_eq!(resources.len(), 1, "{role}: PassRole on {resources:?}");
        assert!(resources[0].contains(passed), "{role}: PassRole on {resources:?}, expected {passed}");
        let to =
            passes[0].get("Condition").and_then(|c| c.get("StringEquals")).and_then(|c| c.get("iam:PassedToService"));
        assert_eq!(to.map(text).as_deref(), Some(service), "{role}: PassRole without iam:PassedToService {service}");
    }
}

#[test]
fn the_deploy_role_trusts_one_repository_environment_with_the_sts_audience() {
    let template = template();
    let trust = &template["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Action"].as_str(), Some("sts:AssumeRoleWithWebIdentity"));
    let equals = &trust["Condition"]["StringEquals"];
    assert_eq!(equals["token.actions.githubusercontent.com:aud"].as_str(), Some("sts.amazonaws.com"));
    assert_eq!(
        text(&equals["token.actions.githubusercontent.com:sub"]),
        "!Sub repo:${GitHubRepository}:environment:${EnvironmentName}"
    );
    assert!(trust["Condition"].get("StringLike").is_none(), "no wildcard subject");
}
