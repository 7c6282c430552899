//! `twinctl cost`: an itemised estimate of what an environment's stack costs — every month,
//! whatever the traffic (what the stack holds, read from its template by [`stack`]), and for a
//! number of chats (from stated assumptions and from what the runtime's code does per chat), priced
//! from the committed table of the environment's region ([`prices`]).
//!
//! Owns: the cost model — which AWS charge each thing incurs and in what quantity — and the document
//! `--output json` prints, versioned by [`SCHEMA_VERSION`]. Free tiers are not counted: an account's
//! free tier is shared by everything in the account, so no one stack can claim it.
//! Must not: call AWS (an estimate needs only the configuration and the template, and runs anywhere)
//! or print. A measured chat duration (the live alias's CloudWatch `Duration`) would make the
//! variable part exact; that would be an AWS call, and is left for later.

pub mod prices;
pub mod stack;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use prices::Price;

/// Bumped on any incompatible change of [`Estimate`]'s JSON.
pub const SCHEMA_VERSION: u32 = 1;

/// What one chat does to S3, read from runtime/src: `api::prepare` loads the session for the
/// prompt (one GET) and `api::record` appends the turn through `store::S3Store::append`, which reads
/// it again for its ETag and writes it back conditionally (one GET, one PUT, uncontended).
pub const S3_GETS_PER_CHAT: f64 = 2.0;
pub const S3_PUTS_PER_CHAT: f64 = 1.0;
/// What a function instance reads when it starts and whenever its caches expire: the persona
/// (runtime/src/persona.rs, kept 300 s), and the origin header's secret, its current and its
/// previous version (origin.rs, kept an hour); with `LlmProvider: openai` also the API key
/// (secrets.rs, kept an hour).
pub const PERSONA_GETS_PER_START: f64 = 1.0;
pub const ORIGIN_SECRET_CALLS_PER_START: f64 = 2.0;
/// Secrets Manager decrypts each value it returns with the stack's key: the origin secret's
/// current version (a secret never rotated has no previous one to decrypt), and the API key.
pub const ORIGIN_SECRET_DECRYPTS_PER_START: f64 = 1.0;
/// The runtime's embedded-metric line (runtime/src/telemetry.rs): `DigitalTwin` `Requests` and
/// `Http5xx` by `FunctionName` and `ExecutedVersion`, two custom metrics per version serving.
pub const EMF_METRICS_PER_VERSION: f64 = 2.0;

/// AWS prorates monthly charges over a 730-hour month.
const HOURS_PER_MONTH: f64 = 730.0;
/// AWS's GB is 2^30 bytes.
const BYTES_PER_GB: f64 = 1_073_741_824.0;
const KB_PER_GB: f64 = 1_048_576.0;
/// How long the logs of a group that never expires them are counted.
const NEVER_EXPIRES_MONTHS: f64 = 12.0;

/// What the variable cost rests on; each is a `twinctl cost` flag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assumptions {
    /// Chats priced.
    pub chats: u64,
    /// Billed duration of one chat's invocation: the function waits for the model's whole reply.
    pub duration_ms: f64,
    /// Chats per visit; each visit loads the site once.
    pub chats_per_session: f64,
    /// Requests of one load of the site.
    pub page_requests: f64,
    /// Kilobytes CloudFront sends for one load of the site.
    pub page_kb: f64,
    /// Kilobytes of one chat request, which CloudFront forwards to the API.
    pub request_kb: f64,
    /// Kilobytes of one (streamed) reply.
    pub response_kb: f64,
    /// Log bytes one chat writes: the function's lines, Lambda's and the API's access line.
    pub log_bytes: f64,
    /// Function instances started, or caches refilled, per 1,000 chats.
    pub cold_starts_per_1000_chats: f64,
}

/// The defaults of the flags, and why:
/// - 3,000 ms: a configured figure, not measured — a reply of a few hundred tokens from a small model;
/// - 11 requests and 200 KB per visit: `frontend/out`'s index.html, 7 scripts, stylesheet and icon
///   (180 KB gzip-compressed) plus config.json and headers;
/// - 2 KB up and 8 KB down per chat: a message of a few hundred characters, and a reply of ~1,500
///   characters as server-sent events (each delta wrapped in `event: delta` and JSON);
/// - 1,500 log bytes: the function's `prompt built`, `request served` and embedded-metric lines
///   (~950 bytes of JSON), Lambda's START/END/REPORT (~260) and the API's access line (~200), with
///   CloudWatch's per-event overhead;
/// - 200 starts per 1,000 chats: one per visit, as if every visit found no warm instance — an upper
///   bound for light traffic.
pub const DEFAULTS: Assumptions = Assumptions {
    chats: 1000,
    duration_ms: 3000.0,
    chats_per_session: 5.0,
    page_requests: 11.0,
    page_kb: 200.0,
    request_kb: 2.0,
    response_kb: 8.0,
    log_bytes: 1500.0,
    cold_starts_per_1000_chats: 200.0,
};

impl Assumptions {
    fn check(&self) -> Result<()> {
        if self.chats == 0 {
            return Err(Error::user("--chats must be at least 1"));
        }
        let values = [
            ("--duration-ms", self.duration_ms),
            ("--chats-per-session", self.chats_per_session),
            ("--page-requests", self.page_requests),
            ("--page-kb", self.page_kb),
            ("--request-kb", self.request_kb),
            ("--response-kb", self.response_kb),
            ("--log-bytes", self.log_bytes),
            ("--cold-starts", self.cold_starts_per_1000_chats),
        ];
        for (flag, value) in values {
            if !value.is_finite() || value < 0.0 {
                return Err(Error::user(format!("{flag} must be a number of at least 0 (got {value})")));
            }
        }
        if self.chats_per_session <= 0.0 {
            return Err(Error::user("--chats-per-session must be more than 0"));
        }
        Ok(())
    }
}

/// One line of the estimate: `quantity` units of one price.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub item: String,
    /// What is counted, and from where.
    pub detail: String,
    /// The price's key in the table.
    pub price: &'static str,
    /// As the pricing page writes it: "0.20 per 1M requests".
    pub price_label: String,
    /// Dollars for one unit.
    pub unit_price: f64,
    pub unit: String,
    pub quantity: f64,
    pub usd: f64,
}

/// The per-chat facts taken from the runtime's code (not flags: the code decides them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Runtime {
    pub s3_gets_per_chat: f64,
    pub s3_puts_per_chat: f64,
    pub persona_gets_per_start: f64,
    pub secret_calls_per_start: f64,
    pub kms_requests_per_start: f64,
    pub custom_metrics_per_version: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionSummary {
    pub memory_mb: u32,
    pub architecture: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    /// Every month, with no traffic at all.
    pub idle_per_month: f64,
    /// Idle, plus what bills in every hour chats are served.
    pub with_traffic_per_month: f64,
    /// The variable part for `assumptions.chats` chats.
    pub variable: f64,
    pub per_1000_chats: f64,
}

/// The whole estimate: `twinctl cost --output json` prints it as it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub schema_version: u32,
    pub environment: String,
    pub region: String,
    pub currency: String,
    pub prices_as_of: String,
    pub price_table: String,
    pub free_tier_counted: bool,
    pub function: FunctionSummary,
    pub assumptions: Assumptions,
    pub runtime: Runtime,
    /// Every month, whatever the traffic: what the stack holds.
    pub fixed: Vec<Item>,
    /// Every month in which chats are served (billed by the hour they are).
    pub with_traffic: Vec<Item>,
    /// For `assumptions.chats` chats.
    pub variable: Vec<Item>,
    pub totals: Totals,
    /// What the estimate leaves out, and why.
    pub not_counted: Vec<String>,
    /// The template's rules that would refuse these parameters.
    pub warnings: Vec<String>,
}

fn item(name: impl Into<String>, detail: impl Into<String>, key: &'static str, price: &Price, quantity: f64) -> Item {
    Item {
        item: name.into(),
        detail: detail.into(),
        price: key,
        price_label: price.label(),
        unit_price: price.unit_price(),
        unit: price.unit.clone(),
        quantity,
        usd: price.cost(quantity),
    }
}

fn ids<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names.map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// Estimates environment `environment` in `region`: its stacks from `templates` with `parameters`
/// (the environment's, and those twinctl sets), its traffic from `assumptions`.
pub fn estimate(
    environment: &str,
    region: &str,
    templates: &[&str],
    parameters: &BTreeMap<String, String>,
    assumptions: Assumptions,
) -> Result<Estimate> {
    assumptions.check()?;
    let table = prices::table(region)?;
    let stack = stack::read(templates, parameters, region)?;
    let p = &table.prices;
    let openai = stack.parameters.get("LlmProvider").is_some_and(|provider| provider == "openai");
    let runtime = Runtime {
        s3_gets_per_chat: S3_GETS_PER_CHAT,
        s3_puts_per_chat: S3_PUTS_PER_CHAT,
        persona_gets_per_start: PERSONA_GETS_PER_START,
        secret_calls_per_start: ORIGIN_SECRET_CALLS_PER_START + if openai { 1.0 } else { 0.0 },
        kms_requests_per_start: ORIGIN_SECRET_DECRYPTS_PER_START + if openai { 1.0 } else { 0.0 },
        custom_metrics_per_version: EMF_METRICS_PER_VERSION,
    };

    let mut fixed = Vec::new();
    if !stack.keys.is_empty() {
        let detail = ids(stack.keys.iter().map(|k| &k.logical_id));
        fixed.push(item("KMS keys", detail, "kms_key", &p.kms_key, stack.keys.len() as f64));
    }
    if !stack.secrets.is_empty() {
        let detail = ids(stack.secrets.iter());
        fixed.push(item(
            "Secrets Manager secrets",
            detail,
            "secrets_secret",
            &p.secrets_secret,
            stack.secrets.len() as f64,
        ));
    }
    for alarm in &stack.alarms {
        let detail = if alarm.metric_math {
            format!("metric math: {} metrics billed", alarm.metrics)
        } else {
            "1 metric".to_owned()
        };
        let name = format!("CloudWatch alarm {}", alarm.logical_id);
        fixed.push(item(name, detail, "cloudwatch_alarm_metric", &p.cloudwatch_alarm_metric, f64::from(alarm.metrics)));
    }
    if !stack.dashboards.is_empty() {
        let detail = ids(stack.dashboards.iter());
        let count = stack.dashboards.len() as f64;
        fixed.push(item("CloudWatch dashboards", detail, "cloudwatch_dashboard", &p.cloudwatch_dashboard, count));
    }
    for acl in &stack.web_acls {
        fixed.push(item(
            format!("WAF web ACL {}", acl.logical_id),
            "CloudFront scope",
            "waf_web_acl",
            &p.waf_web_acl,
            1.0,
        ));
        let detail = "each rule or managed rule group";
        fixed.push(item(
            format!("WAF rules of {}", acl.logical_id),
            detail,
            "waf_rule",
            &p.waf_rule,
            f64::from(acl.rules),
        ));
    }

    let with_traffic = vec![item(
        "CloudWatch custom metrics",
        "Requests and Http5xx of the version serving",
        "cloudwatch_custom_metric",
        &p.cloudwatch_custom_metric,
        EMF_METRICS_PER_VERSION,
    )];

    let a = &assumptions;
    let chats = a.chats as f64;
    let sessions = chats / a.chats_per_session;
    let starts = a.cold_starts_per_1000_chats * chats / 1000.0;
    let function = &stack.function;
    let memory_gb = f64::from(function.memory_mb) / 1024.0;
    let (duration_key, duration_price) = if function.architecture == "arm64" {
        ("lambda_duration_arm64", &p.lambda_duration_arm64)
    } else {
        ("lambda_duration_x86_64", &p.lambda_duration_x86_64)
    };
    let mut variable = vec![
        item("Lambda requests", "one invocation per chat", "lambda_requests", &p.lambda_requests, chats),
        item(
            "Lambda duration",
            format!("{} MB {}, {} ms per chat", function.memory_mb, function.architecture, a.duration_ms),
            duration_key,
            duration_price,
            chats * a.duration_ms / 1000.0 * memory_gb,
        ),
        item("API Gateway requests", "HTTP API, one per chat", "api_http_requests", &p.api_http_requests, chats),
        item(
            "S3 GET requests",
            "2 per chat (session read twice), 1 per start (persona)",
            "s3_get_requests",
            &p.s3_get_requests,
            S3_GETS_PER_CHAT * chats + PERSONA_GETS_PER_START * starts,
        ),
        item(
            "S3 PUT requests",
            "1 per chat (session write)",
            "s3_put_requests",
            &p.s3_put_requests,
            S3_PUTS_PER_CHAT * chats,
        ),
    ];
    let log_gb = chats * a.log_bytes / BYTES_PER_GB;
    variable.push(item(
        "CloudWatch Logs ingestion",
        format!("{} bytes per chat", a.log_bytes),
        "logs_ingestion",
        &p.logs_ingestion,
        log_gb,
    ));
    let retention = if stack.log_groups.is_empty() || stack.log_groups.iter().any(|g| g.retention_days.is_none()) {
        None
    } else {
        stack.log_groups.iter().filter_map(|g| g.retention_days).max()
    };
    let (months, kept) = match retention {
        Some(days) => (f64::from(days) * 24.0 / HOURS_PER_MONTH, format!("kept {days} days")),
        None => (NEVER_EXPIRES_MONTHS, format!("never expired: {NEVER_EXPIRES_MONTHS} months counted")),
    };
    variable.push(item(
        "CloudWatch Logs storage",
        format!("{kept}, uncompressed (an upper bound)"),
        "logs_storage",
        &p.logs_storage,
        log_gb * months,
    ));
    let edge_requests = chats + sessions * a.page_requests;
    variable.push(item(
        "CloudFront requests",
        format!("1 per chat, {} per visit ({} visits)", a.page_requests, round_for_text(sessions)),
        "cloudfront_https_requests",
        &p.cloudfront_https_requests,
        edge_requests,
    ));
    variable.push(item(
        "CloudFront transfer out",
        format!("{} KB per reply, {} KB per visit", a.response_kb, a.page_kb),
        "cloudfront_transfer_out",
        &p.cloudfront_transfer_out,
        (chats * a.response_kb + sessions * a.page_kb) / KB_PER_GB,
    ));
    variable.push(item(
        "CloudFront transfer to origin",
        format!("{} KB per chat request", a.request_kb),
        "cloudfront_transfer_to_origin",
        &p.cloudfront_transfer_to_origin,
        chats * a.request_kb / KB_PER_GB,
    ));
    for acl in &stack.web_acls {
        variable.push(item(
            format!("WAF requests of {}", acl.logical_id),
            "every CloudFront request",
            "waf_requests",
            &p.waf_requests,
            edge_requests,
        ));
    }
    variable.push(item(
        "Secrets Manager API calls",
        format!(
            "{} per start (origin secret, current and previous{})",
            runtime.secret_calls_per_start,
            if openai { "; API key" } else { "" }
        ),
        "secrets_api_calls",
        &p.secrets_api_calls,
        runtime.secret_calls_per_start * starts,
    ));
    variable.push(item(
        "KMS requests",
        format!("{} per start (Secrets Manager decrypting)", runtime.kms_requests_per_start),
        "kms_requests",
        &p.kms_requests,
        runtime.kms_requests_per_start * starts,
    ));

    let idle: f64 = fixed.iter().map(|i| i.usd).sum();
    let traffic: f64 = with_traffic.iter().map(|i| i.usd).sum();
    let variable_total: f64 = variable.iter().map(|i| i.usd).sum();
    let totals = Totals {
        idle_per_month: idle,
        with_traffic_per_month: idle + traffic,
        variable: variable_total,
        per_1000_chats: variable_total * 1000.0 / chats,
    };

    let mut not_counted = vec![
        "free tiers: an account's free tier is shared by everything in the account".to_owned(),
        "the model: Bedrock or OpenAI tokens, billed by the model's provider".to_owned(),
        "Lambda's init duration at each start (tens of milliseconds for this runtime)".to_owned(),
        "S3 storage (the site, the persona, conversations and their kept versions) and S3 reads of CloudFront cache misses"
            .to_owned(),
        "SNS notifications (only when an alarm changes state) and CloudFront invalidations (1,000 paths a month free)"
            .to_owned(),
        "KMS requests of CloudWatch Logs and SNS encrypting with the key; WAF body inspection past 16 KB".to_owned(),
    ];
    let rotating: Vec<&String> = stack.keys.iter().filter(|k| k.rotation).map(|k| &k.logical_id).collect();
    if !rotating.is_empty() {
        not_counted.push(format!(
            "key rotation: each of the first two yearly rotations of {} adds {} a month",
            ids(rotating.into_iter()),
            p.kms_key.label()
        ));
    }

    Ok(Estimate {
        schema_version: SCHEMA_VERSION,
        environment: environment.to_owned(),
        region: region.to_owned(),
        currency: table.currency.clone(),
        prices_as_of: table.as_of.clone(),
        price_table: prices::table_path(region),
        free_tier_counted: false,
        function: FunctionSummary { memory_mb: function.memory_mb, architecture: function.architecture.clone() },
        assumptions,
        runtime,
        fixed,
        with_traffic,
        variable,
        totals,
        not_counted,
        warnings: stack.warnings,
    })
}

/// A count for a sentence: whole when it is, else two decimals.
fn round_for_text(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 { format!("{value:.0}") } else { format!("{value:.2}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &[&str] =
        &[include_str!("../../../templates/twin.yaml"), include_str!("../../../templates/twin-data.yaml")];

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= 1e-12 + 1e-9 * expected.abs()
    }

    #[test]
    fn idle_cost_is_what_the_stack_holds() {
        let plain = estimate("staging", "us-east-1", TEMPLATE, &params(&[]), DEFAULTS).expect("estimate");
        // Key 1.00 + 2 secrets × 0.40 + 6 alarm metrics × 0.10 + 1 dashboard × 3.00
        assert!(close(plain.totals.idle_per_month, 1.00 + 0.80 + 0.60 + 3.00), "{:?}", plain.totals);
        assert!(plain.fixed.iter().all(|i| !i.item.starts_with("WAF")));
        assert!(!plain.free_tier_counted);
        let waf =
            estimate("staging", "us-east-1", TEMPLATE, &params(&[("EnableWaf", "true")]), DEFAULTS).expect("estimate");
        // + web ACL 5.00 + 6 rules × 1.00
        assert!(close(waf.totals.idle_per_month, 5.40 + 5.00 + 6.00), "{:?}", waf.totals);
    }

    #[test]
    fn variable_cost_scales_with_chats_and_memory() {
        let base = estimate("staging", "us-east-1", TEMPLATE, &params(&[]), DEFAULTS).expect("estimate");
        let twice = Assumptions { chats: 2000, ..DEFAULTS };
        let double = estimate("staging", "us-east-1", TEMPLATE, &params(&[]), twice).expect("estimate");
        assert!(close(double.totals.variable, 2.0 * base.totals.variable));
        assert!(close(double.totals.per_1000_chats, base.totals.per_1000_chats));
        let big = estimate("staging", "us-east-1", TEMPLATE, &params(&[("FunctionMemory", "1024")]), DEFAULTS)
            .expect("estimate");
        let duration = |e: &Estimate| e.variable.iter().find(|i| i.item == "Lambda duration").map(|i| i.usd);
        let (small, large) = (duration(&base).expect("item"), duration(&big).expect("item"));
        assert!(close(large, 4.0 * small), "{small} {large}");
        // 1,000 chats × 3 s × 0.25 GB = 750 GB-s at the arm64 price.
        assert!(close(small, 750.0 * 0.0000133334), "{small}");
    }

    #[test]
    fn an_openai_model_reads_its_key_at_each_start() {
        let bedrock = estimate("staging", "us-east-1", TEMPLATE, &params(&[]), DEFAULTS).expect("estimate");
        let openai = estimate("staging", "us-east-1", TEMPLATE, &params(&[("LlmProvider", "openai")]), DEFAULTS)
            .expect("estimate");
        assert!(close(bedrock.runtime.secret_calls_per_start, 2.0));
        assert!(close(openai.runtime.secret_calls_per_start, 3.0));
        assert!(close(openai.runtime.kms_requests_per_start, 2.0));
    }

    #[test]
    fn waf_outside_us_east_1_is_priced_and_warned_about() {
        let ireland =
            estimate("staging", "eu-west-1", TEMPLATE, &params(&[("EnableWaf", "true")]), DEFAULTS).expect("estimate");
        assert!(ireland.warnings.iter().any(|w| w.contains("WafNeedsUsEast1")), "{:?}", ireland.warnings);
        assert!(ireland.fixed.iter().any(|i| i.price == "waf_web_acl"));
    }

    #[test]
    fn bad_assumptions_name_their_flag() {
        let message = estimate("s", "us-east-1", TEMPLATE, &params(&[]), Assumptions { chats: 0, ..DEFAULTS })
            .expect_err("no chats")
            .to_string();
        assert!(message.contains("--chats"), "{message}");
        let message =
            estimate("s", "us-east-1", TEMPLATE, &params(&[]), Assumptions { duration_ms: f64::NAN, ..DEFAULTS })
                .expect_err("nan")
                .to_string();
        assert!(message.contains("--duration-ms"), "{message}");
    }
}
