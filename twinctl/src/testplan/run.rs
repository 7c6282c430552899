//! The runner of `twinctl verify`: the plans' steps, in order, against one environment. Each
//! step's templates are rendered from the built-ins (`run_id`, `environment`, `api`, `site`,
//! `outputs.*`), the plan's variables and earlier steps' captures; its kind observes; its
//! expectations and the kind's findings decide; `retry:` reruns it until they hold.
//!
//! A step that cannot apply to the environment is skipped with the reason, never passed. Every
//! reason is redacted of secret variables and captures before it is reported.
//! Must not: print (the command does), or change the environment beyond what a step's own
//! request does (a chat writes a conversation, as a user would).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::expect::{self, Vars};
use super::kinds;
use super::model::{HttpBody, PlainHttp, Plan, RoleName, Severity, Step, StepKind};
use super::observation::{FindingSeverity, Observation};
use super::report::{Outcome, StepResult, VerifyReport};
use crate::error::Result;
use crate::target::Target;

/// Where the environment answers: the API, the site over HTTPS, the same host over plain HTTP,
/// and (locally) the CA that signed the HTTPS certificate.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub api: String,
    pub site: String,
    pub site_plain_http: String,
    pub ca_pem: Option<String>,
}

impl Endpoints {
    /// A deployed environment: everything through the distribution (`SiteUrl`).
    pub fn deployed(site_url: &str) -> Self {
        let site = site_url.trim_end_matches('/').to_owned();
        let plain = site.replacen("https://", "http://", 1);
        Self { api: site.clone(), site, site_plain_http: plain, ca_pem: None }
    }
}

/// Runs `plans` against `target`; `progress` is told each step's name as it starts.
pub async fn run(
    target: &Target,
    plans: &[Plan],
    endpoints: &Endpoints,
    progress: &dyn Fn(&str),
) -> Result<VerifyReport> {
    let started = Instant::now();
    let since = Utc::now() - chrono::Duration::seconds(5);
    let run_id = format!("{}-{:04x}", Utc::now().format("%Y%m%d%H%M%S"), fastrand::u16(..));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| anyhow::anyhow!("failed to build an HTTP client: {e}"))?;
    let mut results = Vec::new();
    for plan in plans {
        let mut vars = Vars::new();
        vars.insert("run_id", run_id.clone(), false);
        vars.insert("environment", target.name.clone(), false);
        vars.insert("api", endpoints.api.clone(), false);
        vars.insert("site", endpoints.site.clone(), false);
        for (key, value) in &target.outputs {
            vars.insert(format!("outputs.{key}"), value.clone(), false);
        }
        let variables = expect::render_variables(&plan.variables, &mut vars);
        for step in &plan.steps {
            progress(&format!("{} / {}", plan.id, step.name));
            let result = match (&variables, plan.runs_in(&target.name)) {
                (_, false) => skipped(plan, step, format!("plan {} is not for {}", plan.id, target.name)),
                (Err(e), true) => finished(plan, step, Outcome::Error, vec![e.clone()], 0, 0, &vars),
                (Ok(()), true) => run_step(target, plan, step, endpoints, &client, since, &mut vars).await,
            };
            results.push(result);
        }
    }
    let ids = plans.iter().map(|p| p.id.clone()).collect();
    Ok(VerifyReport::new(&target.name, &run_id, ids, results, started.elapsed()))
}

fn skipped(plan: &Plan, step: &Step, reason: String) -> StepResult {
    StepResult {
        plan: plan.id.clone(),
        step: step.name.clone(),
        kind: step.kind.name().to_owned(),
        at: step.at.to_string(),
        outcome: Outcome::Skip,
        duration_ms: 0,
        reasons: vec![reason],
        properties: step.properties.clone(),
        attempts: 0,
    }
}

fn finished(
    plan: &Plan,
    step: &Step,
    outcome: Outcome,
    reasons: Vec<String>,
    duration_ms: u64,
    attempts: u32,
    vars: &Vars,
) -> StepResult {
    StepResult {
        outcome,
        reasons: reasons.iter().map(|r| expect::redact(r, vars)).collect(),
        duration_ms,
        attempts,
        ..skipped(plan, step, String::new())
    }
}

async fn run_step(
    target: &Target,
    plan: &Plan,
    step: &Step,
    endpoints: &Endpoints,
    client: &reqwest::Client,
    since: DateTime<Utc>,
    vars: &mut Vars,
) -> StepResult {
    if let Some(reason) = &step.skip {
        return skipped(plan, step, reason.clone());
    }
    if !step.runs_in(&target.name) {
        return skipped(plan, step, format!("not for {}", target.name));
    }
    if matches!(&step.kind, StepKind::Iam(spec) if spec.role == RoleName::Deploy)
        && !target.access.contains_key("DeployRoleArn")
    {
        return skipped(plan, step, deploy_role_missing(target));
    }
    // Fails rather than skips: every environment twinctl deploys has an execution role, so a
    // missing one means the environment was never bootstrapped.
    if matches!(&step.kind, StepKind::Iam(spec) if spec.role == RoleName::Execution)
        && !target.access.contains_key("ExecutionRoleArn")
    {
        let outcome = if step.severity == Severity::Warn { Outcome::Warn } else { Outcome::Fail };
        return finished(plan, step, outcome, vec![execution_role_missing(target)], 0, 0, vars);
    }
    let started = Instant::now();
    let attempts = step.retry.as_ref().map_or(1, |r| r.attempts.max(1));
    let interval = step.retry.as_ref().map_or(Duration::ZERO, |r| r.interval);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let until = step.retry.as_ref().and_then(|r| r.until.as_ref());
        let (outcome, reasons, waited_enough) = match observe(target, step, endpoints, client, since, vars).await {
            Err(reason) => (Outcome::Error, vec![reason], false),
            Ok(observation) => {
                // `until` decides when to stop retrying; the step's own `expect` still judges.
                let reached = until
                    .is_some_and(|u| matches!(expect::evaluate_with(u, &observation, vars), Ok(f) if f.is_empty()));
                let (outcome, reasons) = judge(step, &observation, vars);
                (outcome, reasons, reached)
            }
        };
        let settled = waited_enough
            || (until.is_none() && matches!(outcome, Outcome::Pass | Outcome::Warn))
            || attempt >= attempts;
        if settled {
            let outcome = match outcome {
                Outcome::Fail if step.severity == Severity::Warn => Outcome::Warn,
                other => other,
            };
            let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            return finished(plan, step, outcome, reasons, took, attempt, vars);
        }
        tokio::time::sleep(interval).await;
    }
}

/// Expectations, then the kind's findings; the captures of a step that held.
fn judge(step: &Step, observation: &Observation, vars: &mut Vars) -> (Outcome, Vec<String>) {
    let mut failures = match expect::evaluate_with(&step.expect, observation, vars) {
        Ok(failures) => failures,
        Err(e) => return (Outcome::Error, vec![e]),
    };
    let mut warnings = Vec::new();
    for finding in &observation.findings {
        match finding.severity {
            FindingSeverity::Fail => failures.push(finding.message.clone()),
            FindingSeverity::Warn => warnings.push(finding.message.clone()),
        }
    }
    if failures.is_empty() {
        for (name, capture) in &step.capture {
            match expect::capture(&capture.source, observation) {
                Ok(value) => vars.insert(name.clone(), value, capture.secret),
                Err(missing) => failures.push(format!("capture {name}: {missing}")),
            }
        }
    }
    if !failures.is_empty() {
        failures.extend(warnings);
        return (Outcome::Fail, failures);
    }
    if warnings.is_empty() { (Outcome::Pass, Vec::new()) } else { (Outcome::Warn, warnings) }
}

fn deploy_role_missing(target: &Target) -> String {
    format!(
        "{} has no CI deploy role (bootstrap.github_repository and ci_environments name none for {})",
        target.name, target.access_scope.name
    )
}

fn execution_role_missing(target: &Target) -> String {
    format!(
        "{} has no CloudFormation execution role: the access stack {} has no ExecutionRoleArn output in {}; \
         run `twinctl bootstrap {}`",
        target.name, target.access_stack_name, target.aws.region, target.name
    )
}

/// What the step's kind sees; an error is a step that could not run (its text says why).
async fn observe(
    target: &Target,
    step: &Step,
    endpoints: &Endpoints,
    client: &reqwest::Client,
    since: DateTime<Utc>,
    vars: &Vars,
) -> std::result::Result<Observation, String> {
    let text = |t: &super::model::Text| expect::render_text(t, vars);
    let observed = match &step.kind {
        StepKind::Http(spec) => {
            let url = text(&spec.url)?;
            let mut headers = std::collections::BTreeMap::new();
            for (name, value) in &spec.headers {
                headers.insert(name.clone(), text(value)?);
            }
            let body = match &spec.body {
                Some(HttpBody::Json(value)) => Some(kinds::http::HttpBody::Json(expect::render_json(value, vars)?)),
                Some(HttpBody::Text(value)) => Some(kinds::http::HttpBody::Text(text(value)?)),
                None => None,
            };
            kinds::http::request(client, &spec.method, &url, &headers, body, spec.follow_redirects).await
        }
        StepKind::S3(spec) => {
            let bucket = text(&spec.bucket)?;
            let key = spec.key.as_ref().map(text).transpose()?;
            kinds::s3::inspect(target, &bucket, key.as_deref()).await
        }
        StepKind::Iam(spec) => match spec.role {
            RoleName::Function => {
                let role = target.output("FunctionRoleArn").map_err(|e| e.to_string())?;
                kinds::iam::inspect(target, role, twin_runtime::permissions::NEEDED, kinds::iam::FUNCTION_ALLOW_STAR)
                    .await
            }
            RoleName::Deploy => {
                let role = target.access.get("DeployRoleArn").ok_or_else(|| deploy_role_missing(target))?;
                // The previews' deploy role also destroys them (`aws::permissions::DESTROY`).
                let declared = if target.access_scope.previews {
                    crate::aws::permissions::preview_actions()
                } else {
                    crate::aws::permissions::ci_actions()
                };
                kinds::iam::inspect_ci_role(target, role, &declared).await
            }
            RoleName::Execution => {
                if !target.access.contains_key("ExecutionRoleArn") {
                    return Err(execution_role_missing(target));
                }
                kinds::iam::inspect_execution_role(target).await
            }
        },
        StepKind::Lambda => kinds::lambda::inspect(target).await,
        StepKind::Secrets => kinds::secrets::inspect(target, since).await,
        StepKind::Monitoring(spec) => {
            let (correlation_id, contains) = match &spec.logs {
                Some(query) => (
                    query.correlation_id.as_ref().map(text).transpose()?,
                    query.contains.as_ref().map(text).transpose()?,
                ),
                None => (None, None),
            };
            let query = spec.logs.as_ref().map(|_| kinds::monitoring::LogQuery {
                correlation_id: correlation_id.as_deref(),
                contains: contains.as_deref(),
            });
            kinds::monitoring::inspect(target, query, since, spec.alarms, spec.dashboard).await
        }
        StepKind::HttpsLive(spec) => {
            let url = text(&spec.url)?;
            let plain = if url.trim_end_matches('/') == endpoints.site.trim_end_matches('/') {
                endpoints.site_plain_http.clone()
            } else {
                url.replacen("https://", "http://", 1)
            };
            let paths: Vec<(String, kinds::https::PlainHttpExpect)> = spec
                .paths
                .iter()
                .map(|rule| {
                    let expect = match rule.plain_http {
                        PlainHttp::Redirect => kinds::https::PlainHttpExpect::Redirect,
                        PlainHttp::Refused => kinds::https::PlainHttpExpect::Refused,
                    };
                    (rule.path.clone(), expect)
                })
                .collect();
            kinds::https::live(
                &url,
                &plain,
                &paths,
                spec.min_hsts_seconds,
                spec.certificate_days,
                endpoints.ca_pem.as_deref(),
            )
            .await
        }
        StepKind::HttpsConfig => kinds::https::config(target).await,
    };
    observed.map_err(|e| e.to_string())
}
