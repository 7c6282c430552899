//! The typed test plan: a plan, its steps, each kind's own keys, captures and expectations.
//!
//! Owns: the shape every other part of `verify` reads, and the place in the YAML of everything a
//! person wrote that can still go wrong after loading (a step, a template string), so that a
//! run-time error names it as precisely as a load-time one.
//! Must not: read files or validate (`load.rs`), or evaluate anything (`expect.rs`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;
use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json_path::JsonPath;

/// The design's Properties are numbered 1 to this.
pub const PROPERTY_COUNT: u8 = 7;

/// The step kinds, in the order the format's documentation lists them.
pub const KINDS: [&str; 8] = ["http", "s3", "iam", "https-live", "https-config", "secrets", "monitoring", "lambda"];

/// The matchers of `expect:`, in the order the format's documentation lists them.
pub const MATCHERS: [&str; 12] = [
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "matches",
    "lt",
    "le",
    "gt",
    "ge",
    "exists",
    "length",
    "one_of",
];

/// Names every plan may use in `{{…}}` without declaring them (besides `outputs.*` and `env.*`).
pub const BUILT_INS: [&str; 4] = ["run_id", "environment", "api", "site"];

/// What an environment selector `local` is; `deployed` means every environment but this one.
pub const LOCAL_ENVIRONMENT: &str = "local";

/// HSTS max-age an `https-live` step requires when it does not say: half a year.
pub const DEFAULT_MIN_HSTS_SECONDS: u64 = 15_768_000;

/// Days of validity an `https-live` step requires of the certificate when it does not say.
pub const DEFAULT_CERTIFICATE_DAYS: u32 = 14;

/// Time between attempts of a `retry` that gives no `interval`.
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// A place in a plan file (or a fragment it includes); line and column are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A string that may hold `{{name}}` templates, with where it was written: rendering happens at
/// run time, when a missing stack output or environment variable must still name its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Text {
    pub template: String,
    pub at: Location,
}

impl Text {
    pub fn as_str(&self) -> &str {
        &self.template
    }
}

/// One `testplans/*.yaml` file, with its `include:`s inlined.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub id: String,
    pub title: String,
    pub covers: Covers,
    pub purpose: String,
    /// `all`, `deployed` (every environment but `local`) or environment names.
    pub environments: Vec<String>,
    pub variables: BTreeMap<String, Variable>,
    pub steps: Vec<Step>,
    /// The plan file as it was given to the loader.
    pub file: PathBuf,
}

impl Plan {
    /// Whether the plan runs against `environment` at all.
    pub fn runs_in(&self, environment: &str) -> bool {
        selects(&self.environments, environment)
    }
}

/// What a plan is evidence for: the user's plan items and the design's Properties.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Covers {
    pub requirements: Vec<String>,
    pub properties: Vec<u8>,
}

/// A plan variable; its value may use built-ins, `outputs.*` and `env.*`.
#[derive(Debug, Clone, Serialize)]
pub struct Variable {
    pub value: Text,
    /// A secret value is replaced by `***` wherever it would be shown.
    pub secret: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub kind: StepKind,
    /// The Properties this step evidences.
    pub properties: Vec<u8>,
    pub severity: Severity,
    /// When set, the step never runs and is reported as skipped with this reason.
    pub skip: Option<String>,
    /// Narrows the plan's environments; `None` keeps them.
    pub environments: Option<Vec<String>>,
    pub retry: Option<Retry>,
    pub capture: BTreeMap<String, Capture>,
    pub expect: Expect,
    /// Where the step starts (its first key), in the plan or in the fragment that holds it.
    pub at: Location,
}

impl Step {
    /// Whether the step runs against `environment`, given that its plan does.
    pub fn runs_in(&self, environment: &str) -> bool {
        self.environments.as_ref().is_none_or(|selectors| selects(selectors, environment))
    }
}

/// Whether a list of environment selectors (`all`, `deployed`, names) takes `environment`.
pub fn selects(selectors: &[String], environment: &str) -> bool {
    selectors.iter().any(|selector| match selector.as_str() {
        "all" => true,
        "deployed" => environment != LOCAL_ENVIRONMENT,
        name => name == environment,
    })
}

/// How a failed step counts: `warn` is reported as a warning, not a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    #[default]
    Fail,
    Warn,
}

/// Run the step again until its expectations hold, at most `attempts` times in all.
#[derive(Debug, Clone, Serialize)]
pub struct Retry {
    pub attempts: u32,
    pub interval: Duration,
    /// Rerun while this does not hold (e.g. until the logs hold a line), then judge the step by
    /// its own `expect`; without it, rerun until the whole step passes.
    pub until: Option<Expect>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Capture {
    pub source: CaptureSource,
    pub secret: bool,
}

/// Where a captured value is read from in a step's observation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureSource {
    /// The first node a JSONPath selects in the observation's JSON.
    Json(JsonQuery),
    /// A JSON pointer (RFC 6901) into the observation's JSON.
    Pointer(String),
    /// A response header; the name is lower-case, as the observation's are.
    Header(String),
    /// The first capture group (or the whole match) over the body text.
    Regex(Pattern),
}

/// A JSONPath as written, and parsed (the parsed form is not shown in JSON output).
#[derive(Debug, Clone, Serialize)]
pub struct JsonQuery {
    pub source: String,
    #[serde(skip)]
    pub path: JsonPath,
}

/// A regular expression as written, and compiled. In a `matches:` matcher the source may hold
/// `{{name}}` templates: the compiled form then matches each template's own text literally until
/// `expect::render_expect` compiles it again with the values.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub regex: Regex,
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

/// One variant per step kind, each with that kind's own keys.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StepKind {
    Http(HttpSpec),
    S3(S3Spec),
    Iam(IamSpec),
    Lambda,
    Secrets,
    Monitoring(MonitoringSpec),
    HttpsLive(HttpsLiveSpec),
    HttpsConfig,
}

impl StepKind {
    /// The kind's name as plans write it (`https-live`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Http(_) => "http",
            Self::S3(_) => "s3",
            Self::Iam(_) => "iam",
            Self::Lambda => "lambda",
            Self::Secrets => "secrets",
            Self::Monitoring(_) => "monitoring",
            Self::HttpsLive(_) => "https-live",
            Self::HttpsConfig => "https-config",
        }
    }
}

/// `kind: http`: the `request:` mapping.
#[derive(Debug, Clone, Serialize)]
pub struct HttpSpec {
    /// Upper-case; `GET` when the plan does not say.
    pub method: String,
    pub url: Text,
    pub headers: BTreeMap<String, Text>,
    pub body: Option<HttpBody>,
    pub follow_redirects: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpBody {
    /// `json:` — sent as a JSON document; its strings may hold templates (`expect::render_json`).
    Json(Value),
    /// `body:` — sent as text.
    Text(Text),
}

/// `kind: s3`: a bucket, and optionally one object in it.
#[derive(Debug, Clone, Serialize)]
pub struct S3Spec {
    pub bucket: Text,
    pub key: Option<Text>,
}

/// `kind: iam`: which role's policies are read.
#[derive(Debug, Clone, Serialize)]
pub struct IamSpec {
    pub role: RoleName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    /// The stack's `FunctionRoleArn`.
    Function,
    /// The environment's CI deploy role (`DeployRoleArn` of its access stack), judged against the
    /// actions twinctl declares for CI.
    Deploy,
    /// The environment's CloudFormation execution role (`ExecutionRoleArn` of its access stack),
    /// judged against the rule its template writes: role writes only with the environment's
    /// permissions boundary (`FunctionBoundaryArn`), `iam:PassRole` only to Lambda and only on the
    /// stack's roles, explicit Denies on the CI roles and the boundary.
    Execution,
}

/// `kind: monitoring`: which of the function's log lines, alarms and dashboard are looked at.
#[derive(Debug, Clone, Serialize)]
pub struct MonitoringSpec {
    pub logs: Option<LogQuery>,
    pub alarms: bool,
    pub dashboard: bool,
}

/// The log lines a `monitoring` step counts; at least one of the two is set.
#[derive(Debug, Clone, Serialize)]
pub struct LogQuery {
    pub correlation_id: Option<Text>,
    pub contains: Option<Text>,
}

/// `kind: https-live`: HTTPS as a browser meets it.
#[derive(Debug, Clone, Serialize)]
pub struct HttpsLiveSpec {
    pub url: Text,
    pub paths: Vec<PathRule>,
    pub min_hsts_seconds: u64,
    pub certificate_days: u32,
}

/// What plain HTTP to one path must get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathRule {
    pub path: String,
    pub plain_http: PlainHttp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlainHttp {
    Redirect,
    Refused,
}

/// `expect:` — lists of matchers over the parts of an observation; every matcher must hold.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Expect {
    pub status: Vec<Matcher>,
    pub duration_ms: Vec<Matcher>,
    /// By lower-case header name.
    pub headers: BTreeMap<String, Vec<Matcher>>,
    /// In the order the plan lists them.
    pub json: Vec<(JsonQuery, Vec<Matcher>)>,
    pub body: Vec<Matcher>,
    /// By the name of a fact the kind establishes (`versioning`, `log_lines`).
    pub checks: BTreeMap<String, Vec<Matcher>>,
}

impl Expect {
    /// Whether there is nothing to hold the observation against.
    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
            && self.duration_ms.is_empty()
            && self.headers.is_empty()
            && self.json.is_empty()
            && self.body.is_empty()
            && self.checks.is_empty()
    }
}

/// One expectation about one value. Values are JSON; a number equals a number of the same value
/// whether written as an integer or not. String values may hold templates.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Matcher {
    Equals(Value),
    NotEquals(Value),
    /// A string contains the text; an array contains an equal element; an object has the key.
    Contains(Value),
    NotContains(Value),
    Matches(Pattern),
    Lt(f64),
    Le(f64),
    Gt(f64),
    Ge(f64),
    Exists(bool),
    /// Characters of a string, elements of an array, keys of an object.
    Length(usize),
    OneOf(Vec<Value>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selectors(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn a_location_shows_as_file_line_column() {
        let at = Location { file: PathBuf::from("testplans/a.yaml"), line: 3, column: 7 };
        assert_eq!(at.to_string(), "testplans/a.yaml:3:7");
    }

    #[test]
    fn deployed_selects_every_environment_but_local() {
        assert!(selects(&selectors(&["deployed"]), "staging"));
        assert!(!selects(&selectors(&["deployed"]), "local"));
        assert!(selects(&selectors(&["all"]), "local"));
        assert!(selects(&selectors(&["staging", "local"]), "local"));
        assert!(!selects(&selectors(&["staging"]), "production"));
    }
}
