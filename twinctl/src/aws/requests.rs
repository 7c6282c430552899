//! Counts the requests twinctl sends to AWS, per service and per attempt (retries count):
//! deploy and rollback report them (`aws_requests`), and the rollback benchmark measures with
//! them that a rollback's cost follows what changed, not the size of the site.
//!
//! With `TWINCTL_RECORD_OPERATIONS=<file>` it also appends each operation as
//! `service:Operation` to that file: the emulator tests check every recorded operation against
//! the IAM actions twinctl declares ([`super::permissions`]).
//! Must not: change a request.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

// The smithy runtime types, as every SDK crate re-exports them (one interceptor type serves all).
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// Where operations are recorded, when they are.
pub const RECORD_ENV: &str = "TWINCTL_RECORD_OPERATIONS";

/// Shared by every client of one [`super::Aws`].
#[derive(Debug, Clone, Default)]
pub struct RequestCount {
    counts: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl RequestCount {
    /// Requests sent so far, by service.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()).unwrap_or_default()
    }

    /// The interceptor to install on `service`'s client.
    pub fn interceptor(&self, service: &'static str) -> Counter {
        let record = std::env::var_os(RECORD_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
        Counter { service, counts: Arc::clone(&self.counts), record }
    }
}

#[derive(Debug)]
pub struct Counter {
    service: &'static str,
    counts: Arc<Mutex<BTreeMap<&'static str, u64>>>,
    record: Option<PathBuf>,
}

impl Counter {
    fn record(&self, cfg: &ConfigBag) -> std::io::Result<()> {
        let (Some(path), Some(metadata)) = (&self.record, cfg.load::<Metadata>()) else { return Ok(()) };
        // One short append per request: concurrent writers never interleave within a line.
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        file.write_all(format!("{}:{}\n", self.service, metadata.name()).as_bytes())
    }
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "twinctl-request-count"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(self.service).or_default() += 1;
        }
        self.record(cfg)?;
        Ok(())
    }
}
