//! `twinctl cost` from the real binary, against figures computed by hand from the committed price
//! table (twinctl/prices/us-east-1.yaml) and the real template (templates/twin.yaml), for two
//! configurations: WAF off with 256 MB, WAF on with 1,024 MB. No emulator and no AWS: `cost` makes
//! no call, so these run anywhere.
//!
//! The hand calculation is written out below: each figure is quantity × price, the prices copied
//! from the table, the quantities from the template and `cost`'s default assumptions.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// us-east-1's prices, as twinctl/prices/us-east-1.yaml has them (USD).
mod price {
    pub const KMS_KEY_MONTH: f64 = 1.00;
    pub const SECRET_MONTH: f64 = 0.40;
    pub const ALARM_METRIC_MONTH: f64 = 0.10;
    pub const DASHBOARD_MONTH: f64 = 3.00;
    pub const CUSTOM_METRIC_MONTH: f64 = 0.30;
    pub const WAF_WEB_ACL_MONTH: f64 = 5.00;
    pub const WAF_RULE_MONTH: f64 = 1.00;
    pub const LAMBDA_PER_REQUEST: f64 = 0.20 / 1_000_000.0;
    pub const LAMBDA_ARM64_PER_GB_SECOND: f64 = 0.0000133334;
    pub const API_PER_REQUEST: f64 = 1.00 / 1_000_000.0;
    pub const S3_PER_GET: f64 = 0.0004 / 1_000.0;
    pub const S3_PER_PUT: f64 = 0.005 / 1_000.0;
    pub const LOGS_PER_GB_INGESTED: f64 = 0.50;
    pub const LOGS_PER_GB_MONTH: f64 = 0.03;
    pub const CLOUDFRONT_PER_REQUEST: f64 = 0.0100 / 10_000.0;
    pub const CLOUDFRONT_OUT_PER_GB: f64 = 0.085;
    pub const CLOUDFRONT_TO_ORIGIN_PER_GB: f64 = 0.020;
    pub const WAF_PER_REQUEST: f64 = 0.60 / 1_000_000.0;
    pub const SECRETS_PER_CALL: f64 = 0.05 / 10_000.0;
    pub const KMS_PER_REQUEST: f64 = 0.03 / 10_000.0;
}

/// AWS's GB: 2^30 bytes, 2^20 KB.
const BYTES_PER_GB: f64 = 1_073_741_824.0;
const KB_PER_GB: f64 = 1_048_576.0;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("workspace")
}

/// A project with three environments of the real template: `staging` (defaults: no WAF, 256 MB),
/// `production` (WAF on, 1,024 MB) and `elsewhere` (a region without a price table).
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = format!(
        "project: twin\n\
         templates:\n  stack: {root}/templates/twin.yaml\n  data: {root}/templates/twin-data.yaml\n\
         environments:\n\
         \x20 staging:\n    region: us-east-1\n    parameters:\n      LlmProvider: bedrock\n\
         \x20 production:\n    region: us-east-1\n    parameters:\n      LlmProvider: bedrock\n      EnableWaf: \"true\"\n      FunctionMemory: \"1024\"\n\
         \x20 elsewhere:\n    region: ap-south-2\n",
        root = workspace().display()
    );
    std::fs::write(dir.path().join("twinctl.yaml"), config).expect("write config");
    dir
}

fn twinctl(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_twinctl"));
    command.current_dir(dir).args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TWINCTL_") || name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command.output().expect("run twinctl")
}

fn estimate(dir: &Path, env: &str) -> Value {
    let output = twinctl(dir, &["cost", env, "--output", "json"]);
    assert!(output.status.success(), "twinctl cost {env}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("one JSON document")
}

fn assert_close(what: &str, actual: f64, expected: f64) {
    assert!((actual - expected).abs() <= 1e-12 + 1e-9 * expected.abs(), "{what}: got {actual}, computed {expected}");
}

/// The sum of the items priced with `price` (e.g. the four alarms' `cloudwatch_alarm_metric`).
fn priced(items: &Value, price: &str) -> f64 {
    items
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["price"] == price)
        .map(|i| i["usd"].as_f64().expect("usd"))
        .sum()
}

/// What both configurations share per 1,000 chats with the default assumptions: 1,000 chats of
/// 3,000 ms, 5 chats per visit (200 visits) of 11 requests and 200 KB, 2 KB up and 8 KB down per
/// chat, 1,500 log bytes per chat kept 30 days, 200 function starts.
struct Shared;

impl Shared {
    const CHATS: f64 = 1000.0;
    const VISITS: f64 = 1000.0 / 5.0;
    const STARTS: f64 = 200.0;
    const EDGE_REQUESTS: f64 = Self::CHATS + Self::VISITS * 11.0; // 3,200

    fn items() -> Vec<(&'static str, f64)> {
        let log_gb = Self::CHATS * 1500.0 / BYTES_PER_GB; // 0.0013970 GB
        vec![
            ("lambda_requests", Self::CHATS * price::LAMBDA_PER_REQUEST), // 0.0002
            ("api_http_requests", Self::CHATS * price::API_PER_REQUEST),  // 0.001
            // 2 per chat (prompt, then the read before the conditional write) + the persona per start.
            ("s3_get_requests", (2.0 * Self::CHATS + Self::STARTS) * price::S3_PER_GET), // 0.00088
            ("s3_put_requests", Self::CHATS * price::S3_PER_PUT),                        // 0.005
            ("logs_ingestion", log_gb * price::LOGS_PER_GB_INGESTED),                    // 0.00069849
            // Kept 30 days = 720 of AWS's 730-hour month.
            ("logs_storage", log_gb * (30.0 * 24.0 / 730.0) * price::LOGS_PER_GB_MONTH), // 0.00004134
            ("cloudfront_https_requests", Self::EDGE_REQUESTS * price::CLOUDFRONT_PER_REQUEST), // 0.0032
            (
                "cloudfront_transfer_out",
                (Self::CHATS * 8.0 + Self::VISITS * 200.0) / KB_PER_GB * price::CLOUDFRONT_OUT_PER_GB, // 0.00389099
            ),
            ("cloudfront_transfer_to_origin", Self::CHATS * 2.0 / KB_PER_GB * price::CLOUDFRONT_TO_ORIGIN_PER_GB), // 0.00003815
            // Bedrock: the origin secret's current and previous version per start, one decrypt per start.
            ("secrets_api_calls", Self::STARTS * 2.0 * price::SECRETS_PER_CALL), // 0.002
            ("kms_requests", Self::STARTS * price::KMS_PER_REQUEST),             // 0.0006
        ]
    }
}

/// The template's fixed resources without WAF: one key, two secrets, four alarms billed for six
/// metrics (two metric-math alarms reading two metrics each, two plain ones), one dashboard.
fn fixed_without_waf() -> Vec<(&'static str, f64)> {
    vec![
        ("kms_key", price::KMS_KEY_MONTH),             // 1.00
        ("secrets_secret", 2.0 * price::SECRET_MONTH), // 0.80
        ("cloudwatch_alarm_metric", (2.0 + 2.0 + 1.0 + 1.0) * price::ALARM_METRIC_MONTH), // 0.60
        ("cloudwatch_dashboard", price::DASHBOARD_MONTH), // 3.00
    ]
}

fn check(estimate: &Value, fixed: &[(&str, f64)], variable: &[(&str, f64)]) {
    assert_eq!(estimate["schema_version"], 1);
    assert_eq!(estimate["region"], "us-east-1");
    assert_eq!(estimate["currency"], "USD");
    assert_eq!(estimate["free_tier_counted"], false);
    assert!(estimate["prices_as_of"].as_str().is_some_and(|d| d.len() == 10), "{}", estimate["prices_as_of"]);
    for (key, expected) in fixed {
        assert_close(key, priced(&estimate["fixed"], key), *expected);
    }
    for (key, expected) in variable {
        assert_close(key, priced(&estimate["variable"], key), *expected);
    }
    // Nothing priced that the hand calculation left out.
    let priced_keys: BTreeSet<&str> =
        estimate["fixed"].as_array().expect("fixed").iter().map(|i| i["price"].as_str().expect("price")).collect();
    let computed_keys: BTreeSet<&str> = fixed.iter().map(|(key, _)| *key).collect();
    assert_eq!(priced_keys, computed_keys);
    assert_eq!(estimate["variable"].as_array().expect("variable").len(), variable.len());

    let idle: f64 = fixed.iter().map(|(_, usd)| usd).sum();
    let per_1000: f64 = variable.iter().map(|(_, usd)| usd).sum();
    let totals = &estimate["totals"];
    assert_close("idle_per_month", totals["idle_per_month"].as_f64().expect("idle"), idle);
    // Two custom metrics of the runtime's embedded-metric line, in the months chats are served.
    let with_traffic = idle + 2.0 * price::CUSTOM_METRIC_MONTH;
    assert_close("with_traffic_per_month", totals["with_traffic_per_month"].as_f64().expect("with"), with_traffic);
    assert_close("per_1000_chats", totals["per_1000_chats"].as_f64().expect("per 1000"), per_1000);
    assert_close("variable", totals["variable"].as_f64().expect("variable"), per_1000);
}

#[test]
fn without_waf_at_256_mb_the_figures_are_the_hand_computed_ones() {
    let dir = project();
    let estimate = estimate(dir.path(), "staging");
    assert_eq!(estimate["function"]["memory_mb"], 256);
    assert_eq!(estimate["function"]["architecture"], "arm64");
    let mut variable = Shared::items();
    // 1,000 chats × 3 s × 256/1024 GB = 750 GB-seconds.
    variable.push(("lambda_duration_arm64", 750.0 * price::LAMBDA_ARM64_PER_GB_SECOND)); // 0.01000005
    let fixed = fixed_without_waf();
    check(&estimate, &fixed, &variable);
    // By hand: idle 1.00 + 0.80 + 0.60 + 3.00 = 5.40 a month; per 1,000 chats ≈ 0.02755.
    assert_close("idle", estimate["totals"]["idle_per_month"].as_f64().expect("idle"), 5.40);
    let per_1000 = estimate["totals"]["per_1000_chats"].as_f64().expect("per 1,000");
    assert!((per_1000 - 0.02755).abs() < 0.000_005, "{per_1000}");
}

#[test]
fn with_waf_at_1024_mb_the_figures_are_the_hand_computed_ones() {
    let dir = project();
    let estimate = estimate(dir.path(), "production");
    assert_eq!(estimate["function"]["memory_mb"], 1024);
    let mut variable = Shared::items();
    // 1,000 chats × 3 s × 1024/1024 GB = 3,000 GB-seconds.
    variable.push(("lambda_duration_arm64", 3000.0 * price::LAMBDA_ARM64_PER_GB_SECOND)); // 0.0400002
    // The web ACL inspects every CloudFront request.
    variable.push(("waf_requests", Shared::EDGE_REQUESTS * price::WAF_PER_REQUEST)); // 0.00192
    let mut fixed = fixed_without_waf();
    fixed.push(("waf_web_acl", price::WAF_WEB_ACL_MONTH)); // 5.00
    // RateLimitPerIp, BodyOver64KiB, AWSManagedRulesCommonRuleSet, BlockCommonRuleSetMatches,
    // AWSManagedRulesKnownBadInputsRuleSet, BlockKnownBadInputsMatches.
    fixed.push(("waf_rule", 6.0 * price::WAF_RULE_MONTH)); // 6.00
    check(&estimate, &fixed, &variable);
    // By hand: idle 5.40 + 5.00 + 6.00 = 16.40 a month; per 1,000 chats ≈ 0.05947.
    assert_close("idle", estimate["totals"]["idle_per_month"].as_f64().expect("idle"), 16.40);
    let per_1000 = estimate["totals"]["per_1000_chats"].as_f64().expect("per 1,000");
    assert!((per_1000 - 0.05947).abs() < 0.000_005, "{per_1000}");
}

#[test]
fn the_text_report_itemises_both_parts() {
    let dir = project();
    let output = twinctl(dir.path(), &["cost", "staging"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).expect("utf-8");
    for expected in [
        "free tiers not counted",
        "CloudWatch alarm FunctionErrorRateAlarm",
        "idle per month",
        "5.40",
        "Per 1,000 chats",
        "Lambda duration",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
}

#[test]
fn a_region_without_a_price_table_is_named_with_those_that_have_one() {
    let dir = project();
    let output = twinctl(dir.path(), &["cost", "elsewhere"]);
    assert_eq!(output.status.code(), Some(1), "a user error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no price table for region ap-south-2"), "{stderr}");
    assert!(stderr.contains("eu-west-1") && stderr.contains("us-east-1"), "{stderr}");
    // --region picks another table for the same environment.
    let output = twinctl(dir.path(), &["cost", "staging", "--region", "eu-west-1", "--output", "json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}
