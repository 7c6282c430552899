//! `twinctl logs <env>`: the function's log lines from its CloudWatch log group (the stack's
//! `LogGroupName` output; locally the emulator's, where a locally run version's lines are
//! shipped), from `--since` on, filtered by correlation id, level and text; `--follow` polls.
//!
//! The result is a stream, not one document: as text, one rendered line per event; with
//! `--output json`, JSON Lines, schema [`SCHEMA_VERSION`]: each event's own JSON object (a line
//! that is not JSON as `{"message": …}`) plus `log_stream`, `log_timestamp` (ms since the epoch)
//! and `log_event_id`.

use crate::cli::LogsArgs;
use crate::context::Context;
use crate::error::Result;
use crate::logs::{self, Event, Filter};

/// Bumped on any incompatible change of the JSON line above.
pub const SCHEMA_VERSION: u32 = 1;

pub async fn run(ctx: &Context, args: &LogsArgs) -> Result<()> {
    let start = logs::since(&args.since, chrono::Utc::now())?;
    let target = ctx.target(&args.env).await?;
    let log_group = target.output("LogGroupName")?.to_owned();
    let client = target.aws.logs();
    let filter = Filter { correlation_id: args.correlation_id.clone(), level: args.level, grep: args.grep.clone() };
    let json = ctx.printer.json();
    // False once stdout is gone (`twinctl logs … | head`): then there is no one left to print for.
    let emit = |event: &Event| {
        let line = if json { event.to_json_line() } else { event.render() };
        ctx.printer.line(&line).is_ok()
    };
    if args.follow {
        ctx.printer
            .note(format!("following {log_group} (polling every {} s; Ctrl-C stops)", logs::POLL_EVERY.as_secs()));
        let interrupted = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        return logs::follow(&client, &log_group, start, &filter, interrupted, emit).await;
    }
    let events = logs::read(&client, &log_group, start, &filter).await?;
    if events.is_empty() {
        ctx.printer.note(format!("no matching events in {log_group} since {}", describe(start)));
    }
    for event in &events {
        if !emit(event) {
            break;
        }
    }
    Ok(())
}

fn describe(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}
