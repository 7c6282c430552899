//! Property 5 (least privilege) as a gate on the templates: every IAM statement in
//! templates/*.yaml — role policies, trust policies, bucket and key policies — is parsed
//! (short-form tags like `!Sub` and `!If` included) and checked:
//! - no `*` and no `service:*` (nor any other wildcard) in Action;
//! - no NotAction, NotResource or NotPrincipal;
//! - `Resource: "*"` only on a line carrying `# allow-star: <reason>` (the commented allowlist,
//!   for actions with no resource-level permission and for key policies);
//! - a wildcard inside an ARN only in its resource part, after a fixed prefix, or below one
//!   resource of the template (`${Bucket.Arn}/*`).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde_yaml::Value;

/// Each template, and how many statements it has at least (a blind walker finds fewer).
const TEMPLATES: [(&str, usize); 4] =
    [("twin.yaml", 3), ("twin-data.yaml", 5), ("bootstrap.yaml", 1), ("environment-access.yaml", 10)];
const ALLOW_MARK: &str = "# allow-star:";

fn template_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("templates").join(name)
}

/// The literal text of a policy string: plain, `!Sub "…"`, `!Sub ["…", {…}]` or `{"Fn::Sub": …}`.
fn literal(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Tagged(tagged) if tagged.tag == "!Sub" => match &tagged.value {
            Value::Sequence(parts) => parts.first().and_then(literal),
            other => literal(other),
        },
        Value::Mapping(map) if map.len() == 1 => map.get("Fn::Sub").and_then(|v| match v {
            Value::Sequence(parts) => parts.first().and_then(literal),
            other => literal(other),
        }),
        _ => None,
    }
}

/// The values of a field that may be one item or a list.
fn items(value: &Value) -> Vec<&Value> {
    match value {
        Value::Sequence(list) => list.iter().collect(),
        other => vec![other],
    }
}

#[derive(Debug, Default)]
struct Findings {
    problems: Vec<String>,
    star_resources: usize,
    statements: usize,
}

fn check_statement(statement: &serde_yaml::Mapping, path: &str, findings: &mut Findings) {
    findings.statements += 1;
    for forbidden in ["NotAction", "NotResource", "NotPrincipal"] {
        if statement.contains_key(forbidden) {
            findings.problems.push(format!("{path}: uses {forbidden}"));
        }
    }
    if let Some(actions) = statement.get("Action") {
        for action in items(actions) {
            match literal(action) {
                Some(text) if text.contains('*') => {
                    findings.problems.push(format!("{path}: wildcard action {text:?}"));
                }
                Some(_) => {}
                None => findings.problems.push(format!("{path}: action is not a literal string: {action:?}")),
            }
        }
    }
    if let Some(resources) = statement.get("Resource") {
        let listed = matches!(resources, Value::Sequence(_));
        for resource in items(resources) {
            let Some(text) = literal(resource) else { continue };
            if text == "*" {
                if listed {
                    findings.problems.push(format!("{path}: \"*\" inside a resource list cannot carry its reason"));
                }
                findings.star_resources += 1;
            } else if text.contains('*') && !within_one_resource(&text) {
                let fields: Vec<&str> = text.splitn(6, ':').collect();
                let head_has_star = fields.iter().take(5).any(|f| f.contains('*'));
                let resource_part = fields.get(5).copied().unwrap_or_default();
                if fields.len() < 6 || head_has_star || resource_part.starts_with('*') {
                    findings.problems.push(format!("{path}: wildcard outside an ARN's resource part: {text:?}"));
                }
            }
        }
    }
}

/// `${Bucket.Arn}/…`: a path below one resource of this template (the objects of one bucket).
fn within_one_resource(text: &str) -> bool {
    text.strip_prefix("${")
        .and_then(|rest| rest.split_once('}'))
        .is_some_and(|(reference, rest)| reference.ends_with(".Arn") && rest.starts_with('/'))
}

fn walk(value: &Value, path: &str, findings: &mut Findings) {
    match value {
        Value::Mapping(map) => {
            let is_statement =
                map.contains_key("Effect") && (map.contains_key("Action") || map.contains_key("NotAction"));
            if is_statement {
                check_statement(map, path, findings);
            }
            for (key, child) in map {
                let key = key.as_str().unwrap_or("?");
                walk(child, &format!("{path}.{key}"), findings);
            }
        }
        Value::Sequence(list) => {
            for (index, child) in list.iter().enumerate() {
                walk(child, &format!("{path}[{index}]"), findings);
            }
        }
        Value::Tagged(tagged) => walk(&tagged.value, path, findings),
        _ => {}
    }
}

/// Lines of the raw text with a single-value `Resource: "*"`, and whether each has a reason.
fn star_lines(text: &str) -> Vec<(usize, bool)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = line.split('#').next().unwrap_or_default().trim();
            matches!(code, "Resource: \"*\"" | "Resource: '*'" | "Resource: *")
        })
        .map(|(number, line)| {
            let reason = line.split_once(ALLOW_MARK).map(|(_, r)| r.trim()).unwrap_or_default();
            (number + 1, !reason.is_empty())
        })
        .collect()
}

fn audit(name: &str, text: &str) -> Findings {
    let document: Value = serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
    let mut findings = Findings::default();
    walk(&document, name, &mut findings);
    let lines = star_lines(text);
    for (line, has_reason) in &lines {
        if !has_reason {
            findings.problems.push(format!("{name}:{line}: Resource \"*\" without `{ALLOW_MARK} <reason>`"));
        }
    }
    if lines.len() != findings.star_resources {
        findings.problems.push(format!(
            "{name}: {} \"*\" resources parsed but {} allowlisted lines found",
            findings.star_resources,
            lines.len()
        ));
    }
    findings
}

#[test]
fn every_iam_statement_in_the_templates_is_least_privilege() {
    let mut problems = Vec::new();
    for (name, at_least) in TEMPLATES {
        let text = std::fs::read_to_string(template_path(name)).unwrap();
        let findings = audit(name, &text);
        assert!(
            findings.statements >= at_least,
            "{name}: only {} statements found; is the walker blind?",
            findings.statements
        );
        problems.extend(findings.problems);
    }
    assert!(problems.is_empty(), "least-privilege violations:\n  {}", problems.join("\n  "));
}

#[test]
fn the_audit_catches_each_kind_of_violation() {
    let bad = r#"
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyDocument:
            Statement:
              - Effect: Allow
                Action: "s3:*"
                Resource: !Sub "arn:${AWS::Partition}:s3:::bucket/*"
              - Effect: Allow
                Action: [logs:PutLogEvents, "*"]
                Resource: "*"
              - Effect: Allow
                NotAction: iam:CreateUser
                Resource: "*" # allow-star: not a real reason to pass, NotAction still fails
              - !If
                - Cond
                - Effect: Allow
                  Action: s3:GetObject
                  NotResource: !Sub "arn:aws:s3:::x/*"
                - !Ref AWS::NoValue
              - Effect: Allow
                Action: s3:GetObject
                Resource: "arn:aws:s3:*:*:thing"
              - Effect: Allow
                Action: s3:GetObject
                Resource: ["arn:aws:s3:::ok/key", "*"]
"#;
    let findings = audit("bad.yaml", bad);
    let text = findings.problems.join("\n");
    for expected in [
        "wildcard action \"s3:*\"",
        "wildcard action \"*\"",
        "Resource \"*\" without",
        "uses NotAction",
        "uses NotResource",
        "wildcard outside an ARN's resource part",
        "inside a resource list",
    ] {
        assert!(text.contains(expected), "expected {expected:?} among:\n{text}");
    }
    assert_eq!(findings.statements, 6);

    let good = r#"
Statement:
  - Effect: Allow
    Action: kms:CreateKey
    Resource: "*" # allow-star: kms:CreateKey has no resource-level permission
  - Effect: Allow
    Action: [s3:GetObject, s3:PutObject]
    Resource: !Sub "${Bucket.Arn}/sessions/*"
"#;
    let findings = audit("good.yaml", good);
    assert!(findings.problems.is_empty(), "{:?}", findings.problems);
}
