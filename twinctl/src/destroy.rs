//! `twinctl destroy`'s steps over one environment, under its lock: the stack goes, the data stays
//! unless asked. Each step is idempotent, so a rerun after a crash or a failure finishes the job:
//!
//! 1. refuse a termination-protected stack unless told to turn protection off (before anything
//!    is deleted);
//! 2. the site bucket emptied of every version (CloudFormation cannot delete a bucket that holds
//!    objects), then the stack deleted and waited for;
//! 3. the data stack's memory bucket, key, secret and log groups: kept and listed, or, with
//!    `delete_data`, each deleted by its own API (the bucket emptied of every version first, the
//!    secret without a recovery window, the key scheduled for deletion after
//!    [`KEY_DELETION_DAYS`]) and then the data stack itself — last, because its outputs are how a
//!    rerun finds what is left;
//! 4. the release history (`releases/<env>/`), unless kept; then the lock is released, which
//!    removes it.
//!
//! Must not: ask for confirmation or print results (the command does).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::artifacts;
use crate::aws::error::{SdkContext, is_not_found};
use crate::aws::stack::{self, Waiting};
use crate::aws::{Caller, s3};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::lock::{Activity, EnvironmentLock};
use crate::target::Target;

/// Bumped on any incompatible change of [`DestroyReport`].
pub const SCHEMA_VERSION: u32 = 1;

/// AWS KMS waits at least 7 days before it deletes a key (7–30; AWS KMS API reference,
/// ScheduleKeyDeletion): the shortest wait, since the data was asked to go.
pub const KEY_DELETION_DAYS: i32 = 7;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Delete the memory bucket, key, secret and log groups too.
    pub delete_data: bool,
    /// Keep the release history (`twinctl releases` still lists it).
    pub keep_history: bool,
    /// Turn termination protection off where it is on.
    pub disable_termination_protection: bool,
    pub force_unlock: bool,
}

/// The result document of `twinctl destroy`.
#[derive(Debug, Serialize)]
pub struct DestroyReport {
    pub schema_version: u32,
    pub environment: String,
    /// Nothing was left to destroy: this run changed nothing.
    pub nothing_to_destroy: bool,
    pub stack: String,
    pub stack_deleted: bool,
    /// Object versions and delete markers removed from the site bucket.
    pub site_versions_deleted: usize,
    pub data_stack: String,
    pub data_stack_deleted: bool,
    /// The environment's data: what was kept (and how to delete it) or what was deleted.
    pub data: Vec<DataItem>,
    /// Release manifests (and markers) removed; zero with `--keep-history`.
    pub history_removed: usize,
    pub history_kept: bool,
    /// Stacks whose termination protection this run turned off.
    pub termination_protection_disabled: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DataItem {
    /// `memory_bucket`, `key`, `secret` or `log_group`.
    pub kind: &'static str,
    pub id: String,
    pub state: DataState,
    /// What it holds or when it goes (e.g. "3 conversations", "deleted after 7 days").
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DataState {
    Kept,
    Deleted,
    /// A KMS key: deleted by AWS after the waiting period (CancelKeyDeletion undoes it until then).
    DeletionScheduled,
}

/// The data stack's outputs, by kind, in the order they are deleted (the key last: it encrypts
/// the others).
const DATA_OUTPUTS: [(&str, &str); 5] = [
    ("DataMemoryBucketName", "memory_bucket"),
    ("DataSecretArn", "secret"),
    ("DataFunctionLogGroupName", "log_group"),
    ("DataApiLogGroupName", "log_group"),
    ("DataKeyArn", "key"),
];

/// Whether this run has anything to do (the command asks for confirmation only then).
pub async fn has_work(target: &Target, options: &Options) -> Result<bool> {
    if target.stack.is_some() || (options.delete_data && target.data_stack.is_some()) {
        return Ok(true);
    }
    if options.keep_history {
        return Ok(false);
    }
    let Some(bucket) = target.artifacts_bucket.as_deref() else { return Ok(false) };
    Ok(!history_keys(target, bucket).await?.is_empty())
}

async fn history_keys(target: &Target, bucket: &str) -> Result<Vec<String>> {
    Ok(s3::keys(&target.aws.s3(), bucket, &artifacts::releases_prefix(&target.name)).await?.into_iter().collect())
}

/// Destroys the environment as `options` say; see the module documentation for the order.
pub async fn run(ctx: &Context, target: &mut Target, caller: &Caller, options: &Options) -> Result<DestroyReport> {
    let mut report = DestroyReport {
        schema_version: SCHEMA_VERSION,
        environment: target.name.clone(),
        nothing_to_destroy: false,
        stack: target.stack_name.clone(),
        stack_deleted: false,
        site_versions_deleted: 0,
        data_stack: target.data_stack_name.clone(),
        data_stack_deleted: false,
        data: Vec::new(),
        history_removed: 0,
        history_kept: options.keep_history,
        termination_protection_disabled: Vec::new(),
    };
    if !has_work(target, options).await? {
        report.nothing_to_destroy = true;
        report.data = kept_data(target).await?;
        return Ok(report);
    }
    let bucket = target.artifacts_bucket()?.to_owned();
    let lock = EnvironmentLock::take(target, caller, Activity::Destroy, options.force_unlock, &ctx.printer).await?;
    let outcome = steps(ctx, target, options, &bucket, &mut report).await;
    let released = lock.release().await;
    outcome?;
    released?;
    Ok(report)
}

async fn steps(
    ctx: &Context,
    target: &mut Target,
    options: &Options,
    bucket: &str,
    report: &mut DestroyReport,
) -> Result<()> {
    // What was read before the lock may be stale.
    target.refresh().await?;
    let cfn = target.aws.cloudformation();
    let waiting = Waiting::for_endpoint(target.aws.is_emulator());

    let mut doomed = Vec::new();
    if let Some(stack) = &target.stack {
        doomed.push((target.stack_name.clone(), stack.enable_termination_protection() == Some(true)));
    }
    if let (true, Some(stack)) = (options.delete_data, &target.data_stack) {
        doomed.push((target.data_stack_name.clone(), stack.enable_termination_protection() == Some(true)));
    }
    let protected: Vec<String> = doomed.into_iter().filter(|(_, on)| *on).map(|(name, _)| name).collect();
    if !protected.is_empty() && !options.disable_termination_protection {
        return Err(Error::user_with_hint(
            format!("stack {} has termination protection on; nothing was deleted", protected.join(" and ")),
            "pass --disable-termination-protection as well to turn it off and destroy",
        ));
    }
    for name in &protected {
        stack::unprotect(&cfn, name).await?;
        report.termination_protection_disabled.push(name.clone());
    }

    if target.stack.is_some() {
        let phase = ctx.printer.phase("site");
        if let Some(site) = target.outputs.get("FrontendBucketName") {
            report.site_versions_deleted = s3::delete_all_versions(&target.aws.s3(), site, None).await?;
        }
        phase.finish(format!("{} object version(s) deleted", report.site_versions_deleted));
        let phase = ctx.printer.phase("stack");
        report.stack_deleted = stack::delete(&cfn, &target.stack_name, &waiting, &phase).await?;
        phase.finish(format!("{} deleted", target.stack_name));
        target.stack = None;
        target.outputs.clear();
        target.live_version = None;
    }

    if options.delete_data {
        let phase = ctx.printer.phase("data");
        report.data = delete_data(target).await?;
        report.data_stack_deleted = stack::delete(&cfn, &target.data_stack_name, &waiting, &phase).await?;
        target.set_data_stack(None);
        phase.finish(format!("{} item(s) deleted, {} deleted", report.data.len(), target.data_stack_name));
    } else {
        report.data = kept_data(target).await?;
    }

    if !options.keep_history {
        let phase = ctx.printer.phase("history");
        let s3 = target.aws.s3();
        for key in history_keys(target, bucket).await? {
            s3.delete_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .sdk_context(|| format!("failed to delete s3://{bucket}/{key}"))?;
            report.history_removed += 1;
        }
        phase.finish(format!("{} release record(s) removed", report.history_removed));
    }
    Ok(())
}

/// The data stack's resources, each as kept; the memory bucket says how many conversations it holds.
async fn kept_data(target: &Target) -> Result<Vec<DataItem>> {
    let mut items = Vec::new();
    for (output, kind) in DATA_OUTPUTS {
        let Some(id) = target.data_outputs.get(output) else { continue };
        let detail = if kind == "memory_bucket" {
            match s3::bucket_exists(&target.aws.s3(), id).await? {
                true => Some(format!("{} conversation(s)", s3::keys(&target.aws.s3(), id, "sessions/").await?.len())),
                false => Some("gone".to_owned()),
            }
        } else {
            None
        };
        items.push(DataItem { kind, id: id.clone(), state: DataState::Kept, detail });
    }
    Ok(items)
}

/// Deletes each retained resource the data stack names; one already gone counts as deleted.
async fn delete_data(target: &Target) -> Result<Vec<DataItem>> {
    let mut items = Vec::new();
    let outputs: BTreeMap<&str, &String> =
        DATA_OUTPUTS.iter().filter_map(|(output, _)| Some((*output, target.data_outputs.get(*output)?))).collect();
    for (output, kind) in DATA_OUTPUTS {
        let Some(id) = outputs.get(output).map(|id| (*id).clone()) else { continue };
        let (state, detail) = match kind {
            "memory_bucket" => {
                let versions = s3::delete_bucket(&target.aws.s3(), &id).await?;
                (DataState::Deleted, Some(format!("{versions} object version(s) deleted with it")))
            }
            "secret" => {
                delete_secret(target, &id).await?;
                (DataState::Deleted, Some("without a recovery window".to_owned()))
            }
            "log_group" => {
                delete_log_group(target, &id).await?;
                (DataState::Deleted, None)
            }
            _ => {
                schedule_key_deletion(target, &id).await?;
                (DataState::DeletionScheduled, Some(format!("deleted by AWS KMS after {KEY_DELETION_DAYS} days")))
            }
        };
        items.push(DataItem { kind, id, state, detail });
    }
    Ok(items)
}

/// ForceDeleteWithoutRecovery: the name is free again at once, for a later deploy (Secrets
/// Manager API reference, DeleteSecret).
async fn delete_secret(target: &Target, secret_id: &str) -> Result<()> {
    match target
        .aws
        .secretsmanager()
        .delete_secret()
        .secret_id(secret_id)
        .force_delete_without_recovery(true)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).sdk_context(|| format!("failed to delete secret {secret_id}")),
    }
}

async fn delete_log_group(target: &Target, name: &str) -> Result<()> {
    match target.aws.logs().delete_log_group().log_group_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e).sdk_context(|| format!("failed to delete log group {name}")),
    }
}

/// A key already pending deletion answers KMSInvalidStateException ("… is pending deletion"):
/// a rerun finds it so and goes on.
async fn schedule_key_deletion(target: &Target, key_id: &str) -> Result<()> {
    use aws_sdk_kms::error::ProvideErrorMetadata;
    let request = target.aws.kms().schedule_key_deletion().key_id(key_id).pending_window_in_days(KEY_DELETION_DAYS);
    match request.send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e)
            if e.code() == Some("KMSInvalidStateException")
                && e.message().is_some_and(|m| m.to_ascii_lowercase().contains("pending deletion")) =>
        {
            Ok(())
        }
        Err(e) => Err(e).sdk_context(|| format!("failed to schedule the deletion of key {key_id}")),
    }
}

impl DestroyReport {
    pub fn summary(&self) -> String {
        let mut text = String::new();
        if self.nothing_to_destroy {
            text.push_str(&format!("{}: nothing to destroy (stack {} does not exist)\n", self.environment, self.stack));
        } else {
            text.push_str(&format!("{}: destroyed\n", self.environment));
            if self.stack_deleted {
                text.push_str(&format!(
                    "  stack {} deleted ({} site object version(s) removed first)\n",
                    self.stack, self.site_versions_deleted
                ));
            }
            for name in &self.termination_protection_disabled {
                text.push_str(&format!("  termination protection turned off for {name}\n"));
            }
        }
        let kept: Vec<&DataItem> = self.data.iter().filter(|d| d.state == DataState::Kept).collect();
        if !kept.is_empty() {
            text.push_str(&format!("  kept in {} (a deploy reattaches it):\n", self.data_stack));
            for item in &kept {
                let detail = item.detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default();
                text.push_str(&format!("    {:<13} {}{detail}\n", item.kind, item.id));
            }
            text.push_str(&format!(
                "  to delete them: twinctl destroy {} --delete-data (the secret without recovery, the key after {KEY_DELETION_DAYS} days)\n",
                self.environment
            ));
        }
        for item in self.data.iter().filter(|d| d.state != DataState::Kept) {
            let what = if item.state == DataState::Deleted { "deleted" } else { "deletion scheduled" };
            let detail = item.detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default();
            text.push_str(&format!("  {what}: {} {}{detail}\n", item.kind, item.id));
        }
        if self.data_stack_deleted {
            text.push_str(&format!("  stack {} deleted\n", self.data_stack));
        }
        if self.history_kept {
            text.push_str("  release history kept (--keep-history)\n");
        } else if self.history_removed > 0 {
            text.push_str(&format!("  {} release record(s) removed\n", self.history_removed));
        }
        text
    }
}
