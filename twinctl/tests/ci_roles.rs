//! The CI roles of `templates/environment-access.yaml`, checked statically (no emulator), in both
//! kinds of access stack: an environment's and the previews' (the template's `Previews`
//! condition, evaluated here where a statement is wrapped in `!If [Previews, A, B]`):
//! - the deploy role grants exactly the IAM actions twinctl declares: its CI commands'
//!   (`twinctl::aws::permissions::ci_actions`) in an environment's stack, those and
//!   `destroy --delete-data`'s (`preview_actions`) in the previews' — a missing and an extra
//!   action both fail, by name;
//! - escalation guards: the execution role creates or changes roles only with the permissions
//!   boundary attached; both roles carry an explicit Deny on the CI roles themselves and (the
//!   deploy role) on the bootstrap stacks; `iam:PassRole` names one role and one service; only the
//!   previews' deploy role may delete a memory bucket.
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

/// A value as CloudFormation resolves it in the previews' access stack (`previews`) or in an
/// environment's: `!If [Previews, A, B]` (or `Fn::If`) is A or B; `!Ref AWS::NoValue` is left out.
/// Any other condition fails the test: only `Previews` is known here.
fn resolve(value: &Value, previews: bool) -> Option<&Value> {
    let branches = match value {
        Value::Tagged(tagged) if tagged.tag == "If" => Some(&tagged.value),
        Value::Mapping(map) if map.len() == 1 => map.get("Fn::If"),
        _ => None,
    };
    if let Some(branches) = branches {
        let branches = branches.as_sequence().unwrap();
        assert_eq!(branches.len(), 3, "an If takes [condition, then, else]: {value:?}");
        assert_eq!(branches[0].as_str(), Some("Previews"), "only the Previews condition is evaluated: {value:?}");
        return resolve(&branches[if previews { 1 } else { 2 }], previews);
    }
    let no_value = match value {
        Value::Tagged(tagged) => tagged.tag == "Ref" && tagged.value.as_str() == Some("AWS::NoValue"),
        Value::Mapping(map) => map.len() == 1 && map.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue"),
        _ => false,
    };
    (!no_value).then_some(value)
}

/// The statements of a role's inline policies, in the previews' access stack or an environment's.
fn statements<'a>(template: &'a Value, role: &str, previews: bool) -> Vec<&'a Mapping> {
    let policies = &template["Resources"][role]["Properties"]["Policies"];
    items(policies)
        .into_iter()
        .filter_map(|policy| resolve(policy, previews))
        .flat_map(|policy| items(&policy["PolicyDocument"]["Statement"]))
        .filter_map(|statement| resolve(statement, previews))
        .filter_map(Value::as_mapping)
        .collect()
}

/// Both kinds of access stack: an environment's, the previews'.
const MODES: [(bool, &str); 2] = [(false, "an environment's access stack"), (true, "the previews' access stack")];

fn actions(statements: &[&Mapping], effect: &str) -> BTreeSet<String> {
    statements
        .iter()
        .filter(|s| s.get("Effect").and_then(Value::as_str) == Some(effect))
        .flat_map(|s| s.get("Action").map(items).unwrap_or_default())
        .map(text)
        .collect()
}

/// What twinctl declares for the deploy role: `ci_actions()`, or `preview_actions()` for the
/// previews' (which also destroys).
fn declared(previews: bool) -> BTreeSet<String> {
    let actions =
        if previews { twinctl::aws::permissions::preview_actions() } else { twinctl::aws::permissions::ci_actions() };
    actions.into_iter().map(str::to_owned).collect()
}

fn diff_against_declared(granted: &BTreeSet<String>, previews: bool) -> (Vec<String>, Vec<String>) {
    let declared = declared(previews);
    let missing = declared.difference(granted).cloned().collect();
    let extra = granted.difference(&declared).cloned().collect();
    (missing, extra)
}

#[test]
fn the_deploy_role_grants_exactly_what_twinctl_declares() {
    let template = template();
    let mut failures = Vec::new();
    for (previews, stack) in MODES {
        let granted = actions(&statements(&template, "DeployRole", previews), "Allow");
        let (missing, extra) = diff_against_declared(&granted, previews);
        if !missing.is_empty() || !extra.is_empty() {
            let list = if previews { "preview_actions()" } else { "ci_actions()" };
            failures.push(format!(
                "DeployRole in {stack} vs twinctl/src/aws/permissions.rs {list}:\n  declared but not granted: \
                 {missing:?}\n  granted but not declared: {extra:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_comparison_names_a_missing_and_an_extra_action() {
    for (previews, removed) in [(false, "lambda:PublishVersion"), (true, "s3:DeleteBucket")] {
        let mut granted = declared(previews);
        granted.remove(removed);
        granted.insert("iam:CreateRole".to_owned());
        let (missing, extra) = diff_against_declared(&granted, previews);
        assert_eq!(missing, vec![removed.to_owned()]);
        assert_eq!(extra, vec!["iam:CreateRole".to_owned()]);
    }
    let (missing, extra) = diff_against_declared(&declared(true), false);
    assert!(missing.is_empty() && extra.iter().any(|action| action == "s3:DeleteBucket"), "{extra:?}");
}

#[test]
fn previews_conditions_resolve_per_access_stack() {
    let policy: Value = serde_yaml::from_str(
        "Statement:\n\
         - {Sid: Always, Effect: Allow}\n\
         - !If [Previews, {Sid: PreviewsOnly, Effect: Allow}, !Ref AWS::NoValue]\n\
         - !If [Previews, !Ref AWS::NoValue, {Sid: OthersOnly, Effect: Deny}]\n\
         - {\"Fn::If\": [Previews, {Sid: LongForm, Effect: Allow}, {\"Ref\": \"AWS::NoValue\"}]}\n",
    )
    .unwrap();
    let sids = |previews: bool| -> Vec<String> {
        items(&policy["Statement"])
            .into_iter()
            .filter_map(|statement| resolve(statement, previews))
            .map(|statement| text(&statement["Sid"]))
            .collect()
    };
    assert_eq!(sids(false), ["Always", "OthersOnly"]);
    assert_eq!(sids(true), ["Always", "PreviewsOnly", "LongForm"]);
}

/// IAM actions on roles that the `iam:PermissionsBoundary` condition key governs (IAM's
/// Service Authorization Reference lists the key for exactly these role writes): the list `verify`'s
/// execution-role step holds the live role to.
use twinctl::testplan::kinds::iam::BOUNDED_ROLE_WRITES;

#[test]
fn the_execution_role_writes_roles_only_with_the_boundary_attached() {
    let template = template();
    let mut bounded = 0;
    for statement in MODES.iter().flat_map(|&(previews, _)| statements(&template, "ExecutionRole", previews)) {
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
    // The function role's conditional statements (the model's grants) are not what this checks:
    // only its unconditional ones count.
    let policies = &twin["Resources"]["FunctionRole"]["Properties"]["Policies"];
    let unconditional: Vec<&Mapping> = items(policies)
        .into_iter()
        .flat_map(|policy| items(&policy["PolicyDocument"]["Statement"]))
        .filter_map(Value::as_mapping)
        .collect();
    let granted = actions(&unconditional, "Allow");
    for action in twinctl::aws::permissions::function_actions() {
        assert!(bounded.contains(action), "the function boundary does not allow {action}");
        assert!(granted.contains(action), "the function role (twin.yaml) does not grant {action}");
    }
}

fn denied_resources(template: &Value, role: &str, action: &str, previews: bool) -> Vec<String> {
    statements(template, role, previews)
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
    for (previews, stack_kind) in MODES {
        for role in ["ExecutionRole", "DeployRole"] {
            for action in ["iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy"] {
                let denied = denied_resources(&template, role, action, previews);
                assert!(
                    denied.iter().any(|r| r.contains(":role/${ProjectName}-ci-")),
                    "{role} in {stack_kind}: no explicit Deny of {action} on the CI roles ({denied:?})"
                );
            }
        }
        for action in ["cloudformation:ExecuteChangeSet", "cloudformation:DeleteStack", "cloudformation:UpdateStack"] {
            let denied = denied_resources(&template, "DeployRole", action, previews);
            for stack in [":stack/${BootstrapStackName}/*", ":stack/${ProjectName}-ci-*/*"] {
                assert!(
                    denied.iter().any(|r| r.ends_with(stack)),
                    "DeployRole in {stack_kind}: {action} on {stack} is not denied"
                );
            }
        }
        // Only a preview's destroy --delete-data deletes a memory bucket.
        let memory_denied = denied_resources(&template, "DeployRole", "s3:DeleteBucket", previews)
            .iter()
            .any(|r| r.contains("-data-memorybucket-"));
        assert_eq!(memory_denied, !previews, "DeployRole in {stack_kind}: Deny of deleting the memory bucket");
    }
    let granted = actions(&statements(&template, "DeployRole", false), "Allow");
    for never in ["cloudformation:DeleteStack", "s3:DeleteBucket", "s3:DeleteObjectVersion"] {
        assert!(!granted.contains(never), "the CI deploy role may {never}");
    }
}

#[test]
fn pass_role_names_one_role_and_one_service() {
    let template = template();
    for ((role, passed, service), (previews, _)) in [
        ("DeployRole", "!GetAtt ExecutionRole.Arn", "cloudformation.amazonaws.com"),
        ("ExecutionRole", "role/${TwinStackName}-*", "lambda.amazonaws.com"),
    ]
    .into_iter()
    .flat_map(|role| MODES.map(|mode| (role, mode)))
    {
        let passes: Vec<&Mapping> = statements(&template, role, previews)
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
    assert!(equals.get("token.actions.githubusercontent.com:sub").is_none());
    // StringLike, so that the previews' role trusts every `pr-<n>` GitHub environment; for one
    // environment the value holds no wildcard and matches exactly one subject.
    let like = &trust["Condition"]["StringLike"];
    assert_eq!(
        text(&like["token.actions.githubusercontent.com:sub"]),
        "!Sub repo:${GitHubRepository}:environment:${Environments}"
    );
    let pattern = template["Parameters"]["Environments"]["AllowedPattern"].as_str().unwrap();
    let pattern = regex_lite_match(pattern);
    for (value, allowed) in
        [("staging", true), ("pr-*", true), ("*", false), ("pr*", false), ("st*ng", false), ("?", false)]
    {
        assert_eq!(pattern(value), allowed, "Environments {value:?}");
    }
}

/// The parameter's AllowedPattern, as a matcher (CloudFormation's patterns are Java regexes; the
/// ones here are plain enough for the regex crate).
fn regex_lite_match(pattern: &str) -> impl Fn(&str) -> bool {
    let regex = regex::Regex::new(pattern).unwrap();
    move |value| regex.find(value).is_some_and(|m| m.start() == 0 && m.end() == value.len())
}
