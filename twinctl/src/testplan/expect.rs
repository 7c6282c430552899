//! What a step's observation is held against: captures (values a later step may use), the
//! matchers of `expect:`, `{{name}}` templates, and the redaction of secret values.
//!
//! Owns: the template syntax (one parser: the loader validates with it, the runner renders with
//! it), the meaning of each matcher, and the failure texts, which are one line each, name what
//! was tested, and never show a secret value.
//! Must not: run a step or decide its verdict (the runner does, from the plan and the findings).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use regex::Regex;
use serde_json::Value;

use super::model::{CaptureSource, Expect, JsonQuery, Matcher, Pattern, Text, Variable};
use super::observation::Observation;

/// What a secret value is replaced with.
pub const REDACTED: &str = "***";

/// How much of an observed value a failure text shows, in characters.
const SHOWN_CHARS: usize = 120;

/// The values templates render with: built-ins, stack outputs (`outputs.<Name>`), plan variables
/// and captures, each known to be secret or not.
#[derive(Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, String>,
    secret_names: BTreeSet<String>,
    /// Every secret value ever held: one replaced later may still appear in earlier output.
    secret_values: BTreeSet<String>,
}

impl Vars {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name`; a secret value is redacted by [`redact`] from then on.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>, secret: bool) {
        let (name, value) = (name.into(), value.into());
        if secret {
            self.secret_names.insert(name.clone());
            self.secret_values.insert(value.clone());
        } else {
            self.secret_names.remove(&name);
        }
        self.values.insert(name, value);
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn is_secret(&self, name: &str) -> bool {
        self.secret_names.contains(name)
    }
}

/// Secret values show as `***` here too: a `{:?}` in a log must not leak them.
impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self
            .values
            .iter()
            .map(|(name, value)| (name, if self.is_secret(name) { REDACTED } else { value.as_str() }));
        f.debug_map().entries(shown).finish()
    }
}

/// Reads a captured value from an observation; `Err` says what was missing.
pub fn capture(source: &CaptureSource, obs: &Observation) -> Result<String, String> {
    match source {
        CaptureSource::Json(query) => {
            let document =
                obs.json.as_ref().ok_or_else(|| format!("no JSON document to read `{}` from", query.source))?;
            let value =
                query.path.query(document).first().ok_or_else(|| format!("`{}` matched nothing", query.source))?;
            Ok(value_text(value))
        }
        CaptureSource::Pointer(pointer) => {
            let document = obs.json.as_ref().ok_or_else(|| format!("no JSON document to read `{pointer}` from"))?;
            document.pointer(pointer).map(value_text).ok_or_else(|| format!("JSON pointer `{pointer}` matched nothing"))
        }
        CaptureSource::Header(name) => obs
            .headers
            .get(&name.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| format!("no header `{name}` in the response")),
        CaptureSource::Regex(pattern) => {
            let body = obs.body.as_deref().ok_or_else(|| format!("no body to match `{}` against", pattern.source))?;
            let found =
                pattern.regex.captures(body).ok_or_else(|| format!("`{}` did not match the body", pattern.source))?;
            found
                .get(1)
                .or_else(|| found.get(0))
                .map(|matched| matched.as_str().to_owned())
                .ok_or_else(|| format!("`{}` did not match the body", pattern.source))
        }
    }
}

/// Each expectation that does not hold, as one line (`json $.response: expected to contain "x",
/// got "y"`); empty when all hold. Templates in the matchers are taken as written and nothing is
/// redacted: the runner wants [`evaluate_with`].
pub fn evaluate(expect: &Expect, obs: &Observation) -> Vec<String> {
    failures(expect, obs, &|text| text.to_owned())
}

/// [`evaluate`] after rendering the matchers' templates with `vars`, with every secret value
/// of `vars` redacted from the failure texts. `Err` is a template that cannot be rendered.
pub fn evaluate_with(expect: &Expect, obs: &Observation, vars: &Vars) -> Result<Vec<String>, String> {
    let rendered = render_expect(expect, vars)?;
    let failures = failures(&rendered, obs, &|text| redact(text, vars));
    // The expected side may hold a rendered secret too (`equals: "{{api_key}}"`).
    Ok(failures.iter().map(|failure| redact(failure, vars)).collect())
}

/// Replaces every secret value of `vars` in `text` with `***`.
pub fn redact(text: &str, vars: &Vars) -> String {
    let mut secrets: Vec<String> = Vec::new();
    for value in vars.secret_values.iter().filter(|value| !value.is_empty()) {
        secrets.push(value.clone());
        // Inside a JSON string (an observed value in a failure text) the value is escaped.
        let quoted = Value::String(value.clone()).to_string();
        if let Some(escaped) = quoted.strip_prefix('"').and_then(|rest| rest.strip_suffix('"'))
            && escaped != value.as_str()
        {
            secrets.push(escaped.to_owned());
        }
    }
    // Longest first, so a secret that contains another is hidden whole.
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    let mut redacted = text.to_owned();
    for secret in &secrets {
        if redacted.contains(secret.as_str()) {
            redacted = redacted.replace(secret.as_str(), REDACTED);
        }
    }
    redacted
}

/// A piece of a template: text as written, or a `{{name}}` (the name trimmed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    Literal(&'a str),
    Name(&'a str),
}

fn pieces(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Literal(&rest[..open]));
        }
        let inside = &rest[open + 2..];
        let Some(close) = inside.find("}}") else {
            return Err(format!("`{{{{` without a closing `}}}}` in `{text}`"));
        };
        let name = inside[..close].trim();
        if !is_template_name(name) {
            return Err(format!(
                "`{{{{{}}}}}` is not a template name (letters, digits, `_`, `.` and `-`)",
                &inside[..close]
            ));
        }
        pieces.push(Piece::Name(name));
        rest = &inside[close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(rest));
    }
    Ok(pieces)
}

fn is_template_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The names a template refers to, in order; `Err` when its `{{…}}` are malformed.
pub fn template_names(text: &str) -> Result<Vec<&str>, String> {
    Ok(pieces(text)?
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Name(name) => Some(name),
            Piece::Literal(_) => None,
        })
        .collect())
}

/// Replaces each `{{name}}` with its value. A name missing from `vars` is an error, except
/// `env.NAME`, read from the process environment when `vars` does not hold it.
pub fn render_template(text: &str, vars: &Vars) -> Result<String, String> {
    let mut rendered = String::with_capacity(text.len());
    for piece in pieces(text)? {
        match piece {
            Piece::Literal(literal) => rendered.push_str(literal),
            Piece::Name(name) => rendered.push_str(&value_of(name, vars)?),
        }
    }
    Ok(rendered)
}

/// [`render_template`] of a plan's string; an error starts with the string's place.
pub fn render_text(text: &Text, vars: &Vars) -> Result<String, String> {
    render_template(&text.template, vars).map_err(|error| format!("{}: {error}", text.at))
}

fn value_of(name: &str, vars: &Vars) -> Result<String, String> {
    if let Some(value) = vars.get(name) {
        return Ok(value.to_owned());
    }
    if let Some(variable) = name.strip_prefix("env.") {
        return std::env::var(variable)
            .map_err(|_| format!("`{{{{{name}}}}}`: the environment variable `{variable}` is not set"));
    }
    if let Some(output) = name.strip_prefix("outputs.") {
        return Err(format!("`{{{{{name}}}}}`: the stack has no output `{output}`"));
    }
    Err(format!("`{{{{{name}}}}}` is not defined"))
}

/// Renders the templates in every string of a JSON value (an `http` step's `json:` body).
pub fn render_json(value: &Value, vars: &Vars) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => Value::String(render_template(text, vars)?),
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| render_json(item, vars)).collect::<Result<_, _>>()?)
        }
        Value::Object(fields) => {
            let mut rendered = serde_json::Map::new();
            for (key, field) in fields {
                rendered.insert(key.clone(), render_json(field, vars)?);
            }
            Value::Object(rendered)
        }
        other => other.clone(),
    })
}

/// Renders the plan's variables (built-ins and `outputs.*` already in `vars`) into `vars`.
pub fn render_variables(variables: &BTreeMap<String, Variable>, vars: &mut Vars) -> Result<(), String> {
    for (name, variable) in variables {
        let value = render_text(&variable.value, vars)?;
        vars.insert(name.clone(), value, variable.secret);
    }
    Ok(())
}

/// The expectations with their templates rendered: strings in values, and `matches:` patterns,
/// into which each value goes literally (escaped).
pub fn render_expect(expect: &Expect, vars: &Vars) -> Result<Expect, String> {
    let mut json = Vec::with_capacity(expect.json.len());
    for (query, matchers) in &expect.json {
        json.push((query.clone(), render_matchers(matchers, vars)?));
    }
    Ok(Expect {
        status: render_matchers(&expect.status, vars)?,
        duration_ms: render_matchers(&expect.duration_ms, vars)?,
        headers: render_named(&expect.headers, vars)?,
        json,
        body: render_matchers(&expect.body, vars)?,
        checks: render_named(&expect.checks, vars)?,
    })
}

fn render_named(named: &BTreeMap<String, Vec<Matcher>>, vars: &Vars) -> Result<BTreeMap<String, Vec<Matcher>>, String> {
    let mut rendered = BTreeMap::new();
    for (name, matchers) in named {
        rendered.insert(name.clone(), render_matchers(matchers, vars)?);
    }
    Ok(rendered)
}

fn render_matchers(matchers: &[Matcher], vars: &Vars) -> Result<Vec<Matcher>, String> {
    matchers.iter().map(|matcher| render_matcher(matcher, vars)).collect()
}

fn render_matcher(matcher: &Matcher, vars: &Vars) -> Result<Matcher, String> {
    Ok(match matcher {
        Matcher::Equals(value) => Matcher::Equals(render_json(value, vars)?),
        Matcher::NotEquals(value) => Matcher::NotEquals(render_json(value, vars)?),
        Matcher::Contains(value) => Matcher::Contains(render_json(value, vars)?),
        Matcher::NotContains(value) => Matcher::NotContains(render_json(value, vars)?),
        Matcher::OneOf(options) => {
            Matcher::OneOf(options.iter().map(|option| render_json(option, vars)).collect::<Result<_, _>>()?)
        }
        Matcher::Matches(pattern) => {
            if template_names(&pattern.source)?.is_empty() {
                matcher.clone()
            } else {
                let regex = compile_pattern(&pattern.source, &|name| value_of(name, vars))?;
                Matcher::Matches(Pattern { source: pattern.source.clone(), regex })
            }
        }
        other => other.clone(),
    })
}

/// Compiles a `matches:` pattern, each `{{name}}` replaced by `value_for(name)` matched literally.
pub(crate) fn compile_pattern(
    source: &str,
    value_for: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Regex, String> {
    let mut expression = String::with_capacity(source.len());
    for piece in pieces(source)? {
        match piece {
            Piece::Literal(literal) => expression.push_str(literal),
            Piece::Name(name) => expression.push_str(&regex::escape(&value_for(name)?)),
        }
    }
    Regex::new(&expression).map_err(|error| regex_error(&error))
}

/// The one line of a regex error that says what is wrong (its report also draws the pattern).
pub(crate) fn regex_error(error: &regex::Error) -> String {
    match error {
        regex::Error::Syntax(report) => report
            .lines()
            .rev()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .map_or_else(|| report.clone(), |line| line.trim_start_matches("error: ").to_owned()),
        other => other.to_string(),
    }
}

fn failures(expect: &Expect, obs: &Observation, hide: &dyn Fn(&str) -> String) -> Vec<String> {
    let mut failures = Vec::new();
    let status = obs.status.map(Value::from);
    record(&mut failures, "status", status.as_ref(), &expect.status, hide);
    let duration = Value::from(obs.duration_ms);
    record(&mut failures, "duration_ms", Some(&duration), &expect.duration_ms, hide);
    for (name, matchers) in &expect.headers {
        let value = obs.headers.get(&name.to_ascii_lowercase()).cloned().map(Value::String);
        record(&mut failures, &format!("header {name}"), value.as_ref(), matchers, hide);
    }
    for (query, matchers) in &expect.json {
        let value = obs.json.as_ref().and_then(|document| query_value(query, document));
        record(&mut failures, &format!("json {}", query.source), value.as_ref(), matchers, hide);
    }
    let body = obs.body.clone().map(Value::String);
    record(&mut failures, "body", body.as_ref(), &expect.body, hide);
    for (name, matchers) in &expect.checks {
        record(&mut failures, &format!("check {name}"), obs.checks.get(name), matchers, hide);
    }
    failures
}

/// Adds a line to `failures` for each of `matchers` that does not hold for `actual`.
fn record(
    failures: &mut Vec<String>,
    target: &str,
    actual: Option<&Value>,
    matchers: &[Matcher],
    hide: &dyn Fn(&str) -> String,
) {
    for matcher in matchers {
        if let Some(why) = mismatch(matcher, actual, hide) {
            failures.push(format!("{target}: {why}"));
        }
    }
}

/// What a JSONPath selects: nothing, the one value, or (several nodes) an array of them.
fn query_value(query: &JsonQuery, document: &Value) -> Option<Value> {
    let nodes = query.path.query(document).all();
    match nodes.as_slice() {
        [] => None,
        [only] => Some(Value::clone(only)),
        many => Some(Value::Array(many.iter().copied().cloned().collect())),
    }
}

/// Why `matcher` does not hold for `actual` (`None`: absent), or `None` when it holds.
fn mismatch(matcher: &Matcher, actual: Option<&Value>, hide: &dyn Fn(&str) -> String) -> Option<String> {
    let holds = match (matcher, actual) {
        (Matcher::Exists(expected), _) => actual.is_some() == *expected,
        (_, None) => false,
        (Matcher::Equals(expected), Some(value)) => json_equal(value, expected),
        (Matcher::NotEquals(expected), Some(value)) => !json_equal(value, expected),
        (Matcher::Contains(needle), Some(value)) => contains(value, needle) == Some(true),
        (Matcher::NotContains(needle), Some(value)) => contains(value, needle) == Some(false),
        (Matcher::Matches(pattern), Some(value)) => pattern.regex.is_match(&value_text(value)),
        (Matcher::Lt(bound), Some(value)) => number_of(value).is_some_and(|number| number < *bound),
        (Matcher::Le(bound), Some(value)) => number_of(value).is_some_and(|number| number <= *bound),
        (Matcher::Gt(bound), Some(value)) => number_of(value).is_some_and(|number| number > *bound),
        (Matcher::Ge(bound), Some(value)) => number_of(value).is_some_and(|number| number >= *bound),
        (Matcher::Length(expected), Some(value)) => length_of(value) == Some(*expected),
        (Matcher::OneOf(options), Some(value)) => options.iter().any(|option| json_equal(value, option)),
    };
    if holds {
        return None;
    }
    let got = match actual {
        None => "nothing".to_owned(),
        Some(value) => match (matcher, length_of(value)) {
            (Matcher::Length(_), Some(length)) => format!("length {length}"),
            // Hidden before shortening: a secret cut in two would no longer be recognised.
            _ => shorten(&hide(&value.to_string())),
        },
    };
    Some(format!("expected {}, got {got}", expectation(matcher)))
}

fn expectation(matcher: &Matcher) -> String {
    match matcher {
        Matcher::Equals(value) => shorten(&value.to_string()),
        Matcher::NotEquals(value) => format!("not {}", shorten(&value.to_string())),
        Matcher::Contains(value) => format!("to contain {}", shorten(&value.to_string())),
        Matcher::NotContains(value) => format!("not to contain {}", shorten(&value.to_string())),
        Matcher::Matches(pattern) => format!("to match /{}/", pattern.source),
        Matcher::Lt(bound) => format!("< {bound}"),
        Matcher::Le(bound) => format!("<= {bound}"),
        Matcher::Gt(bound) => format!("> {bound}"),
        Matcher::Ge(bound) => format!(">= {bound}"),
        Matcher::Exists(true) => "to exist".to_owned(),
        Matcher::Exists(false) => "to be absent".to_owned(),
        Matcher::Length(length) => format!("length {length}"),
        Matcher::OneOf(options) => format!("one of {}", shorten(&Value::Array(options.clone()).to_string())),
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// JSON equality where numbers compare by value (`2` equals `2.0`).
fn json_equal(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_equal(x, y)),
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(key, x)| b.get(key).is_some_and(|y| json_equal(x, y)))
        }
        _ => actual == expected,
    }
}

/// `Some(whether)` for a string, an array or an object; `None` where containing means nothing.
fn contains(haystack: &Value, needle: &Value) -> Option<bool> {
    match haystack {
        Value::String(text) => Some(text.contains(value_text(needle).as_str())),
        Value::Array(items) => Some(items.iter().any(|item| json_equal(item, needle))),
        Value::Object(fields) => match needle {
            Value::String(key) => Some(fields.contains_key(key)),
            _ => None,
        },
        _ => None,
    }
}

/// A number, or a string holding one (header values are strings: `content-length`).
fn number_of(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn length_of(value: &Value) -> Option<usize> {
    match value {
        Value::String(text) => Some(text.chars().count()),
        Value::Array(items) => Some(items.len()),
        Value::Object(fields) => Some(fields.len()),
        _ => None,
    }
}

/// A string as itself, anything else as compact JSON.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;
    use serde_json_path::JsonPath;

    use super::*;

    fn observation() -> Observation {
        let mut obs = Observation {
            status: Some(200),
            body: Some(r#"{"session_id":"abc-123","response":"hello twin"}"#.to_owned()),
            json: Some(json!({
                "session_id": "abc-123",
                "response": "hello twin",
                "messages": [{"role": "user"}, {"role": "assistant"}],
                "count": 2.0,
                "meta": {"region": "eu-west-1"}
            })),
            duration_ms: 120,
            ..Observation::default()
        };
        obs.headers.insert("x-correlation-id".to_owned(), "cid-7".to_owned());
        obs.headers.insert("content-length".to_owned(), "42".to_owned());
        obs.check("versioning", true);
        obs
    }

    fn query(path: &str) -> JsonQuery {
        JsonQuery { source: path.to_owned(), path: JsonPath::parse(path).unwrap() }
    }

    fn pattern(source: &str) -> Pattern {
        Pattern { source: source.to_owned(), regex: Regex::new(source).unwrap() }
    }

    fn on_json(path: &str, matcher: Matcher) -> Expect {
        Expect { json: vec![(query(path), vec![matcher])], ..Expect::default() }
    }

    #[test]
    fn each_matcher_holds_and_fails() {
        let obs = observation();
        let holds = |path: &str, matcher: Matcher| evaluate(&on_json(path, matcher), &obs).is_empty();

        assert!(holds("$.response", Matcher::Equals(json!("hello twin"))));
        assert!(!holds("$.response", Matcher::Equals(json!("hello"))));
        assert!(holds("$.count", Matcher::Equals(json!(2))), "an integer equals a float of the same value");
        assert!(holds("$.response", Matcher::NotEquals(json!("bye"))));
        assert!(!holds("$.response", Matcher::NotEquals(json!("hello twin"))));
        assert!(holds("$.response", Matcher::Contains(json!("twin"))));
        assert!(!holds("$.response", Matcher::Contains(json!("ghost"))));
        assert!(holds("$.messages", Matcher::Contains(json!({"role": "user"}))));
        assert!(holds("$.meta", Matcher::Contains(json!("region"))));
        assert!(holds("$.response", Matcher::NotContains(json!("ghost"))));
        assert!(!holds("$.response", Matcher::NotContains(json!("twin"))));
        assert!(
            !holds("$.count", Matcher::NotContains(json!(2))),
            "a number contains nothing, so nothing can be ruled out"
        );
        assert!(holds("$.session_id", Matcher::Matches(pattern("^[a-z]+-\\d+$"))));
        assert!(!holds("$.session_id", Matcher::Matches(pattern("^\\d+$"))));
        assert!(holds("$.count", Matcher::Lt(3.0)));
        assert!(!holds("$.count", Matcher::Lt(2.0)));
        assert!(holds("$.count", Matcher::Le(2.0)));
        assert!(!holds("$.count", Matcher::Le(1.5)));
        assert!(holds("$.count", Matcher::Gt(1.0)));
        assert!(!holds("$.count", Matcher::Gt(2.0)));
        assert!(holds("$.count", Matcher::Ge(2.0)));
        assert!(!holds("$.count", Matcher::Ge(2.5)));
        assert!(!holds("$.response", Matcher::Lt(10.0)), "text is not a number");
        assert!(holds("$.response", Matcher::Exists(true)));
        assert!(!holds("$.missing", Matcher::Exists(true)));
        assert!(holds("$.missing", Matcher::Exists(false)));
        assert!(!holds("$.response", Matcher::Exists(false)));
        assert!(holds("$.messages", Matcher::Length(2)));
        assert!(holds("$.response", Matcher::Length(10)));
        assert!(holds("$.meta", Matcher::Length(1)));
        assert!(!holds("$.messages", Matcher::Length(3)));
        assert!(
            holds("$.messages[*].role", Matcher::Equals(json!(["user", "assistant"]))),
            "several nodes are an array"
        );
        assert!(holds("$.response", Matcher::OneOf(vec![json!("hi"), json!("hello twin")])));
        assert!(!holds("$.response", Matcher::OneOf(vec![json!("hi")])));
        assert!(!holds("$.missing", Matcher::Equals(json!(null))), "absent is not null");
    }

    #[test]
    fn a_failure_says_what_was_expected_and_what_was_seen() {
        let obs = observation();
        assert_eq!(
            evaluate(&on_json("$.response", Matcher::Contains(json!("x"))), &obs),
            ["json $.response: expected to contain \"x\", got \"hello twin\""]
        );
        assert_eq!(
            evaluate(&on_json("$.missing", Matcher::Exists(true)), &obs),
            ["json $.missing: expected to exist, got nothing"]
        );
        assert_eq!(
            evaluate(&on_json("$.messages", Matcher::Length(3)), &obs),
            ["json $.messages: expected length 3, got length 2"]
        );
        let expect = Expect {
            status: vec![Matcher::Equals(json!(201))],
            duration_ms: vec![Matcher::Lt(100.0)],
            headers: BTreeMap::from([("content-length".to_owned(), vec![Matcher::Gt(50.0)])]),
            body: vec![Matcher::Matches(pattern("^<html"))],
            checks: BTreeMap::from([("versioning".to_owned(), vec![Matcher::Equals(json!(false))])]),
            ..Expect::default()
        };
        assert_eq!(
            evaluate(&expect, &obs),
            [
                "status: expected 201, got 200",
                "duration_ms: expected < 100, got 120",
                "header content-length: expected > 50, got \"42\"",
                "body: expected to match /^<html/, got \"{\\\"session_id\\\":\\\"abc-123\\\",\\\"response\\\":\\\"hello twin\\\"}\"",
                "check versioning: expected false, got true",
            ]
        );
    }

    #[test]
    fn a_long_observed_value_is_shortened() {
        let obs = Observation { body: Some("x".repeat(500)), ..Observation::default() };
        let expect = Expect { body: vec![Matcher::Equals(json!("y"))], ..Expect::default() };
        let failures = evaluate(&expect, &obs);
        assert_eq!(failures.len(), 1);
        assert!(failures[0].ends_with('…'), "{}", failures[0]);
        assert!(failures[0].chars().count() < 160, "{}", failures[0]);
    }

    #[test]
    fn captures_read_json_pointer_header_and_regex() {
        let obs = observation();
        assert_eq!(capture(&CaptureSource::Json(query("$.session_id")), &obs).unwrap(), "abc-123");
        assert_eq!(capture(&CaptureSource::Json(query("$.messages[1]")), &obs).unwrap(), r#"{"role":"assistant"}"#);
        assert_eq!(capture(&CaptureSource::Pointer("/meta/region".to_owned()), &obs).unwrap(), "eu-west-1");
        assert_eq!(capture(&CaptureSource::Header("X-Correlation-Id".to_owned()), &obs).unwrap(), "cid-7");
        let group = CaptureSource::Regex(pattern(r#""session_id":"([^"]+)""#));
        assert_eq!(capture(&group, &obs).unwrap(), "abc-123");
        let whole = CaptureSource::Regex(pattern(r"abc-\d+"));
        assert_eq!(capture(&whole, &obs).unwrap(), "abc-123");
    }

    #[test]
    fn a_missing_capture_says_what_is_missing() {
        let obs = observation();
        assert_eq!(capture(&CaptureSource::Json(query("$.nope")), &obs).unwrap_err(), "`$.nope` matched nothing");
        assert_eq!(
            capture(&CaptureSource::Pointer("/nope".to_owned()), &obs).unwrap_err(),
            "JSON pointer `/nope` matched nothing"
        );
        assert_eq!(
            capture(&CaptureSource::Header("x-missing".to_owned()), &obs).unwrap_err(),
            "no header `x-missing` in the response"
        );
        assert_eq!(
            capture(&CaptureSource::Regex(pattern("token=(\\w+)")), &obs).unwrap_err(),
            "`token=(\\w+)` did not match the body"
        );
        let empty = Observation::default();
        assert_eq!(
            capture(&CaptureSource::Json(query("$.a")), &empty).unwrap_err(),
            "no JSON document to read `$.a` from"
        );
    }

    #[test]
    fn templates_render_from_vars() {
        let mut vars = Vars::new();
        vars.insert("api", "https://api.example", false);
        vars.insert("session", "abc", false);
        vars.insert("outputs.MemoryBucketName", "twin-memory", false);
        assert_eq!(
            render_template("{{api}}/api/chat/{{ session }}", &vars).unwrap(),
            "https://api.example/api/chat/abc"
        );
        assert_eq!(render_template("{{outputs.MemoryBucketName}}", &vars).unwrap(), "twin-memory");
        assert_eq!(render_template("no templates {here}", &vars).unwrap(), "no templates {here}");
        assert_eq!(template_names("a {{ b }} c {{d.e}}{{f}}").unwrap(), ["b", "d.e", "f"]);
        let body = render_json(&json!({"message": "hi {{session}}", "n": [1, "{{api}}"]}), &vars).unwrap();
        assert_eq!(body, json!({"message": "hi abc", "n": [1, "https://api.example"]}));
    }

    #[test]
    fn an_unknown_or_malformed_template_is_an_error() {
        let vars = Vars::new();
        assert_eq!(render_template("x{{nope}}", &vars).unwrap_err(), "`{{nope}}` is not defined");
        assert_eq!(
            render_template("{{outputs.Missing}}", &vars).unwrap_err(),
            "`{{outputs.Missing}}`: the stack has no output `Missing`"
        );
        assert_eq!(
            render_template("{{env.TWINCTL_TEST_SURELY_UNSET_42}}", &vars).unwrap_err(),
            "`{{env.TWINCTL_TEST_SURELY_UNSET_42}}`: the environment variable `TWINCTL_TEST_SURELY_UNSET_42` is not set"
        );
        assert_eq!(render_template("{{open", &vars).unwrap_err(), "`{{` without a closing `}}` in `{{open`");
        assert_eq!(
            render_template("{{a b}}", &vars).unwrap_err(),
            "`{{a b}}` is not a template name (letters, digits, `_`, `.` and `-`)"
        );
    }

    #[test]
    fn a_secret_variable_is_redacted() {
        let mut vars = Vars::new();
        vars.insert("api_key", "sk-live-1234", true);
        vars.insert("api", "https://api.example", false);
        assert_eq!(redact("sent sk-live-1234 to https://api.example", &vars), "sent *** to https://api.example");
        assert!(vars.is_secret("api_key"));
        assert!(!format!("{vars:?}").contains("sk-live-1234"));
        // Replaced by a plain value, the old secret is still hidden where it was shown.
        vars.insert("api_key", "plain", false);
        assert_eq!(redact("sk-live-1234", &vars), "***");
    }

    #[test]
    fn a_secret_capture_never_appears_in_a_failure() {
        let obs = Observation {
            json: Some(json!({"token": "tok\"en-99", "echo": "your token is tok\"en-99"})),
            ..Observation::default()
        };
        let source = CaptureSource::Json(query("$.token"));
        let mut vars = Vars::new();
        vars.insert("token", capture(&source, &obs).unwrap(), true);
        let expect = Expect {
            json: vec![
                (query("$.echo"), vec![Matcher::Equals(json!("nothing"))]),
                (query("$.token"), vec![Matcher::NotEquals(json!("{{token}}"))]),
            ],
            ..Expect::default()
        };
        let failures = evaluate_with(&expect, &obs, &vars).unwrap();
        assert_eq!(
            failures,
            [
                "json $.echo: expected \"nothing\", got \"your token is ***\"",
                "json $.token: expected not \"***\", got \"***\""
            ]
        );
    }

    #[test]
    fn templates_in_matchers_render_before_evaluation() {
        let obs = observation();
        let mut vars = Vars::new();
        vars.insert("session", "abc-123", false);
        let templated = compile_pattern("^{{session}}$", &|name| Ok(format!("{{{{{name}}}}}"))).unwrap();
        let expect = Expect {
            json: vec![(
                query("$.session_id"),
                vec![
                    Matcher::Equals(json!("{{session}}")),
                    Matcher::Matches(Pattern { source: "^{{session}}$".to_owned(), regex: templated }),
                ],
            )],
            ..Expect::default()
        };
        assert_eq!(evaluate_with(&expect, &obs, &vars).unwrap(), Vec::<String>::new());
        assert_eq!(evaluate(&expect, &obs).len(), 2, "unrendered, the templates are taken literally");
        assert_eq!(evaluate_with(&expect, &obs, &Vars::new()).unwrap_err(), "`{{session}}` is not defined");
    }

    #[test]
    fn variables_render_with_their_secrecy() {
        use std::path::PathBuf;

        use crate::testplan::model::Location;

        let at = Location { file: PathBuf::from("p.yaml"), line: 4, column: 3 };
        let variables = BTreeMap::from([
            (
                "marker".to_owned(),
                Variable { value: Text { template: "light-{{run_id}}".to_owned(), at: at.clone() }, secret: false },
            ),
            ("key".to_owned(), Variable { value: Text { template: "{{nope}}".to_owned(), at }, secret: true }),
        ]);
        let mut vars = Vars::new();
        vars.insert("run_id", "r1", false);
        assert_eq!(render_variables(&variables, &mut vars).unwrap_err(), "p.yaml:4:3: `{{nope}}` is not defined");
        vars.insert("nope", "s3cr3t", false);
        render_variables(&variables, &mut vars).unwrap();
        assert_eq!(vars.get("marker"), Some("light-r1"));
        assert!(vars.is_secret("key"));
        assert_eq!(redact("s3cr3t", &vars), "***");
    }
}
