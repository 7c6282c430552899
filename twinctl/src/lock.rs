//! The environment lock: `locks/<env>.json` in the artifacts bucket, so exactly one deploy (or
//! rollback, or destroy) of an environment runs at a time.
//!
//! A lease, not a flag: the body carries an expiry that the holder renews while it works. The
//! lock is created with `If-None-Match: *`; a held lock fails fast naming its holder; an
//! expired one — or one whose holder is a dead process of this same Linux host — is taken over
//! with `If-Match` on the ETag read, so two contenders cannot both win. Renewal and release
//! are conditional on our own ETag too, so a holder whose lease was taken never deletes the
//! newcomer's lock (S3 user guide, "Conditional writes" and "Conditional deletes": 412 on a
//! mismatch, 409 on a concurrent conditional write; deletes need s3:DeleteObject and s3:GetObject).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::artifacts;
use crate::aws::error::{SdkContext, is_not_found, is_precondition_failed};
use crate::error::{Error, Result};
use crate::output::Printer;
use crate::provenance;

/// How long a lock outlives its last renewal. A killed deploy blocks the next one for at most this.
pub const LEASE: Duration = Duration::from_secs(300);

/// What the holder is doing: a rollback may take over from a canary (that is how it aborts
/// one), never from anything else.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    #[default]
    Deploy,
    /// A deploy watching a canary: traffic is split between two versions.
    Canary,
    Rollback,
    Destroy,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Holder {
    pub id: String,
    pub actor: String,
    pub host: String,
    pub pid: u32,
    pub since: String,
    pub git_sha: Option<String>,
    /// RFC 3339; renewed while the holder works.
    pub expires_at: String,
    /// Absent in locks written before it existed: a deploy.
    #[serde(default)]
    pub activity: Activity,
}

impl Holder {
    pub fn current(actor: &str, activity: Activity) -> Self {
        let now = Utc::now();
        Self {
            activity,
            id: uuid::Uuid::new_v4().to_string(),
            actor: actor.to_owned(),
            host: provenance::hostname(),
            pid: std::process::id(),
            since: now.to_rfc3339(),
            git_sha: provenance::git_sha(),
            expires_at: expiry(now, LEASE),
        }
    }

    fn expired(&self, now: DateTime<Utc>) -> bool {
        // An unreadable expiry is treated as expired: the lock is then only as strong as its body.
        DateTime::parse_from_rfc3339(&self.expires_at).map(|at| at < now).unwrap_or(true)
    }

    /// Why this holder may be replaced, if it may.
    fn replaceable(&self, by: &Holder, now: DateTime<Utc>) -> Option<String> {
        if self.expired(now) {
            return Some(format!("its lease expired at {}", self.expires_at));
        }
        if self.host == by.host && provenance::process_alive(self.pid) == Some(false) {
            return Some(format!("its holder (pid {} on this host) is gone", self.pid));
        }
        if self.activity == Activity::Canary && by.activity == Activity::Rollback {
            return Some("a rollback aborts the canary it is watching".to_owned());
        }
        None
    }

    fn describe(&self, environment: &str) -> String {
        format!(
            "environment {environment} is locked by {} on {} (pid {}, {}) since {}{}, until {} unless renewed",
            self.actor,
            self.host,
            self.pid,
            match self.activity {
                Activity::Deploy => "deploying",
                Activity::Canary => "watching a canary",
                Activity::Rollback => "rolling back",
                Activity::Destroy => "destroying",
            },
            self.since,
            self.git_sha.as_ref().map(|sha| format!(", at {sha}")).unwrap_or_default(),
            self.expires_at
        )
    }
}

fn expiry(now: DateTime<Utc>, lease: Duration) -> String {
    (now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX)).to_rfc3339()
}

/// The lock's holder and ETag, None when there is no lock; an unreadable lock is an error.
async fn read(client: &Client, bucket: &str, key: &str) -> Result<Option<(Holder, String)>> {
    let object = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(object) => object,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(e).sdk_context(|| format!("failed to read lock s3://{bucket}/{key}")),
    };
    let etag = object.e_tag().unwrap_or_default().to_owned();
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("failed to read lock s3://{bucket}/{key}: {e}")))?
        .into_bytes();
    let holder = serde_json::from_slice(&bytes).map_err(|e| {
        Error::user_with_hint(
            format!("the lock s3://{bucket}/{key} is not readable: {e}"),
            "if no deploy is running, rerun with --force-unlock",
        )
    })?;
    Ok(Some((holder, etag)))
}

/// Writes the lock: `If-None-Match: *` to create, `If-Match: <etag>` to take over or renew.
/// Returns the new ETag, or None when the condition failed.
async fn write(
    client: &Client,
    bucket: &str,
    key: &str,
    holder: &Holder,
    if_match: Option<&str>,
) -> Result<Option<String>> {
    let body = serde_json::to_vec_pretty(holder).map_err(anyhow::Error::from)?;
    let request =
        client.put_object().bucket(bucket).key(key).content_type("application/json").body(ByteStream::from(body));
    let request = match if_match {
        Some(etag) => request.if_match(etag),
        None => request.if_none_match("*"),
    };
    match request.send().await {
        Ok(output) => Ok(Some(output.e_tag().unwrap_or_default().to_owned())),
        Err(e) if is_precondition_failed(&e) => Ok(None),
        // If-Match on a key that was deleted meanwhile.
        Err(e) if if_match.is_some() && is_not_found(&e) => Ok(None),
        Err(e) => Err(e).sdk_context(|| format!("failed to write lock s3://{bucket}/{key}")),
    }
}

#[derive(Debug)]
pub struct EnvironmentLock {
    client: Client,
    bucket: String,
    key: String,
    holder: Holder,
    /// What we last wrote and its ETag, shared with the renewal task. Writes hold `writing`, so
    /// a renewal and an activity change never race each other on the same ETag.
    written: Arc<Mutex<(Holder, String)>>,
    writing: Arc<tokio::sync::Mutex<()>>,
    lease: Duration,
    renewal: tokio::task::JoinHandle<()>,
    /// Taken over from a holder that crashed or ran out of lease: what it was doing may be
    /// half done.
    took_over: bool,
}

impl EnvironmentLock {
    /// Takes environment `target`'s lock for a command acting as `caller` (the `lock` phase), or
    /// fails naming who holds it.
    pub async fn take(
        target: &crate::target::Target,
        caller: &crate::aws::Caller,
        activity: Activity,
        force: bool,
        printer: &Printer,
    ) -> Result<Self> {
        let phase = printer.phase("lock");
        let lock = Self::acquire(
            target.aws.s3(),
            target.artifacts_bucket()?,
            &target.name,
            Holder::current(&caller.arn, activity),
            force,
            printer,
            LEASE,
        )
        .await?;
        phase.finish(format!("{} held", artifacts::lock_key(&target.name)));
        Ok(lock)
    }

    /// Takes the lock for `lease` (renewed until released), or fails naming who holds it.
    pub async fn acquire(
        client: Client,
        bucket: &str,
        environment: &str,
        mut holder: Holder,
        force: bool,
        printer: &Printer,
        lease: Duration,
    ) -> Result<Self> {
        let key = artifacts::lock_key(environment);
        holder.expires_at = expiry(Utc::now(), lease);
        // Two rounds: the lock may vanish between a failed create and the read.
        for _ in 0..2 {
            if let Some(etag) = write(&client, bucket, &key, &holder, None).await? {
                return Ok(Self::held(client, bucket, key, holder.clone(), etag, lease, printer));
            }
            let Some((other, etag)) = read(&client, bucket, &key).await? else { continue };
            let reason = if force { Some("--force-unlock".to_owned()) } else { other.replaceable(&holder, Utc::now()) };
            let Some(reason) = reason else {
                return Err(Error::user_with_hint(
                    other.describe(environment),
                    "wait for that deploy to finish; if it crashed, its lease expires, or rerun with --force-unlock",
                ));
            };
            printer.warn(format!(
                "taking over the lock of environment {environment} from {} (pid {} on {}): {reason}",
                other.actor, other.pid, other.host
            ));
            if let Some(etag) = write(&client, bucket, &key, &holder, Some(&etag)).await? {
                let mut lock = Self::held(client, bucket, key, holder.clone(), etag, lease, printer);
                lock.took_over = true;
                return Ok(lock);
            }
        }
        let message = match read(&client, bucket, &key).await? {
            Some((other, _)) => other.describe(environment),
            None => format!("environment {environment} is locked (s3://{bucket}/{key})"),
        };
        Err(Error::user_with_hint(message, "another deploy took the lock first; wait for it to finish"))
    }

    fn held(
        client: Client,
        bucket: &str,
        key: String,
        holder: Holder,
        etag: String,
        lease: Duration,
        printer: &Printer,
    ) -> Self {
        let written = Arc::new(Mutex::new((holder.clone(), etag)));
        let writing = Arc::new(tokio::sync::Mutex::new(()));
        let renewal = tokio::spawn(renew(
            client.clone(),
            bucket.to_owned(),
            key.clone(),
            Arc::clone(&written),
            Arc::clone(&writing),
            lease,
            printer.clone(),
        ));
        Self { client, bucket: bucket.to_owned(), key, holder, written, writing, lease, renewal, took_over: false }
    }

    fn etag(&self) -> String {
        snapshot(&self.written).1
    }

    /// Says what we are doing now (a rollback may take over from a canary); fails when the lock
    /// is no longer ours.
    pub async fn set_activity(&self, activity: Activity) -> Result<()> {
        let _writing = self.writing.lock().await;
        let (mut holder, etag) = snapshot(&self.written);
        holder.activity = activity;
        holder.expires_at = expiry(Utc::now(), self.lease);
        match write(&self.client, &self.bucket, &self.key, &holder, Some(&etag)).await? {
            Some(next) => {
                if let Ok(mut written) = self.written.lock() {
                    *written = (holder, next);
                }
                Ok(())
            }
            None => Err(self.lost()),
        }
    }

    /// Whether the lock object is still the one we wrote (one HEAD request). Waits for a renewal
    /// in flight: its new ETag would otherwise look like someone else's.
    pub async fn still_ours(&self) -> Result<bool> {
        let _writing = self.writing.lock().await;
        match self.client.head_object().bucket(&self.bucket).key(&self.key).send().await {
            Ok(head) => Ok(head.e_tag() == Some(self.etag().as_str())),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(e).sdk_context(|| format!("failed to check lock s3://{}/{}", self.bucket, self.key)),
        }
    }

    /// The error of a holder whose lock was taken over.
    pub fn lost(&self) -> Error {
        Error::user(format!(
            "the lock s3://{}/{} was taken over by another command; this one stopped without touching anything further",
            self.bucket, self.key
        ))
    }

    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// The lock was taken over from an earlier holder (see [`EnvironmentLock::acquire`]).
    pub fn took_over(&self) -> bool {
        self.took_over
    }

    /// Releases the lock if it is still ours (a conditional delete on our ETag).
    pub async fn release(self) -> Result<()> {
        // Not in the middle of a renewal: its new ETag would make our delete miss.
        let writing = Arc::clone(&self.writing);
        let _writing = writing.lock().await;
        self.renewal.abort();
        let etag = self.etag();
        match self.client.delete_object().bucket(&self.bucket).key(&self.key).if_match(etag).send().await {
            Ok(_) => Ok(()),
            // Taken over after our lease ran out, or already gone: not ours to delete.
            Err(e) if is_precondition_failed(&e) || is_not_found(&e) => Ok(()),
            Err(e) => Err(e).sdk_context(|| format!("failed to release lock s3://{}/{}", self.bucket, self.key)),
        }
    }
}

fn snapshot(written: &Mutex<(Holder, String)>) -> (Holder, String) {
    match written.lock() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Renews the lease every third of it, on our ETag; stops (with a warning) once it was taken.
async fn renew(
    client: Client,
    bucket: String,
    key: String,
    written: Arc<Mutex<(Holder, String)>>,
    writing: Arc<tokio::sync::Mutex<()>>,
    lease: Duration,
    printer: Printer,
) {
    loop {
        tokio::time::sleep(lease / 3).await;
        let _writing = writing.lock().await;
        let (mut holder, etag) = snapshot(&written);
        holder.expires_at = expiry(Utc::now(), lease);
        match write(&client, &bucket, &key, &holder, Some(&etag)).await {
            Ok(Some(next)) => {
                if let Ok(mut shared) = written.lock() {
                    *shared = (holder, next);
                }
            }
            Ok(None) => {
                printer.warn(format!(
                    "the lock s3://{bucket}/{key} was taken over by another process; this run no longer holds it"
                ));
                return;
            }
            // A passing failure: the lease still has two thirds to run; try again next time.
            Err(e) => printer.warn(format!("failed to renew the lock s3://{bucket}/{key}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The lease against replayed S3 answers: takeover, races and conditional release.
    use aws_sdk_s3::config::http::HttpResponse;
    use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::put_object::PutObjectOutput;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use aws_smithy_types::body::SdkBody;

    use super::*;
    use crate::output::OutputFormat;

    const HOUR: Duration = Duration::from_secs(3600);

    fn printer() -> Printer {
        Printer::new(OutputFormat::Text, true, 0)
    }

    fn client(mode: RuleMode, rules: &[&Rule]) -> Client {
        mock_client!(aws_sdk_s3, mode, rules, |c| c.retry_config(aws_smithy_types::retry::RetryConfig::disabled()))
    }

    fn precondition_failed() -> HttpResponse {
        HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(412).expect("status"),
            SdkBody::from(
                "<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>",
            ),
        )
    }

    fn other(expires_in: chrono::Duration) -> Holder {
        Holder {
            id: "other".into(),
            actor: "arn:aws:iam::123456789012:user/alice".into(),
            host: "ci-runner-7".into(),
            pid: 4242,
            since: "2026-11-21T00:00:00Z".into(),
            git_sha: Some("abc123".into()),
            expires_at: (Utc::now() + expires_in).to_rfc3339(),
            activity: Activity::Deploy,
        }
    }

    fn held_by(holder: Holder) -> Rule {
        mock!(Client::get_object).then_output(move || {
            GetObjectOutput::builder()
                .e_tag("\"theirs\"")
                .body(ByteStream::from(serde_json::to_vec(&holder).expect("json")))
                .build()
        })
    }

    fn create_refused() -> Rule {
        mock!(Client::put_object)
            .match_requests(|r| r.if_none_match() == Some("*"))
            .then_http_response(precondition_failed)
    }

    #[tokio::test]
    async fn a_live_lease_fails_fast_naming_its_holder() {
        let refused = create_refused();
        let read = held_by(other(chrono::Duration::minutes(4)));
        let s3 = client(RuleMode::Sequential, &[&refused, &read]);
        let error = EnvironmentLock::acquire(
            s3,
            "b",
            "staging",
            Holder::current("me", Activity::Deploy),
            false,
            &printer(),
            HOUR,
        )
        .await
        .expect_err("held");
        let message = error.to_string();
        assert!(message.contains("locked by arn:aws:iam::123456789012:user/alice on ci-runner-7"), "{message}");
        assert!(message.contains("(pid 4242, deploying)") && message.contains("at abc123"), "{message}");
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over_on_its_etag_and_released_on_ours() {
        let refused = create_refused();
        let read = held_by(other(-chrono::Duration::minutes(1)));
        let takeover = mock!(Client::put_object)
            .match_requests(|r| r.if_match() == Some("\"theirs\""))
            .then_output(|| PutObjectOutput::builder().e_tag("\"ours\"").build());
        let release = mock!(Client::delete_object)
            .match_requests(|r| r.if_match() == Some("\"ours\""))
            .then_output(|| DeleteObjectOutput::builder().build());
        let s3 = client(RuleMode::Sequential, &[&refused, &read, &takeover, &release]);
        let lock = EnvironmentLock::acquire(
            s3,
            "b",
            "staging",
            Holder::current("me", Activity::Deploy),
            false,
            &printer(),
            HOUR,
        )
        .await
        .expect("taken over");
        assert_eq!(takeover.num_calls(), 1);
        assert!(lock.took_over(), "a takeover is reported: the holder before may have left work half done");
        lock.release().await.expect("released");
        assert_eq!(release.num_calls(), 1, "the delete was conditional on our own ETag");
    }

    #[tokio::test]
    async fn two_takeovers_race_and_exactly_one_wins() {
        // We lose the If-Match race: a fresh holder's lock is there when we read again.
        let refused = create_refused();
        let expired = held_by(other(-chrono::Duration::minutes(1)));
        let lost = mock!(Client::put_object)
            .match_requests(|r| r.if_match().is_some())
            .then_http_response(precondition_failed);
        let refused_again = create_refused();
        let winner = held_by(Holder { id: "winner".into(), ..other(chrono::Duration::minutes(5)) });
        let s3 = client(RuleMode::Sequential, &[&refused, &expired, &lost, &refused_again, &winner]);
        let error = EnvironmentLock::acquire(
            s3,
            "b",
            "staging",
            Holder::current("me", Activity::Deploy),
            false,
            &printer(),
            HOUR,
        )
        .await
        .expect_err("the other contender won");
        assert!(error.to_string().contains("is locked by"), "{error}");
        assert_eq!(lost.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_lock_taken_over_after_our_lease_ran_out_is_not_deleted_by_us() {
        let create = mock!(Client::put_object)
            .match_requests(|r| r.if_none_match() == Some("*"))
            .then_output(|| PutObjectOutput::builder().e_tag("\"ours\"").build());
        let not_ours = mock!(Client::delete_object).then_http_response(precondition_failed);
        let s3 = client(RuleMode::Sequential, &[&create, &not_ours]);
        let lock = EnvironmentLock::acquire(
            s3,
            "b",
            "staging",
            Holder::current("me", Activity::Deploy),
            false,
            &printer(),
            HOUR,
        )
        .await
        .expect("created");
        lock.release().await.expect("a lost lock releases quietly");
        assert_eq!(not_ours.num_calls(), 1);
    }

    #[tokio::test]
    async fn the_lease_is_renewed_on_our_current_etag() {
        let create = mock!(Client::put_object)
            .match_requests(|r| r.if_none_match() == Some("*"))
            .then_output(|| PutObjectOutput::builder().e_tag("\"v1\"").build());
        let renew_first = mock!(Client::put_object)
            .match_requests(|r| r.if_match() == Some("\"v1\""))
            .then_output(|| PutObjectOutput::builder().e_tag("\"v2\"").build());
        let renew_next = mock!(Client::put_object)
            .match_requests(|r| r.if_match() == Some("\"v2\""))
            .sequence()
            .output(|| PutObjectOutput::builder().e_tag("\"v2\"").build())
            .repeatedly()
            .build();
        let release = mock!(Client::delete_object)
            .match_requests(|r| r.if_match() == Some("\"v2\""))
            .then_output(|| DeleteObjectOutput::builder().build());
        let s3 = client(RuleMode::MatchAny, &[&create, &renew_first, &renew_next, &release]);
        let lock = EnvironmentLock::acquire(
            s3,
            "b",
            "staging",
            Holder::current("me", Activity::Deploy),
            false,
            &printer(),
            Duration::from_millis(60),
        )
        .await
        .expect("created");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(renew_first.num_calls(), 1);
        assert!(renew_next.num_calls() >= 1, "renewed again on the ETag the first renewal returned");
        lock.release().await.expect("released");
        assert_eq!(release.num_calls(), 1);
    }

    #[test]
    fn expiry_and_dead_processes_make_a_holder_replaceable() {
        let me = Holder::current("me", Activity::Deploy);
        let now = Utc::now();
        assert!(other(chrono::Duration::minutes(5)).replaceable(&me, now).is_none());
        assert!(other(-chrono::Duration::seconds(1)).replaceable(&me, now).is_some());
        let garbled = Holder { expires_at: "soon".into(), ..other(chrono::Duration::minutes(5)) };
        assert!(garbled.replaceable(&me, now).is_some(), "an unreadable expiry does not hold the lock forever");
        if cfg!(target_os = "linux") {
            let dead_here = Holder { host: me.host.clone(), pid: u32::MAX - 1, ..other(chrono::Duration::minutes(5)) };
            assert!(dead_here.replaceable(&me, now).is_some());
            let alive_here =
                Holder { host: me.host.clone(), pid: std::process::id(), ..other(chrono::Duration::minutes(5)) };
            assert!(alive_here.replaceable(&me, now).is_none());
        }
    }

    #[test]
    fn only_a_rollback_takes_over_a_live_canary_and_nothing_else_takes_over_a_live_lock() {
        let now = Utc::now();
        let canary = Holder { activity: Activity::Canary, ..other(chrono::Duration::minutes(5)) };
        let rollback = Holder::current("me", Activity::Rollback);
        let deploy = Holder::current("me", Activity::Deploy);
        assert!(canary.replaceable(&rollback, now).is_some_and(|why| why.contains("aborts the canary")));
        assert!(canary.replaceable(&deploy, now).is_none(), "a deploy waits for the canary");
        assert!(other(chrono::Duration::minutes(5)).replaceable(&rollback, now).is_none(), "a deploy is not aborted");
        let old_lock: Holder = serde_json::from_value(serde_json::json!({
            "id": "x", "actor": "a", "host": "h", "pid": 1, "since": "s", "git_sha": null, "expires_at": "e"
        }))
        .expect("a lock written before activities existed");
        assert_eq!(old_lock.activity, Activity::Deploy);
    }

    #[tokio::test]
    async fn a_canary_says_so_on_our_etag_and_learns_when_the_lock_was_taken() {
        let created = mock!(Client::put_object)
            .match_requests(|r| r.if_none_match() == Some("*"))
            .then_output(|| PutObjectOutput::builder().e_tag("\"v1\"").build());
        let says_canary = mock!(Client::put_object)
            .match_requests(|r| {
                r.if_match() == Some("\"v1\"")
                    && r.body().bytes().is_some_and(|b| String::from_utf8_lossy(b).contains("\"activity\": \"canary\""))
            })
            .then_output(|| PutObjectOutput::builder().e_tag("\"v2\"").build());
        let ours = mock!(Client::head_object)
            .match_requests(|r| r.key() == Some("locks/staging.json"))
            .then_output(|| aws_sdk_s3::operation::head_object::HeadObjectOutput::builder().e_tag("\"v2\"").build());
        let taken = mock!(Client::head_object).then_output(|| {
            aws_sdk_s3::operation::head_object::HeadObjectOutput::builder().e_tag("\"theirs\"").build()
        });
        let refused = mock!(Client::put_object)
            .match_requests(|r| r.if_match() == Some("\"v2\""))
            .then_http_response(precondition_failed);
        let s3 = client(RuleMode::Sequential, &[&created, &says_canary, &ours, &taken, &refused]);
        let lock = EnvironmentLock::acquire(
            s3,
            "b",
            "staging",
            Holder::current("me", Activity::Deploy),
            false,
            &printer(),
            HOUR,
        )
        .await
        .expect("created");
        lock.set_activity(Activity::Canary).await.expect("written on our ETag");
        assert!(lock.still_ours().await.expect("head"), "the ETag we wrote last");
        assert!(!lock.still_ours().await.expect("head"), "someone else's ETag");
        let error = lock.set_activity(Activity::Deploy).await.expect_err("taken");
        assert!(error.to_string().contains("was taken over by another command"), "{error}");
        assert_eq!(says_canary.num_calls(), 1);
    }
}
