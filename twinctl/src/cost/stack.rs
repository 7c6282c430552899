//! What an environment's stack would hold, read from its template with the environment's
//! parameters applied — the things that bill whatever the traffic (KMS keys, secrets, alarms and the
//! metrics each is billed for, dashboards, web ACLs and their rules), the log groups' retention, and
//! the function's memory and architecture.
//!
//! Owns: resolving the template's parameters (each one's `Default`, then the values given, checked
//! against `AllowedValues`/`MinValue`/`MaxValue`), evaluating `Conditions` (`Fn::Equals`, `Fn::Not`,
//! `Fn::And`, `Fn::Or`, `Condition`) so a conditional resource counts only when created, and `Ref` /
//! `Fn::If` where a priced property needs them; the template's `Rules` that would refuse the
//! parameters become warnings. Both the short (`!Equals`) and the long (`Fn::Equals:`) forms are read.
//! Must not: call AWS or price anything. What it cannot evaluate is an error naming it, never a guess.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use crate::error::{Error, Result};

/// Reading stops here: a template whose conditions nest deeper is broken, not large.
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    pub keys: Vec<Key>,
    /// Logical ids of the `AWS::SecretsManager::Secret`s.
    pub secrets: Vec<String>,
    pub alarms: Vec<Alarm>,
    /// Logical ids of the `AWS::CloudWatch::Dashboard`s.
    pub dashboards: Vec<String>,
    pub web_acls: Vec<WebAcl>,
    pub log_groups: Vec<LogGroup>,
    pub function: Function,
    /// Every parameter's value as the stack would get it.
    pub parameters: BTreeMap<String, String>,
    /// The template's `Rules` assertions these parameters fail: a deploy would be refused.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub logical_id: String,
    /// `EnableKeyRotation`: each of the first rotations adds a backing key, billed monthly.
    pub rotation: bool,
}

/// A metric alarm and the alarm metrics it is billed for: the one metric it watches, or, for a
/// metric-math alarm, each metric its expression reads (a `MetricStat` entry of `Metrics`).
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub logical_id: String,
    pub metrics: u32,
    pub metric_math: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebAcl {
    pub logical_id: String,
    /// Entries of `Rules` (a managed rule group is one rule).
    pub rules: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogGroup {
    pub logical_id: String,
    /// None: the group never expires its events.
    pub retention_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub logical_id: String,
    pub memory_mb: u32,
    /// `arm64` or `x86_64`.
    pub architecture: String,
}

/// Reads `templates` (an environment's stacks: the app and its data) as stacks of `region`
/// created with `given` parameters (each template takes those it declares; unknown names are
/// left to the deploy to refuse), as one.
pub fn read(templates: &[&str], given: &BTreeMap<String, String>, region: &str) -> Result<Stack> {
    let mut all = Collected::default();
    for template in templates {
        read_one(template, given, region, &mut all)?;
    }
    let Collected { keys, secrets, alarms, dashboards, web_acls, log_groups, function, parameters, warnings } = all;
    let function = function.ok_or_else(|| Error::user("the stack template has no AWS::Lambda::Function"))?;
    Ok(Stack { keys, secrets, alarms, dashboards, web_acls, log_groups, function, parameters, warnings })
}

#[derive(Default)]
struct Collected {
    keys: Vec<Key>,
    secrets: Vec<String>,
    alarms: Vec<Alarm>,
    dashboards: Vec<String>,
    web_acls: Vec<WebAcl>,
    log_groups: Vec<LogGroup>,
    function: Option<Function>,
    parameters: BTreeMap<String, String>,
    warnings: Vec<String>,
}

fn read_one(template: &str, given: &BTreeMap<String, String>, region: &str, all: &mut Collected) -> Result<()> {
    let document: Value =
        serde_yaml::from_str(template).map_err(|e| Error::user(format!("the stack template is not YAML: {e}")))?;
    let parameters = parameters(&document, given)?;
    let conditions = document.get("Conditions").and_then(Value::as_mapping).cloned().unwrap_or_default();
    let scope = Scope { parameters: &parameters, conditions: &conditions, region };
    let resources = document.get("Resources").and_then(Value::as_mapping).cloned().unwrap_or_default();

    let Collected { keys, secrets, alarms, dashboards, web_acls, log_groups, function, .. } = all;
    for (logical_id, resource) in &resources {
        let Some(logical_id) = logical_id.as_str() else { continue };
        if let Some(condition) = resource.get("Condition").and_then(Value::as_str)
            && !scope.named_condition(condition, 0)?
        {
            continue;
        }
        let empty = Value::Mapping(Mapping::new());
        let properties = resource.get("Properties").unwrap_or(&empty);
        let id = logical_id.to_owned();
        match resource.get("Type").and_then(Value::as_str).unwrap_or_default() {
            "AWS::KMS::Key" => {
                let rotation = match properties.get("EnableKeyRotation") {
                    Some(value) => scope.scalar(value, 0)? == "true",
                    None => false,
                };
                keys.push(Key { logical_id: id, rotation });
            }
            "AWS::SecretsManager::Secret" => secrets.push(id),
            "AWS::CloudWatch::Alarm" => {
                let (metrics, metric_math) = match properties.get("Metrics").and_then(Value::as_sequence) {
                    Some(queries) => {
                        let read = queries.iter().filter(|query| query.get("MetricStat").is_some()).count();
                        (u32::try_from(read.max(1)).unwrap_or(u32::MAX), true)
                    }
                    None => (1, false),
                };
                alarms.push(Alarm { logical_id: id, metrics, metric_math });
            }
            "AWS::CloudWatch::Dashboard" => dashboards.push(id),
            "AWS::WAFv2::WebACL" => {
                let rules = properties.get("Rules").and_then(Value::as_sequence).map(Vec::len).unwrap_or(0);
                web_acls.push(WebAcl { logical_id: id, rules: u32::try_from(rules).unwrap_or(u32::MAX) });
            }
            "AWS::Logs::LogGroup" => {
                let retention_days = match properties.get("RetentionInDays") {
                    Some(value) => Some(scope.whole_number(value, &format!("{logical_id}.RetentionInDays"))?),
                    None => None,
                };
                log_groups.push(LogGroup { logical_id: id, retention_days });
            }
            "AWS::Lambda::Function" if function.is_none() => {
                // Lambda's defaults when the template leaves them out.
                let memory_mb = match properties.get("MemorySize") {
                    Some(value) => scope.whole_number(value, &format!("{logical_id}.MemorySize"))?,
                    None => 128,
                };
                let architecture = match properties.get("Architectures").and_then(Value::as_sequence) {
                    Some(list) if !list.is_empty() => scope.scalar(&list[0], 0)?,
                    _ => "x86_64".to_owned(),
                };
                *function = Some(Function { logical_id: id, memory_mb, architecture });
            }
            _ => {}
        }
    }
    all.warnings.extend(failed_rules(&document, &scope));
    all.parameters.extend(parameters);
    Ok(())
}

/// Each declared parameter's value: the given one, else its `Default`; a given value outside what
/// the template allows is an error (the deploy would be refused).
fn parameters(document: &Value, given: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    let Some(declared) = document.get("Parameters").and_then(Value::as_mapping) else { return Ok(values) };
    for (name, declaration) in declared {
        let Some(name) = name.as_str() else { continue };
        let value = match given.get(name) {
            Some(value) => value.clone(),
            None => match declaration.get("Default").and_then(plain) {
                Some(value) => value,
                None => continue,
            },
        };
        if let Some(allowed) = declaration.get("AllowedValues").and_then(Value::as_sequence) {
            let allowed: Vec<String> = allowed.iter().filter_map(plain).collect();
            if !allowed.contains(&value) {
                return Err(Error::user(format!(
                    "parameter {name} is {value:?}; the template allows {}",
                    allowed.join(", ")
                )));
            }
        }
        let number = value.parse::<f64>().ok();
        for (bound, below) in [("MinValue", true), ("MaxValue", false)] {
            let Some(limit) = declaration.get(bound).and_then(plain).and_then(|l| l.parse::<f64>().ok()) else {
                continue;
            };
            let outside = match number {
                Some(n) if below => n < limit,
                Some(n) => n > limit,
                None => true,
            };
            if outside {
                return Err(Error::user(format!("parameter {name} is {value:?}; the template's {bound} is {limit}")));
            }
        }
        values.insert(name.to_owned(), value);
    }
    Ok(values)
}

/// A plain scalar as CloudFormation passes it: a string.
fn plain(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// The intrinsic function a value is, in either form: `!Equals [a, b]` or `{Fn::Equals: [a, b]}`
/// (`Ref` and `Condition` have no `Fn::`).
fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => Some((tagged.tag.to_string().trim_start_matches('!').to_owned(), &tagged.value)),
        Value::Mapping(map) if map.len() == 1 => {
            let (key, argument) = map.iter().next()?;
            let key = key.as_str()?;
            if key == "Ref" || key == "Condition" {
                Some((key.to_owned(), argument))
            } else {
                key.strip_prefix("Fn::").map(|name| (name.to_owned(), argument))
            }
        }
        _ => None,
    }
}

struct Scope<'a> {
    parameters: &'a BTreeMap<String, String>,
    conditions: &'a Mapping,
    region: &'a str,
}

impl Scope<'_> {
    fn named_condition(&self, name: &str, depth: usize) -> Result<bool> {
        let definition = self.conditions.get(name).ok_or_else(|| {
            Error::user(format!("the stack template uses condition {name}, which it does not define"))
        })?;
        self.condition(definition, depth + 1)
            .map_err(|e| Error::user(format!("cannot evaluate the template's condition {name}: {e}")))
    }

    fn condition(&self, value: &Value, depth: usize) -> Result<bool> {
        if depth > MAX_DEPTH {
            return Err(Error::user("conditions nest too deeply"));
        }
        let Some((function, argument)) = intrinsic(value) else {
            return match value {
                Value::Bool(flag) => Ok(*flag),
                Value::String(text) if text == "true" || text == "false" => Ok(text == "true"),
                other => Err(Error::user(format!("{} is not a condition", short(other)))),
            };
        };
        let list = || argument.as_sequence().map(Vec::as_slice).unwrap_or_default();
        match function.as_str() {
            "Equals" => match list() {
                [a, b] => Ok(self.scalar(a, depth + 1)? == self.scalar(b, depth + 1)?),
                _ => Err(Error::user("Fn::Equals takes two values")),
            },
            "Not" => match list() {
                [inner] => Ok(!self.condition(inner, depth + 1)?),
                _ => Err(Error::user("Fn::Not takes one condition")),
            },
            "And" => {
                for inner in list() {
                    if !self.condition(inner, depth + 1)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            "Or" => {
                for inner in list() {
                    if self.condition(inner, depth + 1)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            "Condition" => match argument.as_str() {
                Some(name) => self.named_condition(name, depth + 1),
                None => Err(Error::user("Condition takes a condition's name")),
            },
            other => Err(Error::user(format!("Fn::{other} is not evaluated here"))),
        }
    }

    /// A value as a string: a literal, a parameter (`Ref`), the region (`AWS::Region`) or the
    /// branch an `Fn::If` takes.
    fn scalar(&self, value: &Value, depth: usize) -> Result<String> {
        if depth > MAX_DEPTH {
            return Err(Error::user("values nest too deeply"));
        }
        if let Some(text) = plain(value) {
            return Ok(text);
        }
        match intrinsic(value) {
            Some((function, argument)) if function == "Ref" => {
                let name = argument.as_str().unwrap_or_default();
                if name == "AWS::Region" {
                    return Ok(self.region.to_owned());
                }
                self.parameters.get(name).cloned().ok_or_else(|| {
                    Error::user(format!("Ref {name} has no value (not a parameter with a value or a default)"))
                })
            }
            Some((function, argument)) if function == "If" => {
                match argument.as_sequence().map(Vec::as_slice).unwrap_or_default() {
                    [Value::String(condition), then, otherwise] => {
                        let branch = if self.named_condition(condition, depth + 1)? { then } else { otherwise };
                        self.scalar(branch, depth + 1)
                    }
                    _ => Err(Error::user("Fn::If takes a condition's name and two values")),
                }
            }
            _ => Err(Error::user(format!("{} is not evaluated here", short(value)))),
        }
    }

    /// A property that must come out as a whole number (memory, retention).
    fn whole_number(&self, value: &Value, what: &str) -> Result<u32> {
        let text = self.scalar(value, 0).map_err(|e| Error::user(format!("cannot evaluate {what}: {e}")))?;
        text.trim().parse::<u32>().map_err(|_| Error::user(format!("{what} is {text:?}, not a whole number")))
    }
}

/// The assertions of the template's `Rules` that these parameters fail, as CloudFormation would
/// say them. A rule this reader cannot evaluate is left to CloudFormation.
fn failed_rules(document: &Value, scope: &Scope<'_>) -> Vec<String> {
    let mut failed = Vec::new();
    let Some(rules) = document.get("Rules").and_then(Value::as_mapping) else { return failed };
    for (name, rule) in rules {
        let name = name.as_str().unwrap_or("?");
        let applies = match rule.get("RuleCondition") {
            Some(condition) => scope.condition(condition, 0).ok(),
            None => Some(true),
        };
        if applies != Some(true) {
            continue;
        }
        for assertion in rule.get("Assertions").and_then(Value::as_sequence).map(Vec::as_slice).unwrap_or_default() {
            let Some(assert) = assertion.get("Assert") else { continue };
            if scope.condition(assert, 0).ok() == Some(false) {
                let description = assertion.get("AssertDescription").and_then(Value::as_str).unwrap_or("");
                failed.push(format!("the template's rule {name} would refuse this deploy: {description}"));
            }
        }
    }
    failed
}

/// A short rendering of a value for an error message.
fn short(value: &Value) -> String {
    let text = serde_yaml::to_string(value).unwrap_or_default();
    let text = text.trim().replace('\n', " ");
    if text.chars().count() > 60 { format!("{}…", text.chars().take(60).collect::<String>()) } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  EnableWaf: {Type: String, Default: "false", AllowedValues: ["true", "false"]}
  Memory: {Type: Number, Default: 256, MinValue: 128, MaxValue: 10240}
  Retention: {Type: Number, Default: 30}
  Arch: {Type: String, Default: arm64}
  Code: {Type: String}
Rules:
  WafNeedsUsEast1:
    RuleCondition: !Equals [!Ref EnableWaf, "true"]
    Assertions:
      - Assert: !Equals [!Ref "AWS::Region", us-east-1]
        AssertDescription: A CloudFront web ACL can only be created in us-east-1.
Conditions:
  CreateWaf: !Equals [!Ref EnableWaf, "true"]
  NoWaf:
    Fn::Not: [{Condition: CreateWaf}]
  Both: !And [!Condition CreateWaf, !Not [!Condition NoWaf]]
Resources:
  Key: {Type: AWS::KMS::Key, Properties: {EnableKeyRotation: true}}
  SecretA: {Type: AWS::SecretsManager::Secret}
  SecretB: {Type: AWS::SecretsManager::Secret, Condition: NoWaf}
  Plain:
    Type: AWS::CloudWatch::Alarm
    Properties: {MetricName: Errors, Namespace: AWS/Lambda}
  Math:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Metrics:
        - {Id: rate, Expression: "a / b", ReturnData: true}
        - {Id: a, MetricStat: {Metric: {MetricName: A}, Period: 300, Stat: Sum}}
        - {Id: b, MetricStat: {Metric: {MetricName: B}, Period: 300, Stat: Sum}}
        - {Id: c, MetricStat: {Metric: {MetricName: C}, Period: 300, Stat: Sum}}
  Board: {Type: AWS::CloudWatch::Dashboard}
  Acl:
    Type: AWS::WAFv2::WebACL
    Condition: Both
    Properties: {Rules: [{Name: a}, {Name: b}]}
  Logs: {Type: AWS::Logs::LogGroup, Properties: {RetentionInDays: !Ref Retention}}
  Forever: {Type: AWS::Logs::LogGroup}
  Function:
    Type: AWS::Lambda::Function
    Properties:
      MemorySize: !Ref Memory
      Architectures: [!Ref Arch]
      Code: {S3Key: !Ref Code}
"#;

    fn read_with(pairs: &[(&str, &str)], region: &str) -> Result<Stack> {
        let given = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        read(&[TEMPLATE], &given, region)
    }

    #[test]
    fn defaults_count_what_is_created_and_bill_metric_math_per_metric() {
        let stack = read_with(&[], "eu-west-1").expect("reads");
        assert_eq!(stack.keys, vec![Key { logical_id: "Key".into(), rotation: true }]);
        assert_eq!(stack.secrets, vec!["SecretA".to_owned(), "SecretB".to_owned()]);
        assert_eq!(
            stack.alarms,
            vec![
                Alarm { logical_id: "Plain".into(), metrics: 1, metric_math: false },
                Alarm { logical_id: "Math".into(), metrics: 3, metric_math: true },
            ]
        );
        assert_eq!(stack.dashboards, vec!["Board".to_owned()]);
        assert!(stack.web_acls.is_empty());
        assert_eq!(
            stack.log_groups,
            vec![
                LogGroup { logical_id: "Logs".into(), retention_days: Some(30) },
                LogGroup { logical_id: "Forever".into(), retention_days: None },
            ]
        );
        assert_eq!(
            stack.function,
            Function { logical_id: "Function".into(), memory_mb: 256, architecture: "arm64".into() }
        );
        assert!(stack.warnings.is_empty());
    }

    #[test]
    fn given_parameters_override_defaults_and_switch_conditions() {
        let stack =
            read_with(&[("EnableWaf", "true"), ("Memory", "1024"), ("Arch", "x86_64")], "us-east-1").expect("reads");
        assert_eq!(stack.web_acls, vec![WebAcl { logical_id: "Acl".into(), rules: 2 }]);
        assert_eq!(stack.secrets, vec!["SecretA".to_owned()]);
        assert_eq!(stack.function.memory_mb, 1024);
        assert_eq!(stack.function.architecture, "x86_64");
        assert!(stack.warnings.is_empty());
    }

    #[test]
    fn failing_rules_are_warnings() {
        let stack = read_with(&[("EnableWaf", "true")], "eu-west-1").expect("reads");
        assert_eq!(stack.warnings.len(), 1);
        assert!(stack.warnings[0].contains("WafNeedsUsEast1"), "{:?}", stack.warnings);
    }

    #[test]
    fn values_the_template_refuses_are_errors() {
        let message = read_with(&[("Memory", "64")], "us-east-1").expect_err("below MinValue").to_string();
        assert!(message.contains("parameter Memory is \"64\"") && message.contains("MinValue"), "{message}");
        let message = read_with(&[("EnableWaf", "yes")], "us-east-1").expect_err("not allowed").to_string();
        assert!(message.contains("allows true, false"), "{message}");
    }

    #[test]
    fn the_twin_template_reads() {
        let templates =
            [include_str!("../../../templates/twin.yaml"), include_str!("../../../templates/twin-data.yaml")];
        let stack = read(&templates, &BTreeMap::new(), "us-east-1").expect("reads");
        // The key, the model's key secret and both log groups live in the data stack.
        assert_eq!(stack.log_groups.len(), 2);
        assert_eq!(stack.keys.len(), 1);
        assert_eq!(stack.secrets.len(), 2);
        assert_eq!(stack.alarms.iter().map(|a| a.metrics).sum::<u32>(), 6);
        assert_eq!(stack.dashboards.len(), 1);
        assert!(stack.web_acls.is_empty());
        assert_eq!(stack.function.memory_mb, 256);
        let with_waf: BTreeMap<String, String> = [("EnableWaf".to_owned(), "true".to_owned())].into_iter().collect();
        let stack = read(&templates, &with_waf, "us-east-1").expect("reads");
        assert_eq!(stack.web_acls.len(), 1);
        assert_eq!(stack.web_acls[0].rules, 6);
    }
}
