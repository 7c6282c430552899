//! What one step saw: the answer of an HTTP request, an S3 object, a role's policies, a
//! distribution's settings — reduced to one shape that captures and expectations read
//! (`expect.rs`), plus the kind's own verdicts (`findings`).
//!
//! Must not: decide pass or fail beyond a kind's findings (the runner does, from the plan).

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Observation {
    /// An HTTP status, where there was one.
    pub status: Option<u16>,
    /// Response headers, names lower-case.
    pub headers: BTreeMap<String, String>,
    /// The body as text (an HTTP body, an S3 object).
    pub body: Option<String>,
    /// The body parsed as JSON, or a document the kind builds.
    pub json: Option<serde_json::Value>,
    pub duration_ms: u64,
    /// Named facts the kind establishes (`versioning: true`, `alias_version: "3"`), which
    /// `expect: {checks: …}` tests.
    pub checks: BTreeMap<String, serde_json::Value>,
    /// The kind's own verdicts: each one fails (or warns) the step whatever `expect` says.
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: FindingSeverity,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingSeverity {
    Fail,
    Warn,
}

impl Finding {
    pub fn fail(message: impl Into<String>) -> Self {
        Self { severity: FindingSeverity::Fail, message: message.into() }
    }

    pub fn warn(message: impl Into<String>) -> Self {
        Self { severity: FindingSeverity::Warn, message: message.into() }
    }
}

impl Observation {
    pub fn check(&mut self, name: &str, value: impl Into<serde_json::Value>) {
        self.checks.insert(name.to_owned(), value.into());
    }
}
