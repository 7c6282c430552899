//! What a template change does to access: the IAM grants a deploy would add and take away,
//! read from every policy statement of both templates (role and managed policies, trust
//! policies, bucket, key and resource policies) — CDK's "security-relevant changes" for our
//! stacks.
//!
//! Each statement is broken into grants, one per action and resource (or principal), with its
//! condition: `FunctionRole: Allow s3:GetObject on ${MemoryBucket.Arn}/sessions/* if {…}`. A
//! grant the new template adds, or a Deny it drops, broadens access; the reverse narrows it. A
//! changed condition counts as both (a grant under the old condition goes, one under the new
//! comes), which errs on the side of asking.
//! Must not: call AWS; it compares texts.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_yaml::Value;

/// The grants a template change adds and removes (sorted, one line each).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct IamChanges {
    /// Allows added and Denys removed: access widens.
    pub broadened: Vec<String>,
    /// Allows removed and Denys added.
    pub narrowed: Vec<String>,
}

impl IamChanges {
    pub fn broadens(&self) -> bool {
        !self.broadened.is_empty()
    }
}

/// Compares the template a stack runs (`None` before the first deploy) with the new one.
pub fn compare(old: Option<&str>, new: &str) -> Result<IamChanges, String> {
    let parse =
        |text: &str| serde_yaml::from_str::<Value>(text).map_err(|e| format!("the template does not parse: {e}"));
    let before = match old {
        Some(text) => grants(&parse(text)?),
        None => BTreeSet::new(),
    };
    let after = grants(&parse(new)?);
    let mut changes = IamChanges::default();
    for (effect, grant) in after.difference(&before) {
        let list = if effect == "Deny" { &mut changes.narrowed } else { &mut changes.broadened };
        list.push(grant.clone());
    }
    for (effect, grant) in before.difference(&after) {
        let list = if effect == "Deny" { &mut changes.broadened } else { &mut changes.narrowed };
        list.push(format!("{grant} (removed)"));
    }
    Ok(changes)
}

/// Every grant of every statement in the template's resources, with its effect.
fn grants(template: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    if let Some(resources) = template.get("Resources").and_then(Value::as_mapping) {
        for (logical_id, resource) in resources {
            let logical_id = logical_id.as_str().unwrap_or("?");
            walk(resource.get("Properties").unwrap_or(&Value::Null), logical_id, &mut found);
        }
    }
    found
}

fn walk(value: &Value, logical_id: &str, found: &mut BTreeSet<(String, String)>) {
    match value {
        Value::Mapping(map) => {
            let is_statement =
                map.contains_key("Effect") && (map.contains_key("Action") || map.contains_key("NotAction"));
            if is_statement {
                statement(map, logical_id, found);
                return;
            }
            for child in map.values() {
                walk(child, logical_id, found);
            }
        }
        Value::Sequence(list) => list.iter().for_each(|child| walk(child, logical_id, found)),
        Value::Tagged(tagged) => walk(&tagged.value, logical_id, found),
        _ => {}
    }
}

fn statement(map: &serde_yaml::Mapping, logical_id: &str, found: &mut BTreeSet<(String, String)>) {
    let effect = map.get("Effect").map(render).unwrap_or_default();
    let field = |names: [&str; 2]| -> Vec<String> {
        names
            .iter()
            .filter_map(|name| map.get(*name).map(|value| (name, value)))
            .flat_map(|(name, value)| {
                let prefix = if name.starts_with("Not") { "NOT " } else { "" };
                items(value).into_iter().map(move |item| format!("{prefix}{}", render(item)))
            })
            .collect()
    };
    let actions = field(["Action", "NotAction"]);
    let mut targets: Vec<String> =
        field(["Resource", "NotResource"]).into_iter().map(|resource| format!("on {resource}")).collect();
    targets.extend(field(["Principal", "NotPrincipal"]).into_iter().map(|principal| format!("to {principal}")));
    if targets.is_empty() {
        targets.push(String::new());
    }
    let condition = map.get("Condition").map(|c| format!(" if {}", render(c))).unwrap_or_default();
    for action in &actions {
        for target in &targets {
            let grant = format!("{logical_id}: {effect} {action} {target}{condition}");
            found.insert((effect.clone(), grant.trim_end().to_owned()));
        }
    }
}

fn items(value: &Value) -> Vec<&Value> {
    match value {
        Value::Sequence(list) => list.iter().collect(),
        other => vec![other],
    }
}

/// A compact, stable text of a policy value; intrinsic functions as `${…}` where they name
/// something, so `!GetAtt Role.Arn` and `{"Fn::GetAtt": ["Role", "Arn"]}` read alike.
fn render(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => "null".to_owned(),
        Value::Sequence(list) => format!("[{}]", list.iter().map(render).collect::<Vec<_>>().join(", ")),
        Value::Tagged(tagged) => intrinsic(tagged.tag.to_string().trim_start_matches('!'), &tagged.value),
        Value::Mapping(map) => {
            if let (1, Some((Value::String(key), inner))) = (map.len(), map.iter().next())
                && (key == "Ref" || key.starts_with("Fn::"))
            {
                return intrinsic(key.trim_start_matches("Fn::"), inner);
            }
            let fields: Vec<String> = map.iter().map(|(k, v)| format!("{}: {}", render(k), render(v))).collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

fn intrinsic(name: &str, argument: &Value) -> String {
    match (name, argument) {
        ("Ref", Value::String(target)) => format!("${{{target}}}"),
        ("GetAtt", Value::String(target)) => format!("${{{target}}}"),
        ("GetAtt", Value::Sequence(parts)) => {
            format!("${{{}}}", parts.iter().map(render).collect::<Vec<_>>().join("."))
        }
        ("Sub", Value::String(text)) => text.clone(),
        ("Sub", Value::Sequence(parts)) => parts.first().map(render).unwrap_or_default(),
        (other, argument) => format!("{other}({})", render(argument)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"
Resources:
  FunctionRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: [s3:GetObject, s3:PutObject]
                Resource: !Sub "${MemoryBucket.Arn}/sessions/*"
              - Effect: Deny
                Action: s3:DeleteObject
                Resource: !GetAtt MemoryBucket.Arn
  Topic:
    Type: AWS::SNS::Topic
    Properties: {TopicName: t}
"#;

    #[test]
    fn an_unchanged_template_changes_nothing_and_a_first_deploy_adds_every_grant() {
        assert_eq!(compare(Some(BEFORE), BEFORE).unwrap(), IamChanges::default());
        let first = compare(None, BEFORE).unwrap();
        assert_eq!(first.broadened.len(), 3, "{first:?}");
        assert_eq!(first.narrowed, vec!["FunctionRole: Deny s3:DeleteObject on ${MemoryBucket.Arn}".to_owned()]);
    }

    #[test]
    fn a_wider_resource_an_added_action_and_a_dropped_deny_broaden() {
        let after = BEFORE
            .replace("${MemoryBucket.Arn}/sessions/*", "${MemoryBucket.Arn}/*")
            .replace("[s3:GetObject, s3:PutObject]", "[s3:GetObject, s3:PutObject, s3:DeleteObject]")
            .replace("Effect: Deny", "Effect: Allow");
        let changes = compare(Some(BEFORE), &after).unwrap();
        assert!(changes.broadens());
        for expected in [
            "FunctionRole: Allow s3:DeleteObject on ${MemoryBucket.Arn}/*",
            "FunctionRole: Allow s3:GetObject on ${MemoryBucket.Arn}/*",
            "FunctionRole: Deny s3:DeleteObject on ${MemoryBucket.Arn} (removed)",
        ] {
            assert!(changes.broadened.iter().any(|g| g == expected), "{expected} not in {:?}", changes.broadened);
        }
        assert!(changes.narrowed.iter().any(|g| g.ends_with("/sessions/* (removed)")), "{changes:?}");
    }

    #[test]
    fn a_removed_grant_only_narrows_and_a_new_principal_broadens() {
        let narrower = BEFORE.replace("[s3:GetObject, s3:PutObject]", "[s3:GetObject]");
        let changes = compare(Some(BEFORE), &narrower).unwrap();
        assert!(!changes.broadens(), "{changes:?}");
        assert_eq!(changes.narrowed.len(), 1);
        let trusted = BEFORE.replace("{Service: lambda.amazonaws.com}", "{AWS: \"*\"}");
        let changes = compare(Some(BEFORE), &trusted).unwrap();
        assert_eq!(changes.broadened, vec!["FunctionRole: Allow sts:AssumeRole to {AWS: *}".to_owned()]);
    }

    #[test]
    fn json_and_yaml_forms_of_an_intrinsic_read_alike() {
        let json = r#"{"Resources": {"R": {"Properties": {"PolicyDocument": {"Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": {"Fn::GetAtt": ["B", "Arn"]}}]}}}}}"#;
        let yaml = "Resources:\n  R:\n    Properties:\n      PolicyDocument:\n        Statement:\n          - Effect: Allow\n            Action: s3:GetObject\n            Resource: !GetAtt B.Arn\n";
        assert_eq!(compare(Some(json), yaml).unwrap(), IamChanges::default());
    }
}
