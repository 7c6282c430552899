//! The timeout chain, read from templates/twin.yaml against the runtime's own constants: the
//! runtime's request deadline < the function's Timeout < the API Gateway integration timeout
//! (at most 30 s for an HTTP API) < CloudFront's origin read timeout for the API. Broken
//! anywhere, a slow model would surface as a 504 from API Gateway or CloudFront instead of the
//! runtime's `503 model_unavailable` with Retry-After.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_yaml::Value;

fn template() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/twin.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn seconds(value: &Value, what: &str) -> Duration {
    let number = value.as_u64().or_else(|| value.as_str().and_then(|s| s.parse().ok()));
    Duration::from_secs(number.unwrap_or_else(|| panic!("{what} is not a number: {value:?}")))
}

#[test]
fn each_timeout_ends_before_the_one_outside_it() {
    let template = template();
    let resources = &template["Resources"];
    let function = seconds(&resources["Function"]["Properties"]["Timeout"], "Function Timeout");
    let integration = Duration::from_millis(
        resources["ApiIntegration"]["Properties"]["TimeoutInMillis"].as_u64().expect("TimeoutInMillis"),
    );
    let origins = resources["Distribution"]["Properties"]["DistributionConfig"]["Origins"].as_sequence().unwrap();
    let api = origins.iter().find(|o| o["Id"].as_str() == Some("api")).expect("the api origin");
    let origin_read = seconds(&api["CustomOriginConfig"]["OriginReadTimeout"], "OriginReadTimeout");

    let runtime = function.saturating_sub(twin_runtime::deadline::ANSWER_MARGIN);
    let local = Duration::from_secs(twin_runtime::config::DEFAULT_REQUEST_TIMEOUT_SECS);
    assert!(!twin_runtime::deadline::ANSWER_MARGIN.is_zero());
    assert!(
        local <= runtime,
        "the local budget {local:?} must not exceed what Lambda allows the runtime ({runtime:?})"
    );
    assert!(runtime < function, "runtime deadline {runtime:?} vs function {function:?}");
    assert!(function < integration, "function {function:?} vs integration {integration:?}");
    assert!(integration <= Duration::from_secs(30), "an HTTP API integration times out at 30 s at most");
    assert!(integration < origin_read, "integration {integration:?} vs CloudFront origin read {origin_read:?}");
    assert!(origin_read <= Duration::from_secs(60), "above 60 s needs a CloudFront quota increase");
}
