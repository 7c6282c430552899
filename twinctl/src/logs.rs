//! The function's logs: reading, filtering and rendering the events of its CloudWatch log group
//! (`twinctl logs`), and shipping the log lines of a version run on this machine into that group,
//! as Lambda would (`local_function.rs`).
//!
//! Owns: the filter (a start time, a correlation id, a minimum level, a text), sent to CloudWatch
//! as a filter pattern where the pattern syntax says the same thing and always applied here too,
//! so the result is the same where a service ignores patterns (the emulator: moto evaluates
//! plain terms and quoted phrases only, and matches every event for any other pattern); the order
//! of events (timestamp, then ingestion); following by polling; the text and JSON Lines
//! renderings; and the shipper, which is best-effort: a failure is one warning on stderr, never a
//! failure of what runs the function.
//! Must not: resolve environments or print results; commands hand it a client and a log group,
//! and decide what to print.

use std::collections::HashMap;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata as _;
use aws_sdk_cloudwatchlogs::types::{FilteredLogEvent, InputLogEvent};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use crate::aws::{SdkContext, is_not_found};
use crate::error::{Error, Result};

/// How often `--follow` asks for new events.
pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// How far back (ms) each poll of `--follow` looks again: CloudWatch returns events by their own
/// timestamp, and one may be ingested after a later one was already returned.
const LATE_ARRIVALS_MS: i64 = 10_000;

/// A log line's severity, least severe first; `--level X` keeps X and everything more severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    const ALL: [Level; 5] = [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error];

    /// As the runtime's JSON lines spell it (tracing's `"level":"WARN"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }

    /// Exactly the spellings the filter pattern asks CloudWatch for, so both agree.
    fn parse(text: &str) -> Option<Self> {
        Level::ALL.into_iter().find(|level| level.as_str() == text)
    }
}

/// Which events to show; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Lines of the request with this correlation id (the runtime puts it in its request span).
    pub correlation_id: Option<String>,
    /// Lines of this level or more severe; lines without a level are left out.
    pub level: Option<Level>,
    /// Lines whose raw text contains this (case-sensitive).
    pub grep: Option<String>,
}

impl Filter {
    pub fn matches(&self, event: &Event) -> bool {
        if let Some(id) = &self.correlation_id
            && !event.correlation_ids().any(|candidate| candidate == id.as_str())
        {
            return false;
        }
        if let Some(minimum) = self.level
            && event.level().is_none_or(|level| level < minimum)
        {
            return false;
        }
        if let Some(text) = &self.grep
            && !event.text().contains(text.as_str())
        {
            return false;
        }
        true
    }

    /// The CloudWatch filter pattern that says as much of the filter as the syntax can ("Filter
    /// pattern syntax", JSON log events), or None. Only JSON conditions: the correlation id (the
    /// span's, or a top-level `correlation_id`) and the levels at or above the minimum. `--grep`
    /// is never sent: CloudWatch documents term patterns as matching terms, not any substring, so
    /// a pattern could drop lines the substring match keeps.
    pub fn pattern(&self) -> Option<String> {
        let mut conditions = Vec::new();
        if let Some(id) = self.correlation_id.as_deref().filter(|id| plain(id)) {
            conditions.push(format!("($.span.correlation_id = \"{id}\" || $.correlation_id = \"{id}\")"));
        }
        if let Some(minimum) = self.level.filter(|level| *level > Level::Trace) {
            let levels: Vec<String> = Level::ALL
                .into_iter()
                .filter(|level| *level >= minimum)
                .map(|level| format!("$.level = \"{}\"", level.as_str()))
                .collect();
            conditions.push(format!("({})", levels.join(" || ")));
        }
        (!conditions.is_empty()).then(|| format!("{{ {} }}", conditions.join(" && ")))
    }
}

/// Safe inside a quoted pattern value: the characters the runtime accepts in a correlation id. An
/// id with others is never a runtime's, and is matched here only.
fn plain(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// One log event; its message parsed when it is a JSON object (the runtime's lines are).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub log_stream: String,
    /// When the line was written, in ms since the epoch (CloudWatch's event timestamp).
    pub timestamp: i64,
    pub ingestion_time: i64,
    pub event_id: String,
    message: String,
    json: Option<Map<String, Value>>,
}

impl Event {
    pub fn new(
        log_stream: impl Into<String>,
        timestamp: i64,
        ingestion_time: i64,
        event_id: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        let json = match serde_json::from_str::<Value>(message.trim_end()) {
            Ok(Value::Object(object)) => Some(object),
            _ => None,
        };
        Self { log_stream: log_stream.into(), timestamp, ingestion_time, event_id: event_id.into(), message, json }
    }

    fn from_sdk(event: &FilteredLogEvent) -> Self {
        Self::new(
            event.log_stream_name().unwrap_or_default(),
            event.timestamp().unwrap_or_default(),
            event.ingestion_time().unwrap_or_default(),
            event.event_id().unwrap_or_default(),
            event.message().unwrap_or_default(),
        )
    }

    /// The line as written, without its line break.
    pub fn text(&self) -> &str {
        self.message.trim_end_matches(['\n', '\r'])
    }

    pub fn level(&self) -> Option<Level> {
        Level::parse(self.json.as_ref()?.get("level")?.as_str()?)
    }

    /// The request's correlation id: the runtime writes it among its request span's fields.
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_ids().next()
    }

    fn correlation_ids(&self) -> impl Iterator<Item = &str> {
        let json = self.json.as_ref();
        let in_span = json.and_then(|o| o.get("span")).and_then(|s| s.get("correlation_id")).and_then(Value::as_str);
        let top_level = json.and_then(|o| o.get("correlation_id")).and_then(Value::as_str);
        in_span.into_iter().chain(top_level)
    }

    /// The `--output json` line: the event's own JSON object (a line that is not one as
    /// `message`) plus where CloudWatch keeps it: `log_stream`, `log_timestamp` (ms since the
    /// epoch) and `log_event_id`. The line's own fields are never overwritten (the runtime's
    /// `timestamp` is an RFC 3339 string).
    pub fn to_json_line(&self) -> String {
        let mut object = self.json.clone().unwrap_or_else(|| {
            let mut object = Map::new();
            object.insert("message".to_owned(), Value::String(self.text().to_owned()));
            object
        });
        object.insert("log_stream".to_owned(), Value::String(self.log_stream.clone()));
        object.insert("log_timestamp".to_owned(), Value::from(self.timestamp));
        object.insert("log_event_id".to_owned(), Value::String(self.event_id.clone()));
        Value::Object(object).to_string()
    }

    /// The text rendering: `HH:MM:SS.mmm LEVEL [correlation id] message key=value…` (UTC) for a
    /// log line in JSON, with the event's fields and then its span's; else the time and the line.
    pub fn render(&self) -> String {
        let time = DateTime::from_timestamp_millis(self.timestamp)
            .map(|t| t.format("%H:%M:%S%.3f").to_string())
            .unwrap_or_else(|| self.timestamp.to_string());
        // JSON without a level or a message (an embedded-metric line) reads best as it is.
        let Some(object) = self.json.as_ref().filter(|o| o.contains_key("level") || o.contains_key("message")) else {
            return format!("{time} {}", self.text());
        };
        let level = object.get("level").and_then(Value::as_str).unwrap_or("-");
        let id = self.correlation_id().unwrap_or("-");
        let message = object.get("message").and_then(Value::as_str).unwrap_or_default();
        let mut line = format!("{time} {level:<5} [{id}] {message}");
        let fields = sorted(object.iter().filter(|(key, _)| !SHOWN_OR_NOISE.contains(&key.as_str())));
        let span = object.get("span").and_then(Value::as_object);
        let span_fields =
            sorted(span.into_iter().flatten().filter(|(key, _)| !matches!(key.as_str(), "name" | "correlation_id")));
        for (key, value) in fields.into_iter().chain(span_fields) {
            line.push(' ');
            line.push_str(key);
            line.push('=');
            line.push_str(&field(value));
        }
        line
    }
}

/// Top-level fields `render` shows in their own place, or leaves out (the emitting module).
const SHOWN_OR_NOISE: [&str; 7] = ["timestamp", "level", "message", "span", "spans", "target", "correlation_id"];

fn sorted<'a>(fields: impl Iterator<Item = (&'a String, &'a Value)>) -> Vec<(&'a String, &'a Value)> {
    let mut fields: Vec<_> = fields.collect();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    fields
}

/// A plain word as it is; anything else (spaces, quotes, numbers, objects) as JSON.
fn field(value: &Value) -> String {
    match value {
        Value::String(text)
            if !text.is_empty() && !text.contains(|c: char| c.is_whitespace() || c == '"' || c == '=') =>
        {
            text.clone()
        }
        other => other.to_string(),
    }
}

/// Events in the order they happened: by timestamp, then by ingestion; the order CloudWatch
/// returned them in breaks the remaining ties (one stream's lines of one millisecond).
pub fn in_order(events: &mut [Event]) {
    events.sort_by_key(|event| (event.timestamp, event.ingestion_time));
}

/// Every event of `log_group` from `start_ms` on that `filter` keeps, in order (all pages).
pub async fn read(client: &Client, log_group: &str, start_ms: i64, filter: &Filter) -> Result<Vec<Event>> {
    let pattern = filter.pattern();
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = match client
            .filter_log_events()
            .log_group_name(log_group)
            .start_time(start_ms)
            .set_filter_pattern(pattern.clone())
            .set_next_token(token.clone())
            .send()
            .await
        {
            Ok(page) => page,
            Err(e) if is_not_found(&e) => {
                return Err(Error::user_with_hint(
                    format!("the log group {log_group} does not exist"),
                    "the stack creates it: deploy the environment first",
                ));
            }
            Err(e) => return Err(e).sdk_context(|| format!("failed to read the log group {log_group}")),
        };
        events.extend(page.events().iter().map(Event::from_sdk).filter(|event| filter.matches(event)));
        match page.next_token() {
            // A page may be empty and still have a next one (CloudWatch searches in slices).
            Some(next) if !next.is_empty() && token.as_deref() != Some(next) => token = Some(next.to_owned()),
            _ => break,
        }
    }
    in_order(&mut events);
    Ok(events)
}

/// Hands `emit` what [`read`] returns from `start_ms` on, then every new event as it arrives,
/// polling every [`POLL_EVERY`], until `stop` completes or `emit` returns false (its output is
/// gone). Each event is emitted once, however many polls return it.
pub async fn follow(
    client: &Client,
    log_group: &str,
    start_ms: i64,
    filter: &Filter,
    stop: impl Future<Output = ()>,
    mut emit: impl FnMut(&Event) -> bool,
) -> Result<()> {
    let mut stop = std::pin::pin!(stop);
    let mut seen: HashMap<(String, String), i64> = HashMap::new();
    let mut from = start_ms;
    loop {
        for event in read(client, log_group, from, filter).await? {
            let key = (event.log_stream.clone(), event.event_id.clone());
            if seen.insert(key, event.timestamp).is_none() && !emit(&event) {
                return Ok(());
            }
        }
        if let Some(newest) = seen.values().max() {
            from = from.max(newest - LATE_ARRIVALS_MS);
        }
        seen.retain(|_, timestamp| *timestamp >= from);
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = tokio::time::sleep(POLL_EVERY) => {}
        }
    }
}

/// The start of `--since`: a duration back from `now` (`15m`, `2h`, `1d`), or a time
/// (`2026-01-02T10:00:00Z`; without an offset, UTC). In ms since the epoch.
pub fn since(text: &str, now: DateTime<Utc>) -> Result<i64> {
    if let Ok(ago) = humantime::parse_duration(text) {
        let ago = i64::try_from(ago.as_millis()).unwrap_or(i64::MAX);
        return Ok(now.timestamp_millis().saturating_sub(ago).max(0));
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_millis());
    }
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return Ok(DateTime::<Utc>::from(time).timestamp_millis());
    }
    Err(Error::user(format!("--since {text:?} is neither a duration (15m, 2h, 1d) nor a time (2026-01-02T10:00:00Z)")))
}

// --- shipping a local function's lines -----------------------------------------------------------

/// How often the shipper sends what the function wrote.
const SHIP_EVERY: Duration = Duration::from_millis(200);
/// How long stopping waits for the last lines to be shipped.
const FINISH_WITHIN: Duration = Duration::from_secs(5);
/// PutLogEvents limits (CloudWatch Logs API reference): a batch holds at most 10,000 events and
/// 1,048,576 bytes, counting each event's message plus 26 bytes.
const MAX_BATCH_EVENTS: usize = 10_000;
const MAX_BATCH_BYTES: usize = 1_048_576;
const EVENT_OVERHEAD: usize = 26;
/// A longer line is cut to this (an event is at most 256 KB).
const MAX_EVENT_BYTES: usize = 256 * 1024 - EVENT_OVERHEAD;

/// The log group Lambda writes a function's lines to when its LoggingConfig names none.
pub fn default_log_group(function_arn: &str) -> String {
    // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
    let name = function_arn.split(':').nth(6).unwrap_or(function_arn);
    format!("/aws/lambda/{name}")
}

/// A log stream name as Lambda makes one per execution environment: `YYYY/MM/DD/[VERSION]` and
/// 32 hex digits.
pub fn lambda_stream_name(version: &str, now: DateTime<Utc>) -> String {
    format!("{}/[{version}]{}", now.format("%Y/%m/%d"), uuid::Uuid::new_v4().simple())
}

/// Ships the lines a locally run function writes to its log file into its log group, in one new
/// stream, every [`SHIP_EVERY`] and once more when finished (or dropped). Best-effort: a failure
/// is one warning on stderr, the lines stay in the file, and whatever runs the function goes on.
#[derive(Debug)]
pub struct Shipper {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    pub log_group: String,
    pub log_stream: String,
}

impl Shipper {
    /// Starts shipping `file` (needs a tokio runtime); `client` acts as the function's role.
    pub fn start(client: Client, log_group: String, log_stream: String, file: PathBuf) -> Self {
        let (stop, stopped) = oneshot::channel();
        let sink = Sink {
            client,
            log_group: log_group.clone(),
            log_stream: log_stream.clone(),
            file: file.clone(),
            created: false,
            warned: false,
        };
        let task = tokio::spawn(ship(Tail { file, offset: 0, pending: Vec::new() }, sink, stopped));
        Self { stop, task, log_group, log_stream }
    }

    /// Ships what is left and waits for it, at most [`FINISH_WITHIN`].
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(FINISH_WITHIN, self.task).await;
    }
}

/// The shipping loop; a dropped [`Shipper`] closes `stop`, which ships the rest as well.
async fn ship(mut tail: Tail, mut sink: Sink, mut stop: oneshot::Receiver<()>) {
    let mut every = tokio::time::interval(SHIP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = every.tick() => false,
            _ = &mut stop => true,
        };
        let lines = tail.read(stopping);
        sink.put(lines).await;
        if stopping {
            return;
        }
    }
}

/// The lines another process appends to a file.
#[derive(Debug)]
struct Tail {
    file: PathBuf,
    offset: u64,
    pending: Vec<u8>,
}

impl Tail {
    /// The complete lines appended since the last call; with `to_end`, also a last line that has
    /// no line break yet. Blank lines are skipped (CloudWatch refuses empty events).
    fn read(&mut self, to_end: bool) -> Vec<String> {
        if let Ok(mut file) = std::fs::File::open(&self.file)
            && file.seek(SeekFrom::Start(self.offset)).is_ok()
        {
            let mut appended = Vec::new();
            if let Ok(read) = file.read_to_end(&mut appended) {
                self.offset += read as u64;
                self.pending.extend_from_slice(&appended);
            }
        }
        let complete = if to_end {
            self.pending.len()
        } else {
            self.pending.iter().rposition(|b| *b == b'\n').map_or(0, |at| at + 1)
        };
        let lines: Vec<u8> = self.pending.drain(..complete).collect();
        String::from_utf8_lossy(&lines).lines().filter(|line| !line.trim().is_empty()).map(str::to_owned).collect()
    }
}

/// One log stream being written, created on first use.
#[derive(Debug)]
struct Sink {
    client: Client,
    log_group: String,
    log_stream: String,
    file: PathBuf,
    created: bool,
    warned: bool,
}

impl Sink {
    async fn put(&mut self, lines: Vec<String>) {
        if lines.is_empty() {
            return;
        }
        let now = Utc::now().timestamp_millis();
        let mut events: Vec<(i64, String)> =
            lines.into_iter().map(|line| (line_timestamp(&line, now), truncated(line))).collect();
        // PutLogEvents takes a batch only in chronological order.
        events.sort_by_key(|(timestamp, _)| *timestamp);
        for batch in batches(events) {
            if let Err(error) = self.send(batch).await {
                if !self.warned {
                    self.warned = true;
                    eprintln!(
                        "warning: the function's log lines are not shipped to {} ({error}); they stay in {}",
                        self.log_group,
                        self.file.display()
                    );
                }
                return;
            }
        }
    }

    async fn send(&mut self, batch: Vec<(i64, String)>) -> Result<()> {
        if !self.created {
            match self
                .client
                .create_log_stream()
                .log_group_name(&self.log_group)
                .log_stream_name(&self.log_stream)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if e.code() == Some("ResourceAlreadyExistsException") => {}
                Err(e) => {
                    return Err(e).sdk_context(|| {
                        format!("failed to create the log stream {} in {}", self.log_stream, self.log_group)
                    });
                }
            }
            self.created = true;
        }
        let events = batch
            .into_iter()
            .map(|(timestamp, message)| InputLogEvent::builder().timestamp(timestamp).message(message).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Internal(anyhow::anyhow!("a log event is incomplete: {e}")))?;
        self.client
            .put_log_events()
            .log_group_name(&self.log_group)
            .log_stream_name(&self.log_stream)
            .set_log_events(Some(events))
            .send()
            .await
            .sdk_context(|| format!("failed to put log events into {}", self.log_group))?;
        Ok(())
    }
}

/// When a line was written: the `timestamp` of a JSON line (the runtime's, RFC 3339), else `now`.
fn line_timestamp(line: &str, now: i64) -> i64 {
    serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|value| {
            value.get("timestamp").and_then(Value::as_str).and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        })
        .map_or(now, |time| time.timestamp_millis())
}

fn truncated(mut line: String) -> String {
    if line.len() > MAX_EVENT_BYTES {
        let mut cut = MAX_EVENT_BYTES;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    line
}

/// Events split into PutLogEvents batches, in their order.
fn batches(events: Vec<(i64, String)>) -> Vec<Vec<(i64, String)>> {
    let mut batches = Vec::new();
    let mut current: Vec<(i64, String)> = Vec::new();
    let mut bytes = 0;
    for (timestamp, message) in events {
        let size = message.len() + EVENT_OVERHEAD;
        if !current.is_empty() && (current.len() == MAX_BATCH_EVENTS || bytes + size > MAX_BATCH_BYTES) {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push((timestamp, message));
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// 2026-01-02T10:00:00.123Z
    const AT: i64 = 1_767_348_000_123;
    const ERROR_LINE: &str = r#"{"timestamp":"2026-01-02T10:00:00.123456Z","level":"ERROR","status":503,"error":"persona unavailable","message":"deep health check failed","target":"twin_runtime::api","span":{"correlation_id":"corr-1","method":"GET","path":"/api/health","name":"request"}}"#;
    const INFO_LINE: &str = r#"{"timestamp":"2026-01-02T10:00:00.200Z","level":"INFO","message":"request served","status":200,"span":{"correlation_id":"corr-2","name":"request"}}"#;
    const RAW_LINE: &str = "thread 'main' panicked at src/main.rs:1:1";

    fn event(id: &str, timestamp: i64, ingestion_time: i64, message: &str) -> Event {
        Event::new(
            "2026/01/02/[3]0123456789abcdef0123456789abcdef",
            timestamp,
            ingestion_time,
            id,
            format!("{message}\n"),
        )
    }

    #[test]
    fn a_json_line_renders_time_level_correlation_id_message_and_its_fields() {
        assert_eq!(
            event("1", AT, AT, ERROR_LINE).render(),
            "10:00:00.123 ERROR [corr-1] deep health check failed error=\"persona unavailable\" status=503 method=GET path=/api/health"
        );
        assert_eq!(
            event("2", AT + 77, AT, INFO_LINE).render(),
            "10:00:00.200 INFO  [corr-2] request served status=200"
        );
        assert_eq!(event("3", AT, AT, RAW_LINE).render(), format!("10:00:00.123 {RAW_LINE}"));
        let metrics = r#"{"_aws":{"Timestamp":1},"Requests":1}"#;
        assert_eq!(event("4", AT, AT, metrics).render(), format!("10:00:00.123 {metrics}"));
    }

    #[test]
    fn a_json_line_passes_through_with_where_cloudwatch_keeps_it() {
        let line: Value = serde_json::from_str(&event("7", AT, AT + 5, ERROR_LINE).to_json_line()).unwrap();
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["span"]["correlation_id"], "corr-1");
        assert_eq!(line["timestamp"], "2026-01-02T10:00:00.123456Z", "the line's own timestamp stays");
        assert_eq!(line["log_timestamp"], AT);
        assert_eq!(line["log_event_id"], "7");
        assert_eq!(line["log_stream"], "2026/01/02/[3]0123456789abcdef0123456789abcdef");
        let raw: Value = serde_json::from_str(&event("8", AT, AT, RAW_LINE).to_json_line()).unwrap();
        assert_eq!(raw["message"], RAW_LINE, "without its line break");
        assert!(!event("8", AT, AT, RAW_LINE).to_json_line().contains('\n'), "one line");
    }

    #[test]
    fn the_filter_keeps_a_level_and_above_one_request_and_a_text() {
        let (error, info, raw) =
            (event("1", AT, AT, ERROR_LINE), event("2", AT, AT, INFO_LINE), event("3", AT, AT, RAW_LINE));
        let keeps = |filter: Filter| -> Vec<String> {
            [&error, &info, &raw].into_iter().filter(|e| filter.matches(e)).map(|e| e.event_id.clone()).collect()
        };
        assert_eq!(keeps(Filter::default()), ["1", "2", "3"]);
        assert_eq!(keeps(Filter { level: Some(Level::Error), ..Filter::default() }), ["1"]);
        assert_eq!(keeps(Filter { level: Some(Level::Warn), ..Filter::default() }), ["1"]);
        assert_eq!(keeps(Filter { level: Some(Level::Info), ..Filter::default() }), ["1", "2"]);
        assert_eq!(keeps(Filter { correlation_id: Some("corr-2".into()), ..Filter::default() }), ["2"]);
        assert_eq!(keeps(Filter { grep: Some("panicked".into()), ..Filter::default() }), ["3"]);
        assert!(keeps(Filter { grep: Some("PANICKED".into()), ..Filter::default() }).is_empty(), "case-sensitive");
        let both =
            Filter { correlation_id: Some("corr-1".into()), level: Some(Level::Info), grep: Some("health".into()) };
        assert_eq!(keeps(both), ["1"]);
        let top_level = event("9", AT, AT, r#"{"level":"INFO","message":"m","correlation_id":"corr-3"}"#);
        assert!(Filter { correlation_id: Some("corr-3".into()), ..Filter::default() }.matches(&top_level));
    }

    #[test]
    fn the_pattern_says_in_json_what_the_filter_says_and_never_the_text() {
        let filter = Filter { correlation_id: Some("corr-1".into()), level: Some(Level::Warn), grep: Some("x".into()) };
        assert_eq!(
            filter.pattern().unwrap(),
            r#"{ ($.span.correlation_id = "corr-1" || $.correlation_id = "corr-1") && ($.level = "WARN" || $.level = "ERROR") }"#
        );
        assert_eq!(Filter::default().pattern(), None);
        assert_eq!(Filter { grep: Some("served".into()), ..Filter::default() }.pattern(), None);
        assert_eq!(Filter { level: Some(Level::Trace), ..Filter::default() }.pattern(), None);
        let odd = Filter { correlation_id: Some("a\" || 1".into()), ..Filter::default() };
        assert_eq!(odd.pattern(), None, "an id the pattern cannot quote is matched here only");
    }

    #[test]
    fn events_are_ordered_by_timestamp_then_ingestion_then_as_returned() {
        let mut events = vec![
            event("a", 5, 1, RAW_LINE),
            event("b", 3, 2, RAW_LINE),
            event("c", 3, 1, RAW_LINE),
            event("d", 3, 1, RAW_LINE),
        ];
        in_order(&mut events);
        let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids, ["c", "d", "b", "a"]);
    }

    #[test]
    fn since_takes_a_duration_or_a_time() {
        let now = DateTime::from_timestamp_millis(AT).unwrap();
        assert_eq!(since("15m", now).unwrap(), AT - 15 * 60 * 1000);
        assert_eq!(since("1h 30m", now).unwrap(), AT - 90 * 60 * 1000);
        assert_eq!(since("2026-01-02T10:00:00.123Z", now).unwrap(), AT);
        assert_eq!(since("2026-01-02T11:00:00.123+01:00", now).unwrap(), AT);
        assert_eq!(since("2026-01-02 10:00:00", now).unwrap(), AT - 123, "UTC without an offset");
        let error = since("yesterday", now).unwrap_err();
        assert_eq!(error.exit(), crate::error::Exit::User);
    }

    #[test]
    fn local_lines_go_where_lambda_puts_them() {
        assert_eq!(
            default_log_group("arn:aws:lambda:us-east-1:123456789012:function:twin-local-api:7"),
            "/aws/lambda/twin-local-api"
        );
        let now = DateTime::from_timestamp_millis(AT).unwrap();
        let stream = lambda_stream_name("7", now);
        let (prefix, hex) = stream.split_at("2026/01/02/[7]".len());
        assert_eq!(prefix, "2026/01/02/[7]");
        assert!(hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()), "{stream}");
        assert_ne!(lambda_stream_name("7", now), stream, "one stream per run");
    }

    #[test]
    fn a_line_is_stamped_with_its_own_time_and_batches_respect_the_limits() {
        assert_eq!(line_timestamp(ERROR_LINE, 42), AT);
        assert_eq!(line_timestamp(RAW_LINE, 42), 42);
        let long = "é".repeat(MAX_EVENT_BYTES);
        let cut = truncated(long);
        assert!(cut.len() <= MAX_EVENT_BYTES && cut.len() > MAX_EVENT_BYTES - 2);
        let many: Vec<(i64, String)> = (0..MAX_BATCH_EVENTS + 1).map(|n| (n as i64, "x".to_owned())).collect();
        assert_eq!(batches(many).iter().map(Vec::len).collect::<Vec<_>>(), [MAX_BATCH_EVENTS, 1]);
        let big: Vec<(i64, String)> = (0..5).map(|n| (n, "y".repeat(MAX_EVENT_BYTES))).collect();
        let split = batches(big);
        assert_eq!(split.iter().map(Vec::len).sum::<usize>(), 5);
        assert!(
            split.iter().all(|b| b.iter().map(|(_, m)| m.len() + EVENT_OVERHEAD).sum::<usize>() <= MAX_BATCH_BYTES)
        );
    }

    #[test]
    fn the_tail_hands_over_complete_lines_and_the_rest_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("function.log");
        let append = |text: &str| {
            use std::io::Write as _;
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
            file.write_all(text.as_bytes()).unwrap();
        };
        let mut tail = Tail { file: path.clone(), offset: 0, pending: Vec::new() };
        assert!(tail.read(false).is_empty(), "no file yet");
        append("a\n\nb");
        assert_eq!(tail.read(false), ["a"]);
        append("c\n");
        assert_eq!(tail.read(false), ["bc"]);
        append("d");
        assert!(tail.read(false).is_empty());
        assert_eq!(tail.read(true), ["d"]);
    }
}
