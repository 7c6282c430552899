//! Drift: what changed behind twinctl's back since the current release was recorded.
//!
//! Owns the comparison of the environment as it is with the current release: the `live`
//! alias's version and any routing weight left on it, the site bucket's objects against the
//! release's manifest (keys added, changed — by the sha256 twinctl keeps in each object's
//! metadata — or missing), the persona's version; and, on request, CloudFormation's own drift
//! detection of the stack's resources. CloudFormation cannot see the first three: the alias
//! routing, the site objects and the persona are written by twinctl, not by the stack.
//! Must not: change anything.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{StackDriftDetectionStatus, StackResourceDriftStatus};
use serde::Serialize;

use crate::aws::{SdkContext, lambda};
use crate::deploy::site::{self, Current};
use crate::error::Result;
use crate::release::{Release, SiteObject};
use crate::target::Target;

/// HEADs in flight while reading site objects whose version is not the recorded one.
const PARALLEL_HEADS: usize = 16;

#[derive(Debug, Default, Serialize)]
pub struct Drift {
    /// Anything below differs from the current release (stack drift included when checked).
    pub drifted: bool,
    /// The alias serves another version than the current release's.
    pub alias: Option<AliasDrift>,
    /// Weights left on the alias: a canary runs, was interrupted, or someone split traffic.
    pub routing_weights: BTreeMap<String, f64>,
    pub site: SiteDrift,
    pub persona: Option<PersonaDrift>,
    pub stack: StackDrift,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct AliasDrift {
    pub recorded_version: String,
    pub live_version: String,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct SiteDrift {
    /// In the bucket, not in the release.
    pub added: Vec<String>,
    /// Content differs from the release (or was written without twinctl's sha256).
    pub changed: Vec<String>,
    /// In the release, gone from the bucket.
    pub missing: Vec<String>,
}

impl SiteDrift {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.missing.is_empty()
    }
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PersonaDrift {
    pub key: String,
    pub recorded_version: Option<String>,
    /// None when the persona is gone.
    pub current_version: Option<String>,
}

/// CloudFormation's drift detection (`status --drift`).
#[derive(Debug, Default, Serialize)]
pub struct StackDrift {
    /// `not_checked`, `in_sync`, `drifted`, `unknown` (detection failed) or `unsupported`.
    pub status: String,
    pub resources: Vec<ResourceDrift>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ResourceDrift {
    pub logical_id: String,
    pub resource_type: String,
    /// MODIFIED or DELETED.
    pub drift: String,
}

/// The site's drift: the bucket's current objects against the release's manifest.
pub fn compare_site(recorded: &[SiteObject], current: &BTreeMap<String, Current>) -> SiteDrift {
    let recorded: BTreeMap<&str, &SiteObject> = recorded.iter().map(|o| (o.key.as_str(), o)).collect();
    let mut drift = SiteDrift::default();
    for (key, now) in current {
        match recorded.get(key.as_str()) {
            None => drift.added.push(key.clone()),
            Some(object) if now.sha256.as_deref() != Some(object.sha256.as_str()) => drift.changed.push(key.clone()),
            Some(_) => {}
        }
    }
    drift.missing = recorded.keys().filter(|key| !current.contains_key(**key)).map(|key| (*key).to_owned()).collect();
    drift
}

/// The alias's drift: another version live than the release recorded.
pub fn compare_alias(release: &Release, routing: Option<&lambda::AliasRouting>) -> Option<AliasDrift> {
    let recorded = release.function.as_ref()?.version.clone();
    let live = routing.map(|r| r.version.clone()).unwrap_or_default();
    (live != recorded).then_some(AliasDrift { recorded_version: recorded, live_version: live })
}

/// Compares the environment with `release` (the current one). `routing` is the alias as read.
pub async fn detect(target: &Target, release: &Release, routing: Option<&lambda::AliasRouting>) -> Result<Drift> {
    let s3 = target.aws.s3();
    let mut drift = Drift {
        alias: compare_alias(release, routing),
        routing_weights: routing.map(|r| r.weights.clone()).unwrap_or_default(),
        stack: StackDrift { status: "not_checked".to_owned(), ..StackDrift::default() },
        ..Drift::default()
    };
    if let Some(bucket) = target.outputs.get("FrontendBucketName") {
        let current = site::current(&s3, bucket, &release.site, PARALLEL_HEADS).await?;
        drift.site = compare_site(&release.site, &current);
    }
    if let (Some(persona), Some(bucket)) = (&release.persona, target.outputs.get("MemoryBucketName")) {
        let current_version = current_version(&s3, bucket, &persona.key).await?;
        let same = match (&persona.version_id, &current_version) {
            (Some(recorded), Some(Some(now))) => recorded == now,
            // An unversioned write, or a bucket without versions: nothing to tell them apart.
            (None, Some(_)) => true,
            _ => false,
        };
        if !same {
            drift.persona = Some(PersonaDrift {
                key: persona.key.clone(),
                recorded_version: persona.version_id.clone(),
                current_version: current_version.flatten(),
            });
        }
    }
    drift.drifted =
        drift.alias.is_some() || !drift.routing_weights.is_empty() || !drift.site.is_empty() || drift.persona.is_some();
    Ok(drift)
}

/// The key's current version id: None when the key is gone, Some(None) when it has none.
async fn current_version(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Option<Option<String>>> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(head) => Ok(Some(head.version_id().map(str::to_owned))),
        Err(e) if crate::aws::error::is_not_found(&e) => Ok(None),
        Err(e) => Err(e).sdk_context(|| format!("failed to read s3://{bucket}/{key}")),
    }
}

/// CloudFormation's drift detection of `stack`, waited for (DetectStackDrift, then
/// DescribeStackDriftDetectionStatus until it ends, then DescribeStackResourceDrifts of what
/// drifted; CloudFormation user guide, "Detect drift on an entire CloudFormation stack"). It reads
/// each resource with the caller's credentials, so it needs more than the CI roles hold.
/// An endpoint without drift detection (the emulator) is reported as `unsupported`.
pub async fn detect_stack(target: &Target, stack: &str) -> Result<StackDrift> {
    let cfn = target.aws.cloudformation();
    let started = match cfn.detect_stack_drift().stack_name(stack).send().await {
        Ok(started) => started,
        Err(e) if unsupported(&e) => {
            return Ok(StackDrift {
                status: "unsupported".to_owned(),
                resources: Vec::new(),
                reason: Some(format!(
                    "this endpoint has no CloudFormation drift detection ({})",
                    e.code().unwrap_or("no code")
                )),
            });
        }
        Err(e) => return Err(e).sdk_context(|| format!("failed to start drift detection of {stack}")),
    };
    let id = started.stack_drift_detection_id().unwrap_or_default().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    let finished = loop {
        let status = cfn
            .describe_stack_drift_detection_status()
            .stack_drift_detection_id(&id)
            .send()
            .await
            .sdk_context(|| format!("failed to read drift detection {id} of {stack}"))?;
        if status.detection_status() != Some(&StackDriftDetectionStatus::DetectionInProgress) {
            break status;
        }
        if std::time::Instant::now() > deadline {
            return Ok(StackDrift {
                status: "unknown".to_owned(),
                resources: Vec::new(),
                reason: Some(format!("drift detection {id} did not finish within 10 minutes")),
            });
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    };
    if finished.detection_status() == Some(&StackDriftDetectionStatus::DetectionFailed) {
        return Ok(StackDrift {
            status: "unknown".to_owned(),
            resources: Vec::new(),
            reason: finished.detection_status_reason().map(str::to_owned),
        });
    }
    let mut resources = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = cfn
            .describe_stack_resource_drifts()
            .stack_name(stack)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
            .set_next_token(token.clone())
            .send()
            .await
            .sdk_context(|| format!("failed to list the drifted resources of {stack}"))?;
        resources.extend(page.stack_resource_drifts().iter().map(|d| ResourceDrift {
            logical_id: d.logical_resource_id().unwrap_or_default().to_owned(),
            resource_type: d.resource_type().unwrap_or_default().to_owned(),
            drift: d.stack_resource_drift_status().map(|s| s.as_str()).unwrap_or_default().to_owned(),
        }));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let status = if resources.is_empty() { "in_sync" } else { "drifted" };
    Ok(StackDrift { status: status.to_owned(), resources, reason: None })
}

/// The endpoint does not implement the operation (moto answers 501 or an unknown-action error).
fn unsupported<E: ProvideErrorMetadata>(
    error: &aws_sdk_cloudformation::error::SdkError<E, aws_sdk_cloudformation::config::http::HttpResponse>,
) -> bool {
    let status = error.raw_response().map(|r| r.status().as_u16());
    matches!(status, Some(501 | 404))
        || matches!(error.code(), Some("NotImplemented" | "InvalidAction" | "UnknownOperationException"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(key: &str, sha: &str) -> SiteObject {
        SiteObject {
            key: key.to_owned(),
            version_id: Some("v1".to_owned()),
            sha256: sha.to_owned(),
            content_type: "text/html".to_owned(),
            cache_control: "no-cache".to_owned(),
        }
    }

    fn now(sha: Option<&str>) -> Current {
        Current {
            version_id: Some("v2".to_owned()),
            sha256: sha.map(str::to_owned),
            content_type: None,
            cache_control: None,
        }
    }

    #[test]
    fn site_drift_names_added_changed_and_missing_keys() {
        let release = [recorded("index.html", "aa"), recorded("app.js", "bb"), recorded("gone.css", "cc")];
        let current = BTreeMap::from([
            ("index.html".to_owned(), now(Some("aa"))),
            ("app.js".to_owned(), now(Some("b2"))),
            ("extra.txt".to_owned(), now(Some("dd"))),
        ]);
        let drift = compare_site(&release, &current);
        assert_eq!(drift.added, ["extra.txt"]);
        assert_eq!(drift.changed, ["app.js"]);
        assert_eq!(drift.missing, ["gone.css"]);
        assert!(!drift.is_empty());
    }

    #[test]
    fn an_object_without_twinctls_digest_counts_as_changed_and_an_identical_site_is_no_drift() {
        let release = [recorded("index.html", "aa")];
        let written_by_hand = BTreeMap::from([("index.html".to_owned(), now(None))]);
        assert_eq!(compare_site(&release, &written_by_hand).changed, ["index.html"]);
        let same = BTreeMap::from([("index.html".to_owned(), now(Some("aa")))]);
        assert!(compare_site(&release, &same).is_empty());
    }
}
