//! Reading test plans: YAML to the typed model, with `include:`s inlined and every error placed at
//! the node that caused it (`file:line:column: message`, 1-based, as marked_yaml's markers are).
//!
//! Owns: the walk over marked_yaml's node tree (by hand rather than through serde, so that every
//! value, not only the first that fails, has its exact place), the rules a plan must follow
//! (known keys, kinds and matchers; regexes that compile; JSONPaths that parse; Properties 1 to 7;
//! a `{{name}}` only after something defines it; unique plan ids and step names), and `include:`.
//! Must not: run anything, or read anything but plan files and the fragments they include.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode, MarkedSequenceNode};
use marked_yaml::{LoadError, LoaderOptions, Marker, Node};
use regex::Regex;
use serde_json::Value;
use serde_json_path::JsonPath;

use super::expect::{compile_pattern, regex_error, template_names};
use super::model::{
    BUILT_INS, Capture, CaptureSource, Covers, DEFAULT_CERTIFICATE_DAYS, DEFAULT_MIN_HSTS_SECONDS,
    DEFAULT_RETRY_INTERVAL, Expect, HttpBody, HttpSpec, HttpsLiveSpec, IamSpec, JsonQuery, KINDS, Location, LogQuery,
    MATCHERS, Matcher, MonitoringSpec, PROPERTY_COUNT, PathRule, Pattern, PlainHttp, Plan, Retry, RoleName, S3Spec,
    Severity, Step, StepKind, Text, Variable,
};

const PLAN_KEYS: &[&str] = &["id", "title", "covers", "purpose", "environments", "variables", "steps"];
const STEP_KEYS: &[&str] =
    &["name", "kind", "properties", "severity", "skip", "environments", "retry", "capture", "expect"];
const REQUEST_KEYS: &[&str] = &["method", "url", "headers", "json", "body", "follow_redirects"];
const CAPTURE_KEYS: &[&str] = &["json", "pointer", "header", "regex", "secret"];
const EXPECT_KEYS: &[&str] = &["status", "duration_ms", "headers", "json", "body", "checks"];
const HTTP_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The keys each kind adds to a step's own; `None` for a kind that does not exist.
fn kind_keys(kind: &str) -> Option<&'static [&'static str]> {
    let keys: &'static [&'static str] = match kind {
        "http" => &["request"],
        "s3" => &["bucket", "key"],
        "iam" => &["role"],
        "monitoring" => &["logs", "alarms", "dashboard"],
        "https-live" => &["url", "paths", "min_hsts_seconds", "certificate_days"],
        "lambda" | "secrets" | "https-config" => &[],
        _ => return None,
    };
    Some(keys)
}

/// A plan that cannot be loaded, and where. `line` 0 means the whole file (it cannot be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl PlanError {
    pub fn at(at: &Location, message: impl Into<String>) -> Self {
        Self { file: at.file.clone(), line: at.line, column: at.column, message: message.into() }
    }

    fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Self { file: file.to_path_buf(), line: 0, column: 0, message: message.into() }
    }

    pub fn location(&self) -> Location {
        Location { file: self.file.clone(), line: self.line, column: self.column }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)
        }
    }
}

impl std::error::Error for PlanError {}

/// Every `*.yaml` file directly in `dir` (fragments live in a subdirectory), sorted by name; the
/// first error in that order, so that the answer does not depend on the directory's order.
pub fn load_dir(dir: &Path) -> Result<Vec<Plan>, PlanError> {
    let unreadable =
        |error: io::Error| PlanError::whole_file(dir, format!("cannot read the test plan directory: {error}"));
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if path.extension().is_some_and(|extension| extension == "yaml") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    let mut plans = Vec::with_capacity(files.len());
    let mut first_file_of_id: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in files {
        let (plan, id_at) = load_plan(&file)?;
        if let Some(first) = first_file_of_id.get(&plan.id) {
            return Err(PlanError::at(
                &id_at,
                format!("duplicate plan id `{}` (also in {})", plan.id, first.display()),
            ));
        }
        first_file_of_id.insert(plan.id.clone(), file);
        plans.push(plan);
    }
    Ok(plans)
}

/// One plan file; its includes are read relative to its directory.
pub fn load_file(path: &Path) -> Result<Plan, PlanError> {
    load_plan(path).map(|(plan, _)| plan)
}

/// A plan from text, as if read from `file` (which names it in errors and anchors its includes).
pub fn load_str(file: &Path, text: &str) -> Result<Plan, PlanError> {
    plan_from_text(file, text).map(|(plan, _)| plan)
}

/// The plan and where its id is written (a duplicate id is reported there).
fn load_plan(path: &Path) -> Result<(Plan, Location), PlanError> {
    let text = fs::read_to_string(path)
        .map_err(|error| PlanError::whole_file(path, format!("cannot read the plan: {error}")))?;
    plan_from_text(path, &text)
}

fn plan_from_text(file: &Path, text: &str) -> Result<(Plan, Location), PlanError> {
    let root = parse(file, text, TopLevel::Plan)?;
    let mut includes = vec![Visited::of(file)];
    Reader::new(file).plan(&root, &mut includes)
}

/// What a YAML file must hold at its top.
#[derive(Debug, Clone, Copy)]
enum TopLevel {
    Plan,
    Steps,
}

fn parse(file: &Path, text: &str, top: TopLevel) -> Result<Node, PlanError> {
    // Without coercion a quoted "200" stays a string: matchers compare JSON values by type.
    let options = LoaderOptions::default().prevent_coercion(true).error_on_duplicate_keys(true);
    let options = match top {
        TopLevel::Plan => options.toplevel_mapping(),
        TopLevel::Steps => options.toplevel_sequence(),
    };
    marked_yaml::parse_yaml_with_options(0, text, options).map_err(|error| yaml_error(file, &error, top))
}

fn yaml_error(file: &Path, error: &LoadError, top: TopLevel) -> PlanError {
    let wrong_top = match top {
        TopLevel::Plan => "a plan file must hold a YAML mapping",
        TopLevel::Steps => "an included file must hold a YAML list of steps",
    };
    let (marker, message) = match error {
        LoadError::TopLevelMustBeMapping(marker) | LoadError::TopLevelMustBeSequence(marker) => {
            (Some(*marker), wrong_top.to_owned())
        }
        LoadError::UnexpectedAnchor(marker) => (Some(*marker), "YAML anchors and aliases are not supported".to_owned()),
        LoadError::MappingKeyMustBeScalar(marker) => (Some(*marker), "a mapping key must be a plain value".to_owned()),
        LoadError::UnexpectedTag(marker) => (Some(*marker), "YAML tags are not supported".to_owned()),
        LoadError::ScanError(marker, scan) => (Some(*marker), format!("invalid YAML: {}", scan.info())),
        LoadError::DuplicateKey(duplicate) => {
            (duplicate.key.span().start().copied(), format!("duplicate key `{}`", duplicate.key.as_str()))
        }
    };
    let (line, column) = marker.map_or((1, 1), |marker| (marker.line(), marker.column()));
    PlanError { file: file.to_path_buf(), line, column, message }
}

/// A file on the include chain: its identity (to find cycles) and its path as written (to show).
#[derive(Debug)]
struct Visited {
    identity: PathBuf,
    shown: PathBuf,
}

impl Visited {
    fn of(path: &Path) -> Self {
        Self { identity: fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()), shown: path.to_path_buf() }
    }
}

/// A `{{name}}` met while reading a step, checked once the whole plan (includes inlined) is known.
#[derive(Debug)]
struct TemplateUse {
    name: String,
    at: Location,
}

/// A step with what the plan-wide checks need to know about it.
#[derive(Debug)]
struct RawStep {
    step: Step,
    uses: Vec<TemplateUse>,
    captures: Vec<(String, Location)>,
    name_at: Location,
}

/// Reads the nodes of one file (a plan or a fragment), which its locations name.
#[derive(Debug)]
struct Reader {
    file: PathBuf,
    /// Templates met since the current step began.
    uses: Vec<TemplateUse>,
}

impl Reader {
    fn new(file: &Path) -> Self {
        Self { file: file.to_path_buf(), uses: Vec::new() }
    }

    fn plan(&mut self, root: &Node, includes: &mut Vec<Visited>) -> Result<(Plan, Location), PlanError> {
        let map = self.mapping(root, "the plan")?;
        self.keys_allowed(map, PLAN_KEYS, "the plan")?;
        let id_node = self.required(map, "id", "the plan")?;
        let id = self.string(id_node, "`id`")?;
        if !is_plan_id(&id) {
            return Err(self.error(id_node, format!("plan id `{id}` may hold only a-z, 0-9 and `-`")));
        }
        let title_node = self.required(map, "title", "the plan")?;
        let title = self.string(title_node, "`title`")?;
        let covers_node = self.required(map, "covers", "the plan")?;
        let covers = self.covers(covers_node)?;
        let purpose_node = self.required(map, "purpose", "the plan")?;
        let purpose = self.string(purpose_node, "`purpose`")?;
        let environments_node = self.required(map, "environments", "the plan")?;
        let environments = self.strings(environments_node, "`environments`")?;
        if environments.is_empty() {
            return Err(self.error(environments_node, "`environments` must name an environment, `deployed` or `all`"));
        }
        let variables = map.get_node("variables").map(|node| self.variables(node)).transpose()?.unwrap_or_default();
        let steps_node = self.required(map, "steps", "the plan")?;
        let list = self.sequence(steps_node, "`steps`")?;
        let mut steps = Vec::new();
        self.steps(list, includes, &mut steps)?;
        if steps.is_empty() {
            return Err(self.error(steps_node, "`steps` must hold at least one step"));
        }
        check_steps(&variables, &steps)?;
        let steps = steps.into_iter().map(|raw| raw.step).collect();
        let plan = Plan { id, title, covers, purpose, environments, variables, steps, file: self.file.clone() };
        Ok((plan, self.at(id_node)))
    }

    fn covers(&self, node: &Node) -> Result<Covers, PlanError> {
        let map = self.mapping(node, "`covers`")?;
        self.keys_allowed(map, &["requirements", "properties"], "`covers`")?;
        let requirements = map
            .get_node("requirements")
            .map(|node| self.strings(node, "`covers.requirements`"))
            .transpose()?
            .unwrap_or_default();
        let properties = map.get_node("properties").map(|node| self.properties(node)).transpose()?.unwrap_or_default();
        if requirements.is_empty() && properties.is_empty() {
            return Err(self.error(node, "`covers` must name at least one requirement or property"));
        }
        Ok(Covers { requirements, properties })
    }

    fn properties(&self, node: &Node) -> Result<Vec<u8>, PlanError> {
        let list = self.sequence(node, "`properties`")?;
        let mut properties = Vec::with_capacity(list.len());
        for item in list.iter() {
            let number: u64 = self.whole_number(item, "a property")?;
            let property = u8::try_from(number).ok().filter(|property| (1..=PROPERTY_COUNT).contains(property));
            let Some(property) = property else {
                return Err(self.error(
                    item,
                    format!("property {number} does not exist; Properties are numbered 1 to {PROPERTY_COUNT}"),
                ));
            };
            properties.push(property);
        }
        Ok(properties)
    }

    /// Variable values may use built-ins only: variables are rendered before any step runs, in
    /// no particular order.
    fn variables(&mut self, node: &Node) -> Result<BTreeMap<String, Variable>, PlanError> {
        let map = self.mapping(node, "`variables`")?;
        let mut variables = BTreeMap::new();
        for (key, value) in map.iter() {
            let name = key.as_str();
            if !is_identifier(name) {
                return Err(self.error_at_key(key, format!("variable name `{name}` must match [a-z_][a-z0-9_]*")));
            }
            if BUILT_INS.contains(&name) {
                return Err(self.error_at_key(key, format!("variable `{name}` has the name of a built-in")));
            }
            let fields = self.mapping(value, "a variable")?;
            self.keys_allowed(fields, &["value", "secret"], "a variable")?;
            let value_node = self.required(fields, "value", "a variable")?;
            let first_use = self.uses.len();
            let text = self.text(value_node, "`value`")?;
            for template in self.uses.drain(first_use..) {
                if !is_built_in(&template.name) {
                    return Err(PlanError::at(
                        &template.at,
                        format!(
                            "a variable's value may use only built-ins, `outputs.*` and `env.*`, not `{{{{{}}}}}`",
                            template.name
                        ),
                    ));
                }
            }
            let secret = fields.get_node("secret").map(|node| self.boolean(node, "`secret`")).transpose()?;
            variables.insert(name.to_owned(), Variable { value: text, secret: secret.unwrap_or(false) });
        }
        Ok(variables)
    }

    /// Reads a list of steps and `include:` entries into `out`, in order.
    fn steps(
        &mut self,
        list: &MarkedSequenceNode,
        includes: &mut Vec<Visited>,
        out: &mut Vec<RawStep>,
    ) -> Result<(), PlanError> {
        for item in list.iter() {
            let entry = self.mapping(item, "a step")?;
            if entry.get_node("include").is_some() {
                self.include(entry, includes, out)?;
            } else {
                out.push(self.step(entry)?);
            }
        }
        Ok(())
    }

    fn include(
        &self,
        entry: &MarkedMappingNode,
        includes: &mut Vec<Visited>,
        out: &mut Vec<RawStep>,
    ) -> Result<(), PlanError> {
        self.keys_allowed(entry, &["include"], "an `include` entry")?;
        let node = self.required(entry, "include", "an `include` entry")?;
        let relative = self.string(node, "`include`")?;
        let path = self.file.parent().unwrap_or(Path::new("")).join(&relative);
        let text = fs::read_to_string(&path).map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => {
                self.error(node, format!("include `{relative}` not found (looked for {})", path.display()))
            }
            _ => self.error(node, format!("cannot read include `{relative}`: {error}")),
        })?;
        let visited = Visited::of(&path);
        if includes.iter().any(|earlier| earlier.identity == visited.identity) {
            let chain: Vec<String> =
                includes.iter().chain(std::iter::once(&visited)).map(|file| file.shown.display().to_string()).collect();
            return Err(self.error(node, format!("include cycle: {}", chain.join(" → "))));
        }
        let root = parse(&path, &text, TopLevel::Steps)?;
        let mut fragment = Reader::new(&path);
        let Some(list) = root.as_sequence() else {
            // An empty file parses as an empty mapping whatever the top level must be.
            return Err(fragment.error(&root, "an included file must hold a YAML list of steps"));
        };
        includes.push(visited);
        fragment.steps(list, includes, out)?;
        includes.pop();
        Ok(())
    }

    fn step(&mut self, map: &MarkedMappingNode) -> Result<RawStep, PlanError> {
        let at = self.mapping_at(map);
        let first_use = self.uses.len();
        let name_node = self.required(map, "name", "a step")?;
        let name = self.string(name_node, "`name`")?;
        if name.trim().is_empty() {
            return Err(self.error(name_node, "a step's name must not be empty"));
        }
        let kind_node = self.required(map, "kind", "a step")?;
        let kind_name = self.string(kind_node, "`kind`")?;
        let Some(own_keys) = kind_keys(&kind_name) else {
            return Err(self.unknown_kind(kind_node, &kind_name));
        };
        let allowed: Vec<&str> = STEP_KEYS.iter().chain(own_keys).copied().collect();
        let what = format!("a step of kind `{kind_name}`");
        self.keys_allowed(map, &allowed, &what)?;
        let kind = self.kind(&kind_name, kind_node, map, &what)?;
        let properties = map.get_node("properties").map(|node| self.properties(node)).transpose()?.unwrap_or_default();
        let severity = map.get_node("severity").map(|node| self.severity(node)).transpose()?.unwrap_or_default();
        let skip = map.get_node("skip").map(|node| self.string(node, "`skip`")).transpose()?;
        let environments = map.get_node("environments").map(|node| self.strings(node, "`environments`")).transpose()?;
        let retry = map.get_node("retry").map(|node| self.retry(node)).transpose()?;
        let captured = map.get_node("capture").map(|node| self.captures(node)).transpose()?.unwrap_or_default();
        let expect = map.get_node("expect").map(|node| self.expect(node)).transpose()?.unwrap_or_default();
        let mut capture = BTreeMap::new();
        let mut captures = Vec::with_capacity(captured.len());
        for (capture_name, read, place) in captured {
            captures.push((capture_name.clone(), place));
            capture.insert(capture_name, read);
        }
        let step = Step { name, kind, properties, severity, skip, environments, retry, capture, expect, at };
        Ok(RawStep { step, uses: self.uses.split_off(first_use), captures, name_at: self.at(name_node) })
    }

    fn unknown_kind(&self, node: &Node, kind: &str) -> PlanError {
        self.error(node, format!("unknown kind `{kind}`; known kinds: {}", KINDS.join(", ")))
    }

    fn kind(
        &mut self,
        kind: &str,
        kind_node: &Node,
        map: &MarkedMappingNode,
        what: &str,
    ) -> Result<StepKind, PlanError> {
        Ok(match kind {
            "http" => {
                let request = self.required(map, "request", what)?;
                StepKind::Http(self.http_request(request)?)
            }
            "s3" => {
                let bucket = self.required(map, "bucket", what)?;
                let bucket = self.text(bucket, "`bucket`")?;
                let key = map.get_node("key").map(|node| self.text(node, "`key`")).transpose()?;
                StepKind::S3(S3Spec { bucket, key })
            }
            "iam" => {
                let role = self.required(map, "role", what)?;
                match self.string(role, "`role`")?.as_str() {
                    "function" => StepKind::Iam(IamSpec { role: RoleName::Function }),
                    "deploy" => StepKind::Iam(IamSpec { role: RoleName::Deploy }),
                    "execution" => StepKind::Iam(IamSpec { role: RoleName::Execution }),
                    other => {
                        return Err(self
                            .error(role, format!("unknown role `{other}`; known roles: function, deploy, execution")));
                    }
                }
            }
            "monitoring" => StepKind::Monitoring(self.monitoring(map)?),
            "https-live" => StepKind::HttpsLive(self.https_live(map, what)?),
            "lambda" => StepKind::Lambda,
            "secrets" => StepKind::Secrets,
            "https-config" => StepKind::HttpsConfig,
            _ => return Err(self.unknown_kind(kind_node, kind)),
        })
    }

    fn http_request(&mut self, node: &Node) -> Result<HttpSpec, PlanError> {
        let map = self.mapping(node, "`request`")?;
        self.keys_allowed(map, REQUEST_KEYS, "`request`")?;
        let method = match map.get_node("method") {
            Some(method) => self.http_method(method)?,
            None => "GET".to_owned(),
        };
        let url = self.required(map, "url", "`request`")?;
        let url = self.text(url, "`url`")?;
        let mut headers = BTreeMap::new();
        if let Some(node) = map.get_node("headers") {
            let fields = self.mapping(node, "`headers`")?;
            for (name, value) in fields.iter() {
                let value = self.text(value, &format!("header `{}`", name.as_str()))?;
                headers.insert(name.as_str().to_owned(), value);
            }
        }
        let body = match (map.get_node("json"), map.get_node("body")) {
            (Some(_), Some(text)) => {
                return Err(
                    self.error(text, "`json` and `body` exclude each other: `json` sends a document, `body` text")
                );
            }
            (Some(json), None) => Some(HttpBody::Json(self.json_value(json)?)),
            (None, Some(text)) => Some(HttpBody::Text(self.text(text, "`body`")?)),
            (None, None) => None,
        };
        let follow_redirects =
            map.get_node("follow_redirects").map(|node| self.boolean(node, "`follow_redirects`")).transpose()?;
        Ok(HttpSpec { method, url, headers, body, follow_redirects: follow_redirects.unwrap_or(false) })
    }

    fn http_method(&self, node: &Node) -> Result<String, PlanError> {
        let method = self.string(node, "`method`")?.to_ascii_uppercase();
        if HTTP_METHODS.contains(&method.as_str()) {
            Ok(method)
        } else {
            Err(self.error(node, format!("unknown HTTP method `{method}`; known methods: {}", HTTP_METHODS.join(", "))))
        }
    }

    fn monitoring(&mut self, map: &MarkedMappingNode) -> Result<MonitoringSpec, PlanError> {
        let logs = map.get_node("logs").map(|node| self.log_query(node)).transpose()?;
        let alarms = map.get_node("alarms").map(|node| self.boolean(node, "`alarms`")).transpose()?;
        let dashboard = map.get_node("dashboard").map(|node| self.boolean(node, "`dashboard`")).transpose()?;
        Ok(MonitoringSpec { logs, alarms: alarms.unwrap_or(false), dashboard: dashboard.unwrap_or(false) })
    }

    fn log_query(&mut self, node: &Node) -> Result<LogQuery, PlanError> {
        let map = self.mapping(node, "`logs`")?;
        self.keys_allowed(map, &["correlation_id", "contains"], "`logs`")?;
        let correlation_id =
            map.get_node("correlation_id").map(|node| self.text(node, "`correlation_id`")).transpose()?;
        let contains = map.get_node("contains").map(|node| self.text(node, "`contains`")).transpose()?;
        if correlation_id.is_none() && contains.is_none() {
            return Err(self.error(node, "`logs` needs `correlation_id`, `contains` or both"));
        }
        Ok(LogQuery { correlation_id, contains })
    }

    fn https_live(&mut self, map: &MarkedMappingNode, what: &str) -> Result<HttpsLiveSpec, PlanError> {
        let url = self.required(map, "url", what)?;
        let url = self.text(url, "`url`")?;
        let paths = map.get_node("paths").map(|node| self.path_rules(node)).transpose()?.unwrap_or_default();
        let min_hsts_seconds = map
            .get_node("min_hsts_seconds")
            .map(|node| self.whole_number::<u64>(node, "`min_hsts_seconds`"))
            .transpose()?;
        let certificate_days = map
            .get_node("certificate_days")
            .map(|node| self.whole_number::<u32>(node, "`certificate_days`"))
            .transpose()?;
        Ok(HttpsLiveSpec {
            url,
            paths,
            min_hsts_seconds: min_hsts_seconds.unwrap_or(DEFAULT_MIN_HSTS_SECONDS),
            certificate_days: certificate_days.unwrap_or(DEFAULT_CERTIFICATE_DAYS),
        })
    }

    fn path_rules(&self, node: &Node) -> Result<Vec<PathRule>, PlanError> {
        let list = self.sequence(node, "`paths`")?;
        list.iter().map(|item| self.path_rule(item)).collect()
    }

    fn path_rule(&self, node: &Node) -> Result<PathRule, PlanError> {
        let map = self.mapping(node, "a path rule")?;
        self.keys_allowed(map, &["path", "plain_http"], "a path rule")?;
        let path_node = self.required(map, "path", "a path rule")?;
        let path = self.string(path_node, "`path`")?;
        if !path.starts_with('/') {
            return Err(self.error(path_node, format!("a path starts with `/`, unlike `{path}`")));
        }
        let plain_node = self.required(map, "plain_http", "a path rule")?;
        let plain_http = match self.string(plain_node, "`plain_http`")?.as_str() {
            "redirect" => PlainHttp::Redirect,
            "refused" => PlainHttp::Refused,
            other => {
                return Err(self.error(plain_node, format!("`plain_http` is `redirect` or `refused`, not `{other}`")));
            }
        };
        Ok(PathRule { path, plain_http })
    }

    fn severity(&self, node: &Node) -> Result<Severity, PlanError> {
        match self.string(node, "`severity`")?.as_str() {
            "fail" => Ok(Severity::Fail),
            "warn" => Ok(Severity::Warn),
            other => Err(self.error(node, format!("`severity` is `fail` or `warn`, not `{other}`"))),
        }
    }

    fn retry(&mut self, node: &Node) -> Result<Retry, PlanError> {
        let map = self.mapping(node, "`retry`")?;
        self.keys_allowed(map, &["attempts", "interval", "until"], "`retry`")?;
        let attempts_node = self.required(map, "attempts", "`retry`")?;
        let attempts: u32 = self.whole_number(attempts_node, "`retry.attempts`")?;
        if attempts == 0 {
            return Err(self.error(attempts_node, "`retry.attempts` must be at least 1"));
        }
        let interval = match map.get_node("interval") {
            Some(node) => {
                let text = self.string(node, "`retry.interval`")?;
                humantime::parse_duration(&text)
                    .map_err(|error| self.error(node, format!("invalid interval `{text}`: {error}")))?
            }
            None => DEFAULT_RETRY_INTERVAL,
        };
        let until = map.get_node("until").map(|node| self.expect(node)).transpose()?;
        Ok(Retry { attempts, interval, until })
    }

    /// Each capture with the place of its name.
    fn captures(&self, node: &Node) -> Result<Vec<(String, Capture, Location)>, PlanError> {
        let map = self.mapping(node, "`capture`")?;
        let mut captures = Vec::with_capacity(map.len());
        for (key, value) in map.iter() {
            let name = key.as_str();
            if !is_identifier(name) {
                return Err(self.error_at_key(key, format!("capture name `{name}` must match [a-z_][a-z0-9_]*")));
            }
            let fields = self.mapping(value, "a capture")?;
            self.keys_allowed(fields, CAPTURE_KEYS, "a capture")?;
            let mut source = None;
            for (field, field_value) in fields.iter() {
                let read = match field.as_str() {
                    "json" => CaptureSource::Json(self.json_query(field_value, "`json`")?),
                    "pointer" => CaptureSource::Pointer(self.json_pointer(field_value)?),
                    "header" => CaptureSource::Header(self.string(field_value, "`header`")?.to_ascii_lowercase()),
                    "regex" => CaptureSource::Regex(self.capture_pattern(field_value)?),
                    _ => continue,
                };
                if source.is_some() {
                    return Err(
                        self.error_at_key(field, "a capture has one source: `json`, `pointer`, `header` or `regex`")
                    );
                }
                source = Some(read);
            }
            let Some(source) = source else {
                return Err(self.error(value, "a capture needs a source: `json`, `pointer`, `header` or `regex`"));
            };
            let secret = fields.get_node("secret").map(|node| self.boolean(node, "`secret`")).transpose()?;
            let capture = Capture { source, secret: secret.unwrap_or(false) };
            captures.push((name.to_owned(), capture, self.key_at(key)));
        }
        Ok(captures)
    }

    fn json_query(&self, node: &Node, what: &str) -> Result<JsonQuery, PlanError> {
        let source = self.string(node, what)?;
        let path = JsonPath::parse(&source)
            .map_err(|error| self.error(node, format!("invalid JSONPath `{source}`: {error}")))?;
        Ok(JsonQuery { source, path })
    }

    fn json_pointer(&self, node: &Node) -> Result<String, PlanError> {
        let pointer = self.string(node, "`pointer`")?;
        if pointer.is_empty() || pointer.starts_with('/') {
            Ok(pointer)
        } else {
            Err(self.error(node, format!("a JSON pointer is empty or starts with `/`, unlike `{pointer}`")))
        }
    }

    /// A capture's regex: no templates (it reads a value, it does not compare one).
    fn capture_pattern(&self, node: &Node) -> Result<Pattern, PlanError> {
        let source = self.string(node, "`regex`")?;
        let regex = Regex::new(&source)
            .map_err(|error| self.error(node, format!("invalid regex `{source}`: {}", regex_error(&error))))?;
        Ok(Pattern { source, regex })
    }

    /// A `matches:` regex, whose templates are checked like any string's; until they are
    /// rendered each matches its own text.
    fn matcher_pattern(&mut self, node: &Node, what: &str) -> Result<Pattern, PlanError> {
        let source = self.string(node, what)?;
        let at = self.at(node);
        self.record_templates(&source, &at)?;
        let regex = compile_pattern(&source, &|name| Ok(format!("{{{{{name}}}}}")))
            .map_err(|error| PlanError::at(&at, format!("invalid regex `{source}`: {error}")))?;
        Ok(Pattern { source, regex })
    }

    fn expect(&mut self, node: &Node) -> Result<Expect, PlanError> {
        let map = self.mapping(node, "`expect`")?;
        self.keys_allowed(map, EXPECT_KEYS, "`expect`")?;
        let mut expect = Expect::default();
        for (key, value) in map.iter() {
            match key.as_str() {
                "status" => expect.status = self.matchers(value, "`status`")?,
                "duration_ms" => expect.duration_ms = self.matchers(value, "`duration_ms`")?,
                "body" => expect.body = self.matchers(value, "`body`")?,
                "headers" => {
                    let by_name = self.named_matchers(value, "`headers`")?;
                    expect.headers =
                        by_name.into_iter().map(|(name, list)| (name.to_ascii_lowercase(), list)).collect();
                }
                "checks" => expect.checks = self.named_matchers(value, "`checks`")?,
                "json" => expect.json = self.json_expectations(value)?,
                // keys_allowed has refused every other key.
                _ => {}
            }
        }
        Ok(expect)
    }

    fn named_matchers(&mut self, node: &Node, what: &str) -> Result<BTreeMap<String, Vec<Matcher>>, PlanError> {
        let map = self.mapping(node, what)?;
        let mut named = BTreeMap::new();
        for (name, list) in map.iter() {
            let matchers = self.matchers(list, &format!("`{}`", name.as_str()))?;
            named.insert(name.as_str().to_owned(), matchers);
        }
        Ok(named)
    }

    fn json_expectations(&mut self, node: &Node) -> Result<Vec<(JsonQuery, Vec<Matcher>)>, PlanError> {
        let map = self.mapping(node, "`json`")?;
        let mut expectations = Vec::with_capacity(map.len());
        for (key, list) in map.iter() {
            let source = key.as_str().to_owned();
            let path = JsonPath::parse(&source)
                .map_err(|error| self.error_at_key(key, format!("invalid JSONPath `{source}`: {error}")))?;
            let matchers = self.matchers(list, &format!("`{source}`"))?;
            expectations.push((JsonQuery { source, path }, matchers));
        }
        Ok(expectations)
    }

    fn matchers(&mut self, node: &Node, what: &str) -> Result<Vec<Matcher>, PlanError> {
        let list = self.sequence(node, &format!("the matchers of {what}"))?;
        list.iter().map(|item| self.matcher(item)).collect()
    }

    fn matcher(&mut self, node: &Node) -> Result<Matcher, PlanError> {
        const SHAPE: &str = "a matcher is a mapping with one key, such as `{equals: 200}`";
        let Node::Mapping(map) = node else {
            return Err(self.error(node, SHAPE));
        };
        let mut entries = map.iter();
        let (Some((key, value)), None) = (entries.next(), entries.next()) else {
            return Err(self.error(node, SHAPE));
        };
        let what = format!("`{}`", key.as_str());
        Ok(match key.as_str() {
            "equals" => Matcher::Equals(self.json_value(value)?),
            "not_equals" => Matcher::NotEquals(self.json_value(value)?),
            "contains" => Matcher::Contains(self.json_value(value)?),
            "not_contains" => Matcher::NotContains(self.json_value(value)?),
            "matches" => Matcher::Matches(self.matcher_pattern(value, &what)?),
            "lt" => Matcher::Lt(self.number(value, &what)?),
            "le" => Matcher::Le(self.number(value, &what)?),
            "gt" => Matcher::Gt(self.number(value, &what)?),
            "ge" => Matcher::Ge(self.number(value, &what)?),
            "exists" => Matcher::Exists(self.boolean(value, &what)?),
            "length" => Matcher::Length(self.whole_number(value, &what)?),
            "one_of" => {
                let options = self.sequence(value, &what)?;
                Matcher::OneOf(options.iter().map(|option| self.json_value(option)).collect::<Result<_, _>>()?)
            }
            other => {
                return Err(self
                    .error_at_key(key, format!("unknown matcher `{other}`; known matchers: {}", MATCHERS.join(", "))));
            }
        })
    }

    /// A template string: its `{{…}}` must be well formed; the names are checked with the plan.
    fn text(&mut self, node: &Node, what: &str) -> Result<Text, PlanError> {
        let template = self.string(node, what)?;
        let at = self.at(node);
        self.record_templates(&template, &at)?;
        Ok(Text { template, at })
    }

    fn record_templates(&mut self, text: &str, at: &Location) -> Result<(), PlanError> {
        let names = template_names(text).map_err(|error| PlanError::at(at, error))?;
        self.uses.extend(names.into_iter().map(|name| TemplateUse { name: name.to_owned(), at: at.clone() }));
        Ok(())
    }

    /// Any YAML as JSON: plain scalars become null, booleans and numbers where they read as
    /// such; quoted ones stay strings. Strings may hold templates.
    fn json_value(&mut self, node: &Node) -> Result<Value, PlanError> {
        Ok(match node {
            Node::Scalar(scalar) => {
                let value = scalar_value(scalar);
                if let Value::String(text) = &value {
                    let at = self.at(node);
                    self.record_templates(text, &at)?;
                }
                value
            }
            Node::Sequence(items) => {
                Value::Array(items.iter().map(|item| self.json_value(item)).collect::<Result<_, _>>()?)
            }
            Node::Mapping(fields) => {
                let mut object = serde_json::Map::new();
                for (key, field) in fields.iter() {
                    object.insert(key.as_str().to_owned(), self.json_value(field)?);
                }
                Value::Object(object)
            }
        })
    }

    // Generic node helpers: each names the place of the node it refuses.

    fn mapping<'n>(&self, node: &'n Node, what: &str) -> Result<&'n MarkedMappingNode, PlanError> {
        node.as_mapping()
            .ok_or_else(|| self.error(node, format!("expected a mapping for {what}, found {}", describe(node))))
    }

    fn sequence<'n>(&self, node: &'n Node, what: &str) -> Result<&'n MarkedSequenceNode, PlanError> {
        node.as_sequence()
            .ok_or_else(|| self.error(node, format!("expected a list for {what}, found {}", describe(node))))
    }

    /// Any scalar but null, as written.
    fn string(&self, node: &Node, what: &str) -> Result<String, PlanError> {
        if let Node::Scalar(scalar) = node
            && !is_null(scalar)
        {
            return Ok(scalar.as_str().to_owned());
        }
        Err(self.error(node, format!("expected a string for {what}, found {}", describe(node))))
    }

    fn strings(&self, node: &Node, what: &str) -> Result<Vec<String>, PlanError> {
        let list = self.sequence(node, what)?;
        list.iter().map(|item| self.string(item, what)).collect()
    }

    fn boolean(&self, node: &Node, what: &str) -> Result<bool, PlanError> {
        if let Node::Scalar(scalar) = node
            && let Some(value) = scalar.as_bool()
        {
            return Ok(value);
        }
        Err(self.error(node, format!("expected true or false for {what}, found {}", describe(node))))
    }

    fn whole_number<T: FromStr>(&self, node: &Node, what: &str) -> Result<T, PlanError> {
        if let Node::Scalar(scalar) = node
            && scalar.may_coerce()
            && let Ok(number) = scalar.as_str().parse::<T>()
        {
            return Ok(number);
        }
        Err(self.error(node, format!("expected a whole number for {what}, found {}", describe(node))))
    }

    fn number(&self, node: &Node, what: &str) -> Result<f64, PlanError> {
        if let Node::Scalar(scalar) = node
            && scalar.may_coerce()
            && let Ok(number) = scalar.as_str().parse::<f64>()
            && number.is_finite()
        {
            return Ok(number);
        }
        Err(self.error(node, format!("expected a number for {what}, found {}", describe(node))))
    }

    fn keys_allowed(&self, map: &MarkedMappingNode, allowed: &[&str], what: &str) -> Result<(), PlanError> {
        match map.keys().find(|key| !allowed.contains(&key.as_str())) {
            Some(key) => Err(self.error_at_key(
                key,
                format!("unknown key `{}` in {what}; expected one of: {}", key.as_str(), allowed.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn required<'n>(&self, map: &'n MarkedMappingNode, key: &str, what: &str) -> Result<&'n Node, PlanError> {
        map.get_node(key).ok_or_else(|| PlanError::at(&self.mapping_at(map), format!("missing key `{key}` in {what}")))
    }

    // Locations.

    fn location(&self, marker: Option<&Marker>) -> Location {
        let (line, column) = marker.map_or((1, 1), |marker| (marker.line(), marker.column()));
        Location { file: self.file.clone(), line, column }
    }

    fn at(&self, node: &Node) -> Location {
        match node {
            Node::Mapping(map) => self.mapping_at(map),
            other => self.location(other.span().start()),
        }
    }

    /// A block mapping's own marker is at the `:` after its first key; a reader sees it start at
    /// that key.
    fn mapping_at(&self, map: &MarkedMappingNode) -> Location {
        let first_key = map.keys().next().and_then(|key| key.span().start());
        self.location(first_key.or(map.span().start()))
    }

    fn key_at(&self, key: &MarkedScalarNode) -> Location {
        self.location(key.span().start())
    }

    fn error(&self, node: &Node, message: impl Into<String>) -> PlanError {
        PlanError::at(&self.at(node), message)
    }

    fn error_at_key(&self, key: &MarkedScalarNode, message: impl Into<String>) -> PlanError {
        PlanError::at(&self.key_at(key), message)
    }
}

/// The checks that need the whole plan, includes inlined: unique step names, and each `{{name}}`
/// defined before it is used.
fn check_steps(variables: &BTreeMap<String, Variable>, steps: &[RawStep]) -> Result<(), PlanError> {
    let captured_anywhere: BTreeSet<&str> =
        steps.iter().flat_map(|raw| raw.captures.iter().map(|(name, _)| name.as_str())).collect();
    let mut first_step_named: BTreeMap<&str, &Location> = BTreeMap::new();
    let mut captured: BTreeSet<&str> = BTreeSet::new();
    for raw in steps {
        let name = raw.step.name.as_str();
        if let Some(first) = first_step_named.get(name) {
            return Err(PlanError::at(&raw.name_at, format!("duplicate step name `{name}` (first at {first})")));
        }
        first_step_named.insert(name, &raw.step.at);
        for template in &raw.uses {
            let name = template.name.as_str();
            if is_built_in(name) || variables.contains_key(name) || captured.contains(name) {
                continue;
            }
            let message = if captured_anywhere.contains(name) {
                format!("capture `{name}` is used before any step captures it")
            } else {
                format!("`{{{{{name}}}}}` is neither a variable, a built-in nor a capture of an earlier step")
            };
            return Err(PlanError::at(&template.at, message));
        }
        for (capture, at) in &raw.captures {
            if is_built_in(capture) {
                return Err(PlanError::at(at, format!("capture `{capture}` has the name of a built-in")));
            }
            if variables.contains_key(capture) {
                return Err(PlanError::at(at, format!("capture `{capture}` has the name of a plan variable")));
            }
            captured.insert(capture.as_str());
        }
    }
    Ok(())
}

/// A built-in name; `outputs.*` and `env.*` are checked when the plan runs.
fn is_built_in(name: &str) -> bool {
    BUILT_INS.contains(&name)
        || ["outputs.", "env."].iter().any(|prefix| name.strip_prefix(*prefix).is_some_and(|rest| !rest.is_empty()))
}

fn is_plan_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `[a-z_][a-z0-9_]*`: the names of variables and captures.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_null(scalar: &MarkedScalarNode) -> bool {
    scalar.may_coerce() && matches!(scalar.as_str(), "" | "~" | "null" | "Null" | "NULL")
}

fn scalar_value(scalar: &MarkedScalarNode) -> Value {
    if !scalar.may_coerce() {
        return Value::String(scalar.as_str().to_owned());
    }
    if is_null(scalar) {
        return Value::Null;
    }
    if let Some(boolean) = scalar.as_bool() {
        return Value::Bool(boolean);
    }
    if let Some(integer) = scalar.as_i64() {
        return Value::from(integer);
    }
    if let Some(integer) = scalar.as_u64() {
        return Value::from(integer);
    }
    if let Some(float) = scalar.as_f64()
        && let Some(number) = serde_json::Number::from_f64(float)
    {
        return Value::Number(number);
    }
    Value::String(scalar.as_str().to_owned())
}

/// What a node is, for "expected …, found …".
fn describe(node: &Node) -> String {
    const SHOWN_CHARS: usize = 40;
    match node {
        Node::Mapping(_) => "a mapping".to_owned(),
        Node::Sequence(_) => "a list".to_owned(),
        Node::Scalar(scalar) if is_null(scalar) => "nothing".to_owned(),
        Node::Scalar(scalar) => {
            let text: String = scalar.as_str().chars().take(SHOWN_CHARS).collect();
            let ellipsis = if scalar.as_str().chars().count() > SHOWN_CHARS { "…" } else { "" };
            if scalar.may_coerce() { format!("`{text}{ellipsis}`") } else { format!("`\"{text}{ellipsis}\"`") }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Eight lines; the steps a test adds start on line 9.
    const HEAD: &str = "\
id: sample
title: A sample
covers:
  requirements: [\"1.1\"]
  properties: [1]
purpose: Shows the format.
environments: [all]
steps:
";

    const VALID: &str = "\
id: sample
title: A sample
covers:
  requirements: [\"1.1\", \"2.4\"]
  properties: [1, 2]
purpose: >-
  Shows the format.
environments: [all]
variables:
  marker: {value: \"lighthouse-{{run_id}}\"}
  api_key: {value: \"{{env.OPENAI_API_KEY}}\", secret: true}
steps:
  - name: the first message opens a session
    kind: http
    properties: [1]
    request:
      method: post
      url: \"{{api}}/api/chat\"
      headers: {content-type: application/json, authorization: \"Bearer {{api_key}}\"}
      json: {message: \"remember {{marker}}\", count: 2, quoted: \"2\", flag: true, none: null}
    capture:
      session: {json: \"$.session_id\"}
      token: {header: X-Token, secret: true}
    expect:
      status: [{equals: 200}]
      duration_ms: [{lt: 5000}]
      headers: {Content-Type: [{contains: application/json}]}
      json:
        \"$.session_id\": [{exists: true}, {matches: \"^{{session_prefix}}\"}]
        \"$.messages\": [{length: 2}, {one_of: [[], [1]]}]
  - name: the session is stored
    kind: s3
    severity: warn
    environments: [deployed]
    retry: {attempts: 3, interval: 2s}
    bucket: \"{{outputs.MemoryBucketName}}\"
    key: \"sessions/{{session}}.json\"
    expect:
      checks:
        exists: [{equals: true}]
      body: [{contains: \"{{marker}}\"}]
  - name: HTTPS everywhere
    kind: https-live
    skip: not yet
    url: \"{{site}}\"
    paths:
      - {path: /, plain_http: redirect}
      - {path: /api/health, plain_http: refused}
  - name: logs
    kind: monitoring
    logs: {correlation_id: \"{{session}}\"}
    alarms: true
";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&path, text).unwrap();
        path
    }

    /// The error of a plan made of [`HEAD`] and `steps`, as text.
    fn error_of(steps: &str) -> String {
        load_str(Path::new("plan.yaml"), &format!("{HEAD}{steps}")).unwrap_err().to_string()
    }

    #[test]
    fn a_valid_plan_loads() {
        let text = VALID.replace("{{session_prefix}}", "[0-9a-f]");
        let plan = load_str(Path::new("testplans/sample.yaml"), &text).unwrap();
        assert_eq!(plan.id, "sample");
        assert_eq!(plan.covers.requirements, ["1.1", "2.4"]);
        assert_eq!(plan.covers.properties, [1, 2]);
        assert_eq!(plan.purpose, "Shows the format.");
        assert!(plan.variables["api_key"].secret);
        assert_eq!(plan.variables["marker"].value.template, "lighthouse-{{run_id}}");
        assert_eq!(plan.steps.len(), 4);

        let first = &plan.steps[0];
        assert_eq!(first.at.to_string(), "testplans/sample.yaml:13:5");
        let StepKind::Http(http) = &first.kind else { panic!("{:?}", first.kind) };
        assert_eq!(http.method, "POST");
        assert_eq!(http.url.template, "{{api}}/api/chat");
        assert_eq!(http.url.at.to_string(), "testplans/sample.yaml:18:12");
        assert_eq!(http.headers["authorization"].template, "Bearer {{api_key}}");
        let Some(HttpBody::Json(body)) = &http.body else { panic!("{:?}", http.body) };
        assert_eq!(
            body,
            &serde_json::json!({"message": "remember {{marker}}", "count": 2, "quoted": "2", "flag": true, "none": null})
        );
        assert!(first.capture["token"].secret);
        assert!(matches!(&first.capture["token"].source, CaptureSource::Header(name) if name == "x-token"));
        assert!(
            matches!(&first.capture["session"].source, CaptureSource::Json(query) if query.source == "$.session_id")
        );
        assert!(matches!(first.expect.status.as_slice(), [Matcher::Equals(Value::Number(_))]));
        assert!(first.expect.headers.contains_key("content-type"));
        assert_eq!(first.expect.json.len(), 2);
        assert_eq!(first.expect.json[1].0.source, "$.messages");

        let stored = &plan.steps[1];
        assert_eq!(stored.severity, Severity::Warn);
        assert_eq!(stored.environments.as_deref(), Some(&["deployed".to_owned()][..]));
        let retry = stored.retry.as_ref().unwrap();
        assert_eq!((retry.attempts, retry.interval), (3, std::time::Duration::from_secs(2)));
        assert!(retry.until.is_none());
        assert!(
            matches!(&stored.kind, StepKind::S3(s3) if s3.key.as_ref().is_some_and(|key| key.template == "sessions/{{session}}.json"))
        );

        let https = &plan.steps[2];
        assert_eq!(https.skip.as_deref(), Some("not yet"));
        let StepKind::HttpsLive(live) = &https.kind else { panic!("{:?}", https.kind) };
        assert_eq!(live.paths[1], PathRule { path: "/api/health".to_owned(), plain_http: PlainHttp::Refused });
        assert_eq!(live.min_hsts_seconds, DEFAULT_MIN_HSTS_SECONDS);

        let StepKind::Monitoring(monitoring) = &plan.steps[3].kind else { panic!("{:?}", plan.steps[3].kind) };
        assert!(monitoring.alarms && !monitoring.dashboard);
    }

    #[test]
    fn the_repository_plans_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testplans");
        let plans = load_dir(&dir).unwrap_or_else(|error| panic!("{error}"));
        assert!(!plans.is_empty());
    }

    #[test]
    fn an_unknown_key_is_reported_at_the_key() {
        let steps = "  - name: bucket exists\n    kind: s3\n    bukket: b\n";
        assert_eq!(
            error_of(steps),
            "plan.yaml:11:5: unknown key `bukket` in a step of kind `s3`; expected one of: name, kind, properties, \
             severity, skip, environments, retry, capture, expect, bucket, key"
        );
        let top = load_str(Path::new("plan.yaml"), &format!("{HEAD}  - {{name: x, kind: lambda}}\nowner: me\n"));
        assert_eq!(
            top.unwrap_err().to_string(),
            "plan.yaml:10:1: unknown key `owner` in the plan; expected one of: id, title, covers, purpose, \
             environments, variables, steps"
        );
    }

    #[test]
    fn an_unknown_kind_lists_the_known_ones() {
        assert_eq!(
            error_of("  - name: x\n    kind: ftp\n"),
            "plan.yaml:10:11: unknown kind `ftp`; known kinds: http, s3, iam, https-live, https-config, secrets, \
             monitoring, lambda"
        );
    }

    #[test]
    fn an_iam_step_names_one_of_the_known_roles() {
        for (name, role) in
            [("function", RoleName::Function), ("deploy", RoleName::Deploy), ("execution", RoleName::Execution)]
        {
            let steps = format!("  - name: x\n    kind: iam\n    role: {name}\n");
            let plan = load_str(Path::new("plan.yaml"), &format!("{HEAD}{steps}")).unwrap();
            assert!(
                matches!(&plan.steps[0].kind, StepKind::Iam(spec) if spec.role == role),
                "{:?}",
                plan.steps[0].kind
            );
        }
        assert_eq!(
            error_of("  - name: x\n    kind: iam\n    role: admin\n"),
            "plan.yaml:11:11: unknown role `admin`; known roles: function, deploy, execution"
        );
    }

    #[test]
    fn an_unknown_matcher_is_reported_at_its_key() {
        let steps = "  - name: x\n    kind: lambda\n    expect:\n      checks:\n        alias_version: [{equal: 3}]\n";
        assert_eq!(
            error_of(steps),
            "plan.yaml:13:26: unknown matcher `equal`; known matchers: equals, not_equals, contains, \
             not_contains, matches, lt, le, gt, ge, exists, length, one_of"
        );
        let two_keys = "  - name: x\n    kind: lambda\n    expect:\n      checks:\n        v: [{equals: 3, lt: 4}]\n";
        assert_eq!(error_of(two_keys), "plan.yaml:13:14: a matcher is a mapping with one key, such as `{equals: 200}`");
    }

    #[test]
    fn a_regex_that_does_not_compile_is_an_error() {
        let steps = "  - name: x\n    kind: http\n    request: {url: \"{{api}}/\"}\n    expect:\n      body: [{matches: \"a(\"}]\n";
        assert_eq!(error_of(steps), "plan.yaml:13:24: invalid regex `a(`: unclosed group");
        let capture =
            "  - name: x\n    kind: http\n    request: {url: \"{{api}}/\"}\n    capture:\n      id: {regex: \"(\"}\n";
        assert_eq!(error_of(capture), "plan.yaml:13:19: invalid regex `(`: unclosed group");
    }

    #[test]
    fn a_jsonpath_that_does_not_parse_is_reported_at_its_key() {
        let steps = "  - name: x\n    kind: http\n    request: {url: \"{{api}}/\"}\n    expect:\n      json:\n        foo: [{exists: true}]\n";
        let error = error_of(steps);
        assert!(error.starts_with("plan.yaml:14:9: invalid JSONPath `foo`: "), "{error}");
    }

    #[test]
    fn a_capture_used_before_it_is_defined_is_an_error() {
        let steps = "  - name: too early\n    kind: http\n    request: {url: \"{{api}}/{{session}}\"}\n  - name: captures\n    kind: http\n    request: {url: \"{{api}}/\"}\n    capture:\n      session: {json: \"$.id\"}\n";
        assert_eq!(error_of(steps), "plan.yaml:11:20: capture `session` is used before any step captures it");
        let unknown = "  - name: x\n    kind: s3\n    bucket: \"{{nope}}\"\n";
        assert_eq!(
            error_of(unknown),
            "plan.yaml:11:13: `{{nope}}` is neither a variable, a built-in nor a capture of an earlier step"
        );
    }

    #[test]
    fn other_invalid_values_are_reported_where_they_are() {
        assert_eq!(
            error_of("  - name: x\n    kind: lambda\n    properties: [8]\n"),
            "plan.yaml:11:18: property 8 does not exist; Properties are numbered 1 to 7"
        );
        assert_eq!(
            error_of("  - name: x\n    kind: lambda\n    retry: {attempts: 0}\n"),
            "plan.yaml:11:23: `retry.attempts` must be at least 1"
        );
        assert!(
            error_of("  - name: x\n    kind: lambda\n    retry: {attempts: 2, interval: soon}\n")
                .starts_with("plan.yaml:11:36: invalid interval `soon`: "),
        );
        let until = error_of(
            "  - name: x\n    kind: lambda\n    retry: {attempts: 2, until: {checks: {log_lines: [{bigger: 1}]}}}\n",
        );
        assert!(until.starts_with("plan.yaml:11:") && until.contains("bigger"), "{until}");
        assert_eq!(error_of("  - kind: lambda\n"), "plan.yaml:9:5: missing key `name` in a step");
        assert_eq!(
            error_of("  - name: x\n    kind: lambda\n  - name: x\n    kind: secrets\n"),
            "plan.yaml:11:11: duplicate step name `x` (first at plan.yaml:9:5)"
        );
        assert_eq!(
            error_of("  - name: x\n    kind: lambda\n    severity: fatal\n"),
            "plan.yaml:11:15: `severity` is `fail` or `warn`, not `fatal`"
        );
        assert_eq!(
            error_of("  - name: x\n    kind: lambda\n    expect:\n      status: [{lt: \"5\"}]\n"),
            "plan.yaml:12:21: expected a number for `lt`, found `\"5\"`"
        );
    }

    #[test]
    fn an_error_inside_an_included_file_is_reported_in_that_file() {
        let dir = tempfile::tempdir().unwrap();
        let plan = write(dir.path(), "plan.yaml", &format!("{HEAD}  - include: fragments/bad.yaml\n"));
        let fragment = write(
            dir.path(),
            "fragments/bad.yaml",
            "# A step with a key no kind has.\n- name: fragment step\n  kind: lambda\n  colour: red\n",
        );
        assert_eq!(
            load_file(&plan).unwrap_err().to_string(),
            format!(
                "{}:4:3: unknown key `colour` in a step of kind `lambda`; expected one of: name, kind, \
                 properties, severity, skip, environments, retry, capture, expect",
                fragment.display()
            )
        );
    }

    #[test]
    fn included_steps_are_inlined_and_their_captures_count() {
        let dir = tempfile::tempdir().unwrap();
        let plan = write(
            dir.path(),
            "plan.yaml",
            &format!(
                "{HEAD}  - include: fragments/open.yaml\n  - name: uses the session\n    kind: s3\n    bucket: \"b-{{{{session}}}}\"\n"
            ),
        );
        let fragment = write(
            dir.path(),
            "fragments/open.yaml",
            "- include: nested.yaml\n- name: opens\n  kind: http\n  request: {url: \"{{api}}/\"}\n  capture:\n    session: {json: \"$.id\"}\n",
        );
        write(dir.path(), "fragments/nested.yaml", "- name: nested\n  kind: lambda\n");
        let plan = load_file(&plan).unwrap();
        let names: Vec<&str> = plan.steps.iter().map(|step| step.name.as_str()).collect();
        assert_eq!(names, ["nested", "opens", "uses the session"]);
        assert_eq!(plan.steps[1].at, Location { file: fragment, line: 2, column: 3 });
    }

    #[test]
    fn an_include_cycle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let plan = write(dir.path(), "plan.yaml", &format!("{HEAD}  - include: fragments/a.yaml\n"));
        write(dir.path(), "fragments/a.yaml", "- include: b.yaml\n");
        let b = write(dir.path(), "fragments/b.yaml", "- include: a.yaml\n");
        let error = load_file(&plan).unwrap_err().to_string();
        assert!(error.starts_with(&format!("{}:1:12: include cycle: ", b.display())), "{error}");
        assert!(error.ends_with("a.yaml"), "{error}");
        let missing = write(dir.path(), "missing.yaml", &format!("{HEAD}  - include: fragments/none.yaml\n"));
        let error = load_file(&missing).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}:9:14: include `fragments/none.yaml` not found", missing.display())),
            "{error}"
        );
    }

    #[test]
    fn a_duplicate_plan_id_is_reported_at_the_second() {
        let dir = tempfile::tempdir().unwrap();
        let step = "  - name: x\n    kind: lambda\n";
        let first = write(dir.path(), "a.yaml", &format!("{HEAD}{step}"));
        let second = write(dir.path(), "b.yaml", &format!("{HEAD}{step}"));
        write(dir.path(), "fragments/not-a-plan.yaml", "- name: y\n  kind: lambda\n");
        write(dir.path(), "notes.txt", "not a plan");
        assert_eq!(
            load_dir(dir.path()).unwrap_err().to_string(),
            format!("{}:1:5: duplicate plan id `sample` (also in {})", second.display(), first.display())
        );
        fs::remove_file(second).unwrap();
        assert_eq!(load_dir(dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn invalid_yaml_is_reported_with_its_place() {
        let error = load_str(Path::new("plan.yaml"), "id: [unclosed\n").unwrap_err();
        assert_eq!(error.file, Path::new("plan.yaml"));
        assert!(error.line >= 1 && error.message.starts_with("invalid YAML: "), "{error}");
        let duplicate = load_str(Path::new("plan.yaml"), "id: a\nid: b\n").unwrap_err();
        assert_eq!(duplicate.to_string(), "plan.yaml:2:1: duplicate key `id`");
        let unreadable = load_file(Path::new("/nonexistent/plan.yaml")).unwrap_err();
        assert!(unreadable.to_string().starts_with("/nonexistent/plan.yaml: cannot read the plan: "), "{unreadable}");
    }
}
