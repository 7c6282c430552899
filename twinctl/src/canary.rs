//! Canary deploys without CodeDeploy: the new version gets a share of the `live` alias's
//! traffic (its routing weights, UpdateAlias `RoutingConfig`) for a window, and is promoted
//! only when the window shows it healthy.
//!
//! During the window, under the environment lock (its holder says `canary`, so a rollback may
//! take it over — that is how `twinctl rollback` aborts a canary):
//! - synthetic probes (`GET /api/health?deep=1`) go to the alias, so a quiet window still
//!   proves something; Lambda says which version answered (`ExecutedVersion`). Against the
//!   emulator, which runs no code, both versions run on this machine and each probe picks one
//!   with the alias's weights, as Lambda would;
//! - the stack's alarms are read; one in ALARM reverts;
//! - the new version's own figures — `Invocations` and `Errors` with the `ExecutedVersion`
//!   dimension (an alias's plain metrics mix both versions), and the runtime's handled 5xx
//!   answers, which Lambda does not count as `Errors`, from its embedded-metric log lines
//!   (`DigitalTwin` `Http5xx` by `ExecutedVersion`, see runtime/src/telemetry.rs) — are read
//!   from CloudWatch (Lambda developer guide, "Types of metrics for Lambda functions";
//!   CloudWatch, "Specification: Embedded metric format").
//!
//! Promotion needs at least `min_requests` requests to have reached the new version without a
//! single error; any failed probe, error or 5xx of the new version, or alarm, reverts at once.
//! No stack update runs during the window (any stack update resets the alias's weights): the
//! deploy records the live version only after promotion.
//! Must not: move the alias after losing the lock (the command that took it owns the alias).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, StateValue};
use serde::Serialize;

use crate::aws::error::SdkContext;
use crate::aws::lambda::{self, VersionConfiguration};
use crate::aws::stack;
use crate::config::CanaryConfig;
use crate::error::{Error, Result};
use crate::local_function::LocalFunction;
use crate::lock::{Activity, EnvironmentLock};
use crate::output::Printer;
use crate::target::Target;

/// The runtime's embedded-metric namespace.
pub const METRIC_NAMESPACE: &str = "DigitalTwin";

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Share of the alias's invocations sent to the new version, in (0, 1).
    pub traffic: f64,
    pub window: Duration,
    pub min_requests: u64,
    pub probe_every: Duration,
}

const DEFAULT_MIN_REQUESTS: u64 = 10;
const DEFAULT_PROBE_EVERY: Duration = Duration::from_secs(2);

impl Settings {
    /// `TRAFFIC:WINDOW`, e.g. `10%:5m`, with the default evidence and probe interval.
    pub fn parse(spec: &str) -> std::result::Result<Self, String> {
        let (traffic, window) =
            spec.split_once(':').ok_or_else(|| format!("{spec:?} is not TRAFFIC:WINDOW (e.g. 10%:5m)"))?;
        Self::new(traffic, window, None, None)
    }

    pub fn from_config(config: &CanaryConfig) -> std::result::Result<Self, String> {
        Self::new(&config.traffic, &config.window, config.min_requests, config.probe_every.as_deref())
    }

    fn new(
        traffic: &str,
        window: &str,
        min_requests: Option<u64>,
        probe_every: Option<&str>,
    ) -> std::result::Result<Self, String> {
        let percent: f64 = traffic
            .trim()
            .strip_suffix('%')
            .ok_or_else(|| format!("traffic {traffic:?} must be a percentage, e.g. 10%"))?
            .trim()
            .parse()
            .map_err(|_| format!("traffic {traffic:?} is not a number of percent"))?;
        if !(percent > 0.0 && percent < 100.0) {
            return Err(format!("traffic {traffic:?} must be more than 0% and less than 100%"));
        }
        let duration = |what: &str, text: &str| {
            humantime::parse_duration(text.trim())
                .map_err(|e| format!("{what} {text:?} is not a duration (5m, 90s): {e}"))
        };
        let window = duration("window", window)?;
        if window.is_zero() {
            return Err("the window must be longer than 0s".to_owned());
        }
        let probe_every = match probe_every {
            Some(text) => duration("probe_every", text)?,
            None => DEFAULT_PROBE_EVERY,
        };
        if probe_every.is_zero() {
            return Err("probe_every must be longer than 0s".to_owned());
        }
        Ok(Self {
            traffic: percent / 100.0,
            window,
            min_requests: min_requests.unwrap_or(DEFAULT_MIN_REQUESTS),
            probe_every,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Promoted,
    Reverted,
    /// The lock was taken over (a rollback): nothing was touched after that.
    Aborted,
}

/// What a canary saw and decided (part of the deploy report and of a failed release's error).
#[derive(Debug, Clone, Serialize)]
pub struct CanaryReport {
    pub old_version: String,
    pub new_version: String,
    pub traffic: f64,
    pub window_seconds: f64,
    pub outcome: Outcome,
    pub reason: Option<String>,
    /// Probes answered by each version.
    pub probes: BTreeMap<String, u64>,
    pub probe_failures_new: u64,
    /// From CloudWatch, for the new version (zero where CloudWatch has no figures yet).
    pub invocations_new: u64,
    pub errors_new: u64,
    pub http_5xx_new: u64,
    pub alarms_in_alarm: Vec<String>,
    pub seconds: f64,
}

impl CanaryReport {
    /// Requests known to have reached the new version: CloudWatch's count once it has one
    /// (it includes the probes), else the probes it answered.
    pub fn reached_new(&self) -> u64 {
        self.invocations_new.max(self.probes.get(&self.new_version).copied().unwrap_or(0))
    }
}

/// Sends probes to the alias and says which version answered and whether it was healthy.
enum Prober {
    Lambda {
        client: aws_sdk_lambda::Client,
        function: String,
        /// CloudFront's origin header, which the runtime requires outside local.
        origin: Option<crate::aws::secrets::OriginSecret>,
    },
    /// The emulator: both versions run here; each probe picks one with the alias's weights.
    Local { old: Box<LocalFunction>, new: Box<LocalFunction>, old_version: String, new_version: String, traffic: f64 },
}

struct Probe {
    version: String,
    healthy: bool,
    detail: String,
}

impl Prober {
    async fn probe(&self) -> Result<Probe> {
        match self {
            Prober::Lambda { client, function, origin } => {
                let output = client
                    .invoke()
                    .function_name(function)
                    .qualifier(lambda::ALIAS)
                    .payload(aws_sdk_lambda::primitives::Blob::new(lambda::health_event(origin.as_ref()).to_string()))
                    .send()
                    .await
                    .sdk_context(|| format!("failed to probe {function}:{}", lambda::ALIAS))?;
                let version = output.executed_version().unwrap_or_default().to_owned();
                let payload: serde_json::Value =
                    output.payload().and_then(|p| serde_json::from_slice(p.as_ref()).ok()).unwrap_or_default();
                let status = payload["statusCode"].as_u64();
                let healthy = output.function_error().is_none() && status.is_some_and(|s| s < 500);
                let detail = match output.function_error() {
                    Some(error) => format!("function error {error}"),
                    None => format!("status {}", status.map(|s| s.to_string()).unwrap_or_else(|| "none".into())),
                };
                Ok(Probe { version, healthy, detail })
            }
            Prober::Local { old, new, old_version, new_version, traffic } => {
                let (function, version) =
                    if fastrand::f64() < *traffic { (new, new_version) } else { (old, old_version) };
                let answer = function
                    .client
                    .get(format!("{}/api/health?deep=1", function.url))
                    .header("x-correlation-id", "twinctl-canary-probe")
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                let (healthy, detail) = match answer {
                    Ok(response) => {
                        (response.status().as_u16() < 500, format!("status {}", response.status().as_u16()))
                    }
                    Err(e) => (false, format!("no answer: {e}")),
                };
                Ok(Probe { version: version.clone(), healthy, detail })
            }
        }
    }

    async fn stop(self) {
        if let Prober::Local { old, new, .. } = self {
            old.stop().await;
            new.stop().await;
        }
    }
}

/// What the caller provides: the function, the version serving now and the new one.
#[derive(Debug)]
pub struct Versions<'a> {
    pub function: &'a str,
    pub old: &'a str,
    pub new: &'a VersionConfiguration,
}

/// Runs the canary; on `Reverted` the alias is back on the old version, on `Promoted` it still
/// carries the weights (the caller moves it and records it in the stack), on `Aborted` nothing
/// was touched after the lock was lost.
pub async fn run(
    target: &Target,
    lock: &EnvironmentLock,
    versions: Versions<'_>,
    settings: &Settings,
    work_dir: &std::path::Path,
    phase: &crate::output::Phase,
) -> Result<CanaryReport> {
    let started = Instant::now();
    let mut report = CanaryReport {
        old_version: versions.old.to_owned(),
        new_version: versions.new.version.clone(),
        traffic: settings.traffic,
        window_seconds: settings.window.as_secs_f64(),
        outcome: Outcome::Promoted,
        reason: None,
        probes: BTreeMap::new(),
        probe_failures_new: 0,
        invocations_new: 0,
        errors_new: 0,
        http_5xx_new: 0,
        alarms_in_alarm: Vec::new(),
        seconds: 0.0,
    };
    let client = target.aws.lambda();
    // Everything that can fail before traffic splits, first.
    let alarms =
        stack::physical_ids_of_type(&target.aws.cloudformation(), &target.stack_name, "AWS::CloudWatch::Alarm").await?;
    let prober = prober(target, &versions, settings, work_dir).await?;
    let split = async {
        lock.set_activity(Activity::Canary).await?;
        lambda::set_canary_weight(&client, versions.function, versions.old, &versions.new.version, settings.traffic)
            .await
    }
    .await;
    if let Err(e) = split {
        prober.stop().await;
        // The weight may or may not have been set: all traffic back, if the lock is still ours.
        if lock.set_activity(Activity::Deploy).await.is_ok() {
            lambda::move_alias(&client, versions.function, versions.old).await?;
        }
        return Err(e);
    }
    let metrics_from = chrono::Utc::now() - chrono::Duration::minutes(1);
    let verdict = watch(target, lock, &versions, settings, &prober, &alarms, metrics_from, &mut report, phase).await;
    prober.stop().await;
    report.seconds = started.elapsed().as_secs_f64();
    match verdict {
        Ok(Verdict::Healthy) if report.reached_new() >= settings.min_requests => report.outcome = Outcome::Promoted,
        Ok(Verdict::Healthy) => {
            report.outcome = Outcome::Reverted;
            report.reason = Some(format!(
                "only {} request(s) reached version {} in the window; {} needed",
                report.reached_new(),
                versions.new.version,
                settings.min_requests
            ));
        }
        Ok(Verdict::Unhealthy(reason)) => {
            report.outcome = Outcome::Reverted;
            report.reason = Some(reason);
        }
        Ok(Verdict::LockLost) => return Ok(aborted(report)),
        Err(e) => {
            // Could not watch: never promote blind.
            report.outcome = Outcome::Reverted;
            report.reason = Some(format!("the canary could not be watched: {e}"));
        }
    }
    // A conditional write on our ETag: after it, no rollback can have taken the lock, so the
    // alias is still ours to move; if it fails, the command that took over owns the alias.
    match lock.set_activity(Activity::Deploy).await {
        Ok(()) => {}
        Err(Error::User { .. }) => return Ok(aborted(report)),
        Err(e) => {
            // Lock state unknown: take no chance with a promotion, send the traffic back.
            lambda::move_alias(&client, versions.function, versions.old).await?;
            return Err(e);
        }
    }
    if report.outcome == Outcome::Reverted {
        lambda::move_alias(&client, versions.function, versions.old).await?;
    }
    Ok(report)
}

fn aborted(mut report: CanaryReport) -> CanaryReport {
    report.outcome = Outcome::Aborted;
    report.reason = Some("the lock was taken over (a rollback aborts a canary)".to_owned());
    report
}

enum Verdict {
    Healthy,
    Unhealthy(String),
    LockLost,
}

async fn prober(
    target: &Target,
    versions: &Versions<'_>,
    settings: &Settings,
    work_dir: &std::path::Path,
) -> Result<Prober> {
    if !target.aws.is_emulator() {
        return Ok(Prober::Lambda {
            client: target.aws.lambda(),
            function: versions.function.to_owned(),
            origin: target.origin_secret().await?,
        });
    }
    let bucket = target.artifacts_bucket()?;
    let origin = target.origin_secret().await?;
    let old = lambda::version_configuration(&target.aws.lambda(), versions.function, versions.old).await?;
    let old_running = LocalFunction::start(&target.aws, bucket, &old, work_dir, origin.as_ref()).await?;
    let new_running = match LocalFunction::start(&target.aws, bucket, versions.new, work_dir, origin.as_ref()).await {
        Ok(running) => running,
        Err(e) => {
            old_running.stop().await;
            return Err(e);
        }
    };
    Ok(Prober::Local {
        old: Box::new(old_running),
        new: Box::new(new_running),
        old_version: versions.old.to_owned(),
        new_version: versions.new.version.clone(),
        traffic: settings.traffic,
    })
}

/// How often alarms and metrics are read (each read is a request; metrics have a minute's grain).
const ALARM_EVERY: Duration = Duration::from_secs(5);
const METRICS_EVERY: Duration = Duration::from_secs(60);

#[allow(clippy::too_many_arguments)]
async fn watch(
    target: &Target,
    lock: &EnvironmentLock,
    versions: &Versions<'_>,
    settings: &Settings,
    prober: &Prober,
    alarms: &[String],
    metrics_from: chrono::DateTime<chrono::Utc>,
    report: &mut CanaryReport,
    phase: &crate::output::Phase,
) -> Result<Verdict> {
    let cloudwatch = target.aws.cloudwatch();
    let started = Instant::now();
    let (mut alarms_read, mut metrics_read): (Option<Instant>, Option<Instant>) = (None, None);
    let new = versions.new.version.as_str();
    loop {
        if !lock.still_ours().await? {
            return Ok(Verdict::LockLost);
        }
        let probe = prober.probe().await?;
        *report.probes.entry(probe.version.clone()).or_default() += 1;
        if probe.version == new && !probe.healthy {
            report.probe_failures_new += 1;
            return Ok(Verdict::Unhealthy(format!("a probe answered by version {new} failed ({})", probe.detail)));
        }
        if alarms_read.is_none_or(|at| at.elapsed() >= ALARM_EVERY) {
            alarms_read = Some(Instant::now());
            report.alarms_in_alarm = alarms_in_alarm(&cloudwatch, alarms).await?;
            if let Some(alarm) = report.alarms_in_alarm.first() {
                return Ok(Verdict::Unhealthy(format!("alarm {alarm} is in ALARM")));
            }
        }
        let done = started.elapsed() >= settings.window;
        if done || metrics_read.is_none_or(|at| at.elapsed() >= METRICS_EVERY) {
            metrics_read = Some(Instant::now());
            read_metrics(&cloudwatch, versions.function, new, metrics_from, report).await?;
            if report.errors_new > 0 || report.http_5xx_new > 0 {
                return Ok(Verdict::Unhealthy(format!(
                    "version {new} had {} error(s) and {} 5xx answer(s)",
                    report.errors_new, report.http_5xx_new
                )));
            }
        }
        if done {
            return Ok(Verdict::Healthy);
        }
        phase.message(format!(
            "canary: version {new} at {:.0}%, {:.0}s of {:.0}s, {} request(s) reached it",
            settings.traffic * 100.0,
            started.elapsed().as_secs_f64(),
            settings.window.as_secs_f64(),
            report.reached_new()
        ));
        tokio::time::sleep(settings.probe_every.min(settings.window.saturating_sub(started.elapsed()))).await;
    }
}

async fn alarms_in_alarm(cloudwatch: &aws_sdk_cloudwatch::Client, names: &[String]) -> Result<Vec<String>> {
    let mut firing = Vec::new();
    // DescribeAlarms takes at most 100 names (CloudWatch API reference).
    for chunk in names.chunks(100) {
        let output = cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .send()
            .await
            .sdk_context(|| "failed to read the stack's alarms".to_owned())?;
        firing.extend(
            output
                .metric_alarms()
                .iter()
                .filter(|a| a.state_value() == Some(&StateValue::Alarm))
                .filter_map(|a| a.alarm_name().map(str::to_owned)),
        );
    }
    Ok(firing)
}

fn query(id: &str, namespace: &str, metric: &str, dimensions: Vec<(&str, String)>) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(namespace)
        .metric_name(metric)
        .set_dimensions(Some(
            dimensions.into_iter().map(|(n, v)| Dimension::builder().name(n).value(v).build()).collect(),
        ))
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(MetricStat::builder().metric(metric).period(60).stat("Sum").build())
        .return_data(true)
        .build()
}

/// The new version's invocations, errors and handled 5xx answers since the canary began.
async fn read_metrics(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    function: &str,
    version: &str,
    from: chrono::DateTime<chrono::Utc>,
    report: &mut CanaryReport,
) -> Result<()> {
    let alias = format!("{function}:{}", lambda::ALIAS);
    let by_version = |id, metric| {
        query(
            id,
            "AWS/Lambda",
            metric,
            vec![
                ("FunctionName", function.to_owned()),
                ("Resource", alias.clone()),
                ("ExecutedVersion", version.to_owned()),
            ],
        )
    };
    let queries = vec![
        by_version("invocations", "Invocations"),
        by_version("errors", "Errors"),
        query(
            "http5xx",
            METRIC_NAMESPACE,
            "Http5xx",
            vec![("FunctionName", function.to_owned()), ("ExecutedVersion", version.to_owned())],
        ),
    ];
    let output = cloudwatch
        .get_metric_data()
        .set_metric_data_queries(Some(queries))
        .start_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(from.timestamp()))
        .end_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(chrono::Utc::now().timestamp() + 60))
        .send()
        .await
        .sdk_context(|| format!("failed to read the metrics of {function}:{version}"))?;
    for result in output.metric_data_results() {
        let sum = result.values().iter().sum::<f64>().round() as u64;
        match result.id() {
            Some("invocations") => report.invocations_new = sum,
            Some("errors") => report.errors_new = sum,
            Some("http5xx") => report.http_5xx_new = sum,
            _ => {}
        }
    }
    Ok(())
}

/// A canary interrupted by a killed deploy leaves weights on the alias: the next deploy or
/// rollback sends all traffic back to the alias's own version first (never promotes).
pub async fn revert_interrupted(target: &Target, printer: &Printer) -> Result<Option<lambda::AliasRouting>> {
    let Some(function) = target.outputs.get("FunctionName") else { return Ok(None) };
    let client = target.aws.lambda();
    let Some(routing) = lambda::alias_routing(&client, function).await? else { return Ok(None) };
    if routing.weights.is_empty() {
        return Ok(None);
    }
    let shares: Vec<String> =
        routing.weights.iter().map(|(v, w)| format!("version {v} at {:.0}%", w * 100.0)).collect();
    printer.warn(format!(
        "an interrupted canary left {} on {function}:{}: all traffic goes back to version {}",
        shares.join(", "),
        lambda::ALIAS,
        routing.version
    ));
    lambda::move_alias(&client, function, &routing.version).await?;
    Ok(Some(routing))
}

impl From<&CanaryReport> for Error {
    fn from(report: &CanaryReport) -> Self {
        Error::user(format!(
            "canary of version {}: {}; traffic is back on version {}",
            report.new_version,
            report.reason.as_deref().unwrap_or("reverted"),
            report.old_version
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_say_what_is_wrong() {
        let settings = Settings::parse("10%:5m").expect("valid");
        assert_eq!(settings.traffic, 0.1);
        assert_eq!(settings.window, Duration::from_secs(300));
        assert_eq!(settings.min_requests, DEFAULT_MIN_REQUESTS);
        assert_eq!(Settings::parse("2.5%:90s").expect("valid").traffic, 0.025);
        for (spec, says) in [
            ("10%", "TRAFFIC:WINDOW"),
            ("10:5m", "percentage"),
            ("0%:5m", "more than 0%"),
            ("100%:5m", "less than 100%"),
            ("ten%:5m", "not a number"),
            ("10%:soon", "not a duration"),
            ("10%:0s", "longer than 0s"),
        ] {
            let error = Settings::parse(spec).expect_err(spec);
            assert!(error.contains(says), "{spec}: {error}");
        }
        let config = CanaryConfig {
            traffic: "25%".into(),
            window: "2m".into(),
            min_requests: Some(3),
            probe_every: Some("500ms".into()),
        };
        let settings = Settings::from_config(&config).expect("valid");
        assert_eq!((settings.min_requests, settings.probe_every), (3, Duration::from_millis(500)));
    }

    #[test]
    fn evidence_is_cloudwatchs_count_once_it_has_one_else_the_probes() {
        let mut report = CanaryReport {
            old_version: "1".into(),
            new_version: "2".into(),
            traffic: 0.1,
            window_seconds: 60.0,
            outcome: Outcome::Promoted,
            reason: None,
            probes: BTreeMap::from([("1".to_owned(), 20), ("2".to_owned(), 3)]),
            probe_failures_new: 0,
            invocations_new: 0,
            errors_new: 0,
            http_5xx_new: 0,
            alarms_in_alarm: Vec::new(),
            seconds: 0.0,
        };
        assert_eq!(report.reached_new(), 3);
        report.invocations_new = 40;
        assert_eq!(report.reached_new(), 40);
    }
}
