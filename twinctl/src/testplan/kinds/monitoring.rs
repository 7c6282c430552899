//! The `monitoring` step kind: the function's log lines, the stack's alarms and its dashboard.
//!
//! Checks, each only when asked for:
//! - `log_lines`: how many lines of the function's log group (`LogGroupName`) written since
//!   `since` carry the correlation id and contain the text (`logs.rs`'s filter, as `twinctl logs`
//!   applies it); the json is those lines, each as `twinctl logs --output json` shows it.
//! - `alarms_in_alarm`: the names of the stack's alarms (`AlarmNames`) in state ALARM; a finding
//!   fails the step for each.
//! - `dashboard_exists`: GetDashboard finds the stack's dashboard (`DashboardName`).
//!
//! Where the emulator lacks an operation the check is null with a Warn finding (`super::record`).
//! Must not: change an alarm, a dashboard or a log group.

use std::time::Instant;

use aws_sdk_cloudwatch::types::StateValue;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{elapsed_ms, emulator_cannot_answer, record};
use crate::aws::error::{SdkContext, is_not_found};
use crate::error::Result;
use crate::logs::{self, Filter};
use crate::target::Target;
use crate::testplan::observation::{Finding, Observation};

/// Which log lines to count: every condition given must hold (none given: every line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogQuery<'a> {
    /// Lines of the request with this correlation id (the runtime's `x-correlation-id`).
    pub correlation_id: Option<&'a str>,
    /// Lines whose text contains this (case-sensitive).
    pub contains: Option<&'a str>,
}

/// Reads what was asked for: the log lines of `log_query` (None: no `log_lines` check) from
/// `since` on, the alarms, the dashboard.
pub async fn inspect(
    target: &Target,
    log_query: Option<LogQuery<'_>>,
    since: DateTime<Utc>,
    alarms: bool,
    dashboard: bool,
) -> Result<Observation> {
    let started = Instant::now();
    let mut observation = Observation::default();
    if let Some(query) = log_query {
        let filter = Filter {
            correlation_id: query.correlation_id.map(str::to_owned),
            grep: query.contains.map(str::to_owned),
            ..Filter::default()
        };
        let log_group = target.output("LogGroupName")?;
        let events = logs::read(&target.aws.logs(), log_group, since.timestamp_millis(), &filter).await?;
        observation.check("log_lines", events.len());
        observation.json = Some(Value::Array(
            events
                .iter()
                .map(|event| {
                    let line = event.to_json_line();
                    serde_json::from_str(&line).unwrap_or(Value::String(line))
                })
                .collect(),
        ));
    }
    if alarms {
        let names: Vec<String> = target
            .output("AlarmNames")?
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        let firing = alarms_in_alarm(target, &names).await?;
        if let Some(firing) = &firing {
            for name in firing {
                observation.findings.push(Finding::fail(format!("alarm {name} is in ALARM")));
            }
        }
        record(&mut observation, "alarms_in_alarm", "DescribeAlarms", firing.map(Value::from));
    }
    if dashboard {
        let exists = dashboard_exists(target, target.output("DashboardName")?).await?;
        record(&mut observation, "dashboard_exists", "GetDashboard", exists.map(Value::Bool));
    }
    observation.duration_ms = elapsed_ms(started);
    Ok(observation)
}

/// The alarms among `names` in state ALARM, sorted; None when the emulator cannot answer.
async fn alarms_in_alarm(target: &Target, names: &[String]) -> Result<Option<Vec<String>>> {
    let cloudwatch = target.aws.cloudwatch();
    let mut firing = Vec::new();
    // DescribeAlarms takes at most 100 names (CloudWatch API reference).
    for chunk in names.chunks(100) {
        let mut token: Option<String> = None;
        loop {
            let page = match cloudwatch
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .set_next_token(token.clone())
                .send()
                .await
            {
                Ok(page) => page,
                Err(e) if emulator_cannot_answer(target, &e) => return Ok(None),
                Err(e) => return Err(e).sdk_context(|| "failed to read the stack's alarms".to_owned()),
            };
            let metric = page.metric_alarms().iter().map(|a| (a.alarm_name(), a.state_value()));
            let composite = page.composite_alarms().iter().map(|a| (a.alarm_name(), a.state_value()));
            firing.extend(
                metric
                    .chain(composite)
                    .filter(|(_, state)| *state == Some(&StateValue::Alarm))
                    .filter_map(|(name, _)| name.map(str::to_owned)),
            );
            token = page.next_token().filter(|t| !t.is_empty()).map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    firing.sort();
    firing.dedup();
    Ok(Some(firing))
}

/// Whether the dashboard exists; None when the emulator cannot answer.
async fn dashboard_exists(target: &Target, name: &str) -> Result<Option<bool>> {
    match target.aws.cloudwatch().get_dashboard().dashboard_name(name).send().await {
        Ok(_) => Ok(Some(true)),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_dashboard_not_found_error()) || is_not_found(&e) => {
            Ok(Some(false))
        }
        Err(e) if emulator_cannot_answer(target, &e) => Ok(None),
        Err(e) => Err(e).sdk_context(|| format!("failed to read the dashboard {name}")),
    }
}
