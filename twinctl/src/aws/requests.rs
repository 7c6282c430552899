//! Counts the requests twinctl sends to AWS, per service and per attempt (retries count):
//! deploy and rollback report them (`aws_requests`), and the rollback benchmark measures with
//! them that a rollback's cost follows what changed, not the size of the site.
//! Must not: change a request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

// The smithy runtime types, as every SDK crate re-exports them (one interceptor type serves all).
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;

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
        Counter { service, counts: Arc::clone(&self.counts) }
    }
}

#[derive(Debug)]
pub struct Counter {
    service: &'static str,
    counts: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "twinctl-request-count"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(self.service).or_default() += 1;
        }
        Ok(())
    }
}
