//! The rollback: back to exactly what a recorded release left — the `live` alias on its
//! version, every site key on the object version it recorded, the persona on its version —
//! recorded as a release of its own.
//!
//! Steps, under the environment lock (with the stack and alias read again once it is held, and
//! an interrupted canary's weights removed first):
//! - choose: `--to`, or the release that was current before the current one (the current
//!   release's `previous`: a second rollback returns to where the first started);
//! - check, before changing anything: the target succeeded, its function version still
//!   exists with the code and configuration it recorded, and every object version it needs is
//!   still there — otherwise say what is gone and stop;
//! - origin: site (assets, then pages, then deletions), persona, alias. The site plan compares
//!   the two releases' manifests, so only keys that differ cost a request — unless the last
//!   thing to write was not the current release (a newer failed release, a lock taken over, the
//!   `writing` marker of a command that did not record): then the bucket is listed. If the site
//!   or persona fails, both are put back and the alias is not moved;
//! - edge: the changed, non-immutable paths invalidated, the wait bounded as in deploy;
//! - stack: the live version recorded in the stack (or, with `--infra`, the template and
//!   parameters of the deploy whose state the target serves), so the next change set does not
//!   move the alias back;
//! - record: a `rollback` release; then old Lambda versions are pruned (see [`retention`]).
//!
//! Must not: parse arguments or print results (the command does).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::artifacts;
use crate::aws::cdn::{self, Invalidation};
use crate::aws::lambda;
use crate::aws::stack::{self, TemplateSource, Waiting};
use crate::aws::{Caller, s3};
use crate::context::Context;
use crate::deploy::site;
use crate::error::{Error, Result};
use crate::lock::{Activity, EnvironmentLock};
use crate::release::{self, Kind, ObjectRecord, Outcome, Release};
use crate::retention;
use crate::target::Target;

#[derive(Debug, Clone)]
pub struct Options {
    /// The release to restore; None: the one current before the current one.
    pub to: Option<String>,
    /// Also redeploy the target's template and parameters.
    pub infra: bool,
    pub force_unlock: bool,
    pub invalidation_wait: Duration,
    pub parallel: usize,
}

/// The result document of `twinctl rollback`.
#[derive(Debug, Serialize)]
pub struct RollbackReport {
    pub environment: String,
    /// The rollback's own release; None when the target was already current.
    pub release_id: Option<String>,
    pub from: String,
    pub to: String,
    pub function_version_before: Option<String>,
    pub function_version: String,
    pub alias_moved: bool,
    pub persona_restored: bool,
    /// "recorded": the site plan came from the two manifests; "listed": the bucket was read.
    pub site_state: &'static str,
    pub site: Option<site::SyncReport>,
    pub invalidated: Vec<String>,
    pub invalidation_id: Option<String>,
    pub invalidation_completed: Option<bool>,
    /// Alias, objects and persona switched (what visitors get from the origin).
    pub origin_seconds: f64,
    /// The CloudFront invalidation, as far as it was waited for.
    pub edge_seconds: f64,
    /// Recording the live version (or `--infra`) in the stack.
    pub stack_seconds: f64,
    pub infra: bool,
    pub pruned_versions: Vec<String>,
    /// Weights a canary had left on the alias, removed first.
    pub interrupted_canary: Option<lambda::AliasRouting>,
    /// Requests sent to AWS by the whole command, by service (retries count).
    pub aws_requests: BTreeMap<String, u64>,
}

/// Takes the lock, rolls back, records the rollback, releases the lock.
pub async fn run(ctx: &Context, target: &mut Target, caller: &Caller, options: &Options) -> Result<RollbackReport> {
    let lock = EnvironmentLock::take(target, caller, Activity::Rollback, options.force_unlock, &ctx.printer).await?;
    let result = locked(ctx, target, caller, options, &lock).await;
    let released = lock.release().await;
    let report = result?;
    released?;
    Ok(report)
}

/// What the rollback did so far: the release it records and the report both come from it.
#[derive(Debug, Default)]
struct Done {
    live_before: Option<String>,
    alias_moved: bool,
    persona: Option<ObjectRecord>,
    persona_restored: bool,
    site: Option<site::SyncReport>,
    invalidation: Option<Invalidation>,
    template_sha256: Option<String>,
    parameters: BTreeMap<String, String>,
    origin: Duration,
    edge: Duration,
    stack: Duration,
}

async fn locked(
    ctx: &Context,
    target: &mut Target,
    caller: &Caller,
    options: &Options,
    lock: &EnvironmentLock,
) -> Result<RollbackReport> {
    let bucket = target.artifacts_bucket()?.to_owned();
    let s3_client = target.aws.s3();
    // What was read before the lock may be stale. A canary in progress (whose lock we took
    // over) or interrupted: all traffic back first.
    target.refresh().await?;
    let interrupted_canary = crate::canary::revert_interrupted(target, &ctx.printer).await?;
    let phase = ctx.printer.phase("plan");
    let current = release::current(&s3_client, &bucket, &target.name).await?.ok_or_else(|| {
        Error::user_with_hint(
            format!("environment {} has no current release: there is nothing to roll back", target.name),
            format!("deploy it first with `twinctl deploy {}`", target.name),
        )
    })?;
    let wanted = choose(&s3_client, &bucket, &target.name, &current, options.to.as_deref()).await?;
    let function = wanted.function.clone().ok_or_else(|| {
        Error::user(format!("release {} recorded no function version; it cannot be restored", wanted.id))
    })?;
    // The manifests describe the bucket only if the current release was the last to write it:
    // no newer (failed) release, no command killed while writing, no lock taken over.
    let latest = release::latest(&s3_client, &bucket, &target.name).await?;
    let trusted = !lock.took_over()
        && latest.as_ref().map(|r| &r.id) == Some(&current.id)
        && !release::Writing::present(&s3_client, &bucket, &target.name).await?;
    // Restoring what is served already changes nothing (a rerun is safe) — but only when
    // nothing can have written since, and the alias is where the target left it.
    let serving = state_of(&wanted) == state_of(&current)
        && trusted
        && !options.infra
        && target.live_version.as_deref() == Some(function.version.as_str());
    if serving {
        phase.finish(format!("release {} is already what {} serves", wanted.id, target.name));
        return Ok(RollbackReport {
            environment: target.name.clone(),
            release_id: None,
            from: current.id.clone(),
            to: wanted.id.clone(),
            function_version_before: target.live_version.clone(),
            function_version: function.version.clone(),
            alias_moved: false,
            persona_restored: false,
            site_state: "recorded",
            site: None,
            invalidated: Vec::new(),
            invalidation_id: None,
            invalidation_completed: None,
            origin_seconds: 0.0,
            edge_seconds: 0.0,
            stack_seconds: 0.0,
            infra: options.infra,
            pruned_versions: Vec::new(),
            interrupted_canary,
            aws_requests: target.aws.requests.snapshot(),
        });
    }
    let frontend = target.output("FrontendBucketName")?.to_owned();
    let current_site = if trusted {
        site::current_from_record(&current.site)
    } else {
        ctx.printer.note(format!(
            "the last write to {} was not release {} (a failed or interrupted command): reading the bucket",
            target.name, current.id
        ));
        site::current(&s3_client, &frontend, &current.site, options.parallel).await?
    };
    let plan = site::plan(site::desired_from_release(&wanted.site)?, &current_site);
    // --infra restores the infrastructure of the deploy whose state the target serves (a
    // rollback release records the stack as it found it, not the state it restored).
    let infra = match (options.infra, wanted.kind) {
        (false, _) => None,
        (true, Kind::Deploy) => Some(wanted.clone()),
        (true, Kind::Rollback) => {
            Some(release::get(&s3_client, &bucket, &target.name, state_of(&wanted)).await?.ok_or_else(|| {
                Error::user(format!("release {} restored {}, which no longer exists", wanted.id, state_of(&wanted)))
            })?)
        }
    };
    check_restorable(ctx, target, &wanted, &plan, infra.as_ref(), options).await?;
    phase.finish(format!(
        "{} → {}: version {} → {}, {} site object(s) to restore, {} to delete",
        current.id,
        wanted.id,
        target.live_version.as_deref().unwrap_or("-"),
        function.version,
        plan.uploads.len() + plan.redescribe.len(),
        plan.deletions.len()
    ));

    let release_id = release::new_id();
    let started_at = chrono::Utc::now().to_rfc3339();
    let mut done = Done { live_before: target.live_version.clone(), ..Done::default() };
    release::Writing::mark(&s3_client, &bucket, &target.name, &release_id).await?;
    let outcome =
        steps(ctx, target, options, &wanted, infra.as_ref(), &current, plan, &current_site, &release_id, &mut done)
            .await;
    let manifest = Release {
        schema_version: release::SCHEMA_VERSION,
        id: release_id.clone(),
        environment: target.name.clone(),
        kind: Kind::Rollback,
        outcome: if outcome.is_ok() { Outcome::Succeeded } else { Outcome::Failed },
        rolled_back_to: Some(state_of(&wanted).to_owned()),
        previous: Some(current.id.clone()),
        started_at,
        finished_at: chrono::Utc::now().to_rfc3339(),
        actor: caller.arn.clone(),
        host: lock.holder().host.clone(),
        git_sha: wanted.git_sha.clone(),
        stack: target.stack_name.clone(),
        template_sha256: done.template_sha256.clone(),
        parameters: done.parameters.clone(),
        function: Some(function.clone()),
        persona: done.persona.clone(),
        site: done.site.as_ref().map(|s| s.objects.clone()).unwrap_or_default(),
        site_changed: done.site.as_ref().map(site::SyncReport::changed).unwrap_or(0),
        error: outcome.as_ref().err().map(ToString::to_string),
    };
    let recorded = release::record(&s3_client, &bucket, &manifest).await;
    if recorded.is_ok()
        && let Err(e) = release::Writing::clear(&s3_client, &bucket, &target.name).await
    {
        ctx.printer.warn(format!("{e}"));
    }
    outcome?;
    recorded?;

    let pruned_versions = retention::prune_after_release(target, &ctx.printer).await;
    Ok(RollbackReport {
        environment: target.name.clone(),
        release_id: Some(release_id),
        from: current.id.clone(),
        to: wanted.id.clone(),
        function_version_before: done.live_before.clone(),
        function_version: function.version.clone(),
        alias_moved: done.alias_moved,
        persona_restored: done.persona_restored,
        site_state: if trusted { "recorded" } else { "listed" },
        invalidated: done.invalidation.as_ref().map(|i| i.paths.clone()).unwrap_or_default(),
        invalidation_id: done.invalidation.as_ref().map(|i| i.id.clone()),
        invalidation_completed: done.invalidation.as_ref().map(|i| i.completed),
        site: done.site,
        origin_seconds: done.origin.as_secs_f64(),
        edge_seconds: done.edge.as_secs_f64(),
        stack_seconds: done.stack.as_secs_f64(),
        infra: options.infra,
        pruned_versions,
        interrupted_canary,
        aws_requests: target.aws.requests.snapshot(),
    })
}

/// The deploy whose state a release serves: itself, or for a rollback the deploy it restored
/// (recorded so, transitively, when the rollback was recorded).
fn state_of(release: &Release) -> &str {
    match (release.kind, &release.rolled_back_to) {
        (Kind::Rollback, Some(deploy)) => deploy,
        _ => &release.id,
    }
}

/// The release to restore: `--to`, or the one current before the current one.
async fn choose(
    s3_client: &aws_sdk_s3::Client,
    bucket: &str,
    environment: &str,
    current: &Release,
    to: Option<&str>,
) -> Result<Release> {
    let id = match to {
        Some(id) => id.to_owned(),
        None => current.previous.clone().ok_or_else(|| {
            Error::user_with_hint(
                format!("release {} is the first release of {environment}: there is no earlier release", current.id),
                format!("`twinctl releases {environment}` lists the releases"),
            )
        })?,
    };
    if id == current.id {
        return Ok(current.clone());
    }
    let wanted = release::get(s3_client, bucket, environment, &id).await?.ok_or_else(|| {
        Error::user_with_hint(
            format!("{environment} has no release {id}"),
            format!("`twinctl releases {environment}` lists the releases"),
        )
    })?;
    if wanted.outcome != Outcome::Succeeded {
        return Err(Error::user(format!(
            "release {id} failed ({}); only succeeded releases are restored",
            wanted.error.as_deref().unwrap_or("no reason recorded")
        )));
    }
    Ok(wanted)
}

/// Everything the rollback needs still exists, as recorded — or a user error listing what not.
async fn check_restorable(
    ctx: &Context,
    target: &Target,
    wanted: &Release,
    plan: &site::Plan,
    infra: Option<&Release>,
    options: &Options,
) -> Result<()> {
    let mut problems = Vec::new();
    if let Some(recorded) = &wanted.function {
        let function = target.output("FunctionName")?;
        match lambda::version_configuration_if_exists(&target.aws.lambda(), function, &recorded.version).await? {
            Some(now) if now.code_sha256 != recorded.code_sha256 => problems.push(format!(
                "function version {} runs code {} but the release recorded {}",
                recorded.version, now.code_sha256, recorded.code_sha256
            )),
            Some(now) if now.configuration_sha256 != recorded.configuration_sha256 => problems.push(format!(
                "function version {}'s configuration differs from what the release recorded",
                recorded.version
            )),
            Some(_) => {}
            None => problems.push(format!("function version {} no longer exists", recorded.version)),
        }
    }
    let client = target.aws.s3();
    let frontend = target.output("FrontendBucketName")?;
    let checks = plan.uploads.iter().chain(&plan.redescribe).filter_map(|d| match &d.source {
        site::Source::Version(version) => Some((d.key.clone(), version.clone(), d.sha256.clone())),
        _ => None,
    });
    let gone: Vec<String> = futures_util::stream::iter(checks.map(|(key, version, sha)| {
        let client = &client;
        async move {
            let state = s3::version_state(client, frontend, &key, &version).await?;
            Ok::<_, Error>(match state {
                s3::VersionState::Gone => Some(format!("{key} version {version} is gone")),
                _ if !state.holds(&sha) => Some(format!("{key} version {version} holds other content")),
                _ => None,
            })
        }
    }))
    .buffer_unordered(options.parallel.max(1))
    .try_collect::<Vec<_>>()
    .await?
    .into_iter()
    .flatten()
    .collect();
    problems.extend(gone);
    if let Some(persona) = &wanted.persona {
        let memory = target.output("MemoryBucketName")?;
        let present = match &persona.version_id {
            Some(version) => s3::version_state(&client, memory, &persona.key, version).await?.holds(&persona.sha256),
            None => false,
        };
        if !present {
            problems.push(format!(
                "persona version {} is gone or holds other content",
                persona.version_id.as_deref().unwrap_or("(none)")
            ));
        }
    }
    if let Some(infra) = infra {
        let bucket = target.artifacts_bucket()?;
        match &infra.template_sha256 {
            Some(sha) if !s3::exists(&client, bucket, &artifacts::template_key(sha)).await? => {
                problems.push(format!("template {} is gone", artifacts::template_key(sha)))
            }
            None => problems.push("the release recorded no template".to_owned()),
            _ => {}
        }
        if let Some(key) = infra.parameters.get("CodeKey")
            && !s3::exists(&client, bucket, key).await?
        {
            problems.push(format!("function zip {key} is gone"));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    ctx.printer.detail(format!("not restorable: {problems:?}"));
    Err(Error::user_with_hint(
        format!("release {} cannot be restored: {}", wanted.id, problems.join("; ")),
        format!("`twinctl releases {}` shows which releases are restorable", target.name),
    ))
}

#[allow(clippy::too_many_arguments)]
async fn steps(
    ctx: &Context,
    target: &mut Target,
    options: &Options,
    wanted: &Release,
    infra: Option<&Release>,
    current: &Release,
    plan: site::Plan,
    current_site: &BTreeMap<String, site::Current>,
    release_id: &str,
    done: &mut Done,
) -> Result<()> {
    let phase = ctx.printer.phase("origin");
    let started = Instant::now();
    switch_origin(ctx, target, options, wanted, current, plan, current_site, done).await?;
    done.origin = started.elapsed();
    phase.finish(format!(
        "version {} live, {} object(s) restored, {} deleted ({:.2}s)",
        wanted.function.as_ref().map(|f| f.version.as_str()).unwrap_or("-"),
        done.site.as_ref().map(|s| s.uploaded + s.redescribed).unwrap_or(0),
        done.site.as_ref().map(|s| s.deleted).unwrap_or(0),
        done.origin.as_secs_f64()
    ));

    if let Some(changed) = done.site.as_ref().map(|s| s.invalidate.clone()).filter(|c| !c.is_empty()) {
        let phase = ctx.printer.phase("cdn");
        let started = Instant::now();
        let distribution = target.output("DistributionId")?.to_owned();
        let invalidation = cdn::invalidate(
            &target.aws.cloudfront(),
            &distribution,
            cdn::paths_for(&changed),
            release_id,
            options.invalidation_wait,
            &phase,
        )
        .await?;
        done.edge = started.elapsed();
        if !invalidation.completed {
            ctx.printer.warn(format!(
                "invalidation {} of {distribution} is still in progress; CloudFront finishes it on its own",
                invalidation.id
            ));
        }
        phase.finish(format!("{} path(s) invalidated ({:.1}s)", invalidation.paths.len(), done.edge.as_secs_f64()));
        done.invalidation = Some(invalidation);
    }

    let phase = ctx.printer.phase("stack");
    let started = Instant::now();
    record_in_stack(target, wanted, infra, done, &phase).await?;
    done.stack = started.elapsed();
    phase.finish(if options.infra {
        "template and parameters of the release applied"
    } else {
        "live version recorded"
    });
    Ok(())
}

/// Site, persona and alias — together: if one half fails, the other is put back.
#[allow(clippy::too_many_arguments)]
async fn switch_origin(
    ctx: &Context,
    target: &Target,
    options: &Options,
    wanted: &Release,
    current: &Release,
    plan: site::Plan,
    current_site: &BTreeMap<String, site::Current>,
    done: &mut Done,
) -> Result<()> {
    let client = target.aws.s3();
    let frontend = target.output("FrontendBucketName")?.to_owned();
    let memory = target.output("MemoryBucketName")?.to_owned();
    let function = target.output("FunctionName")?.to_owned();
    let version = wanted.function.as_ref().map(|f| f.version.clone()).unwrap_or_default();

    let bar = ctx.printer.bar(0, "objects");
    let site_result = site::apply(&client, &frontend, plan, current_site, options.parallel, &bar).await;
    bar.finish_and_clear();
    let site_result = match site_result {
        Ok(report) => {
            done.site = Some(report);
            Ok(())
        }
        Err(e) => Err(e),
    };
    let persona_result = match (&site_result, &wanted.persona) {
        (Ok(()), Some(persona)) => restore_persona(&client, &memory, persona).await.map(|(record, restored)| {
            done.persona = Some(record);
            done.persona_restored = restored;
        }),
        _ => Ok(()),
    };
    let alias_result = match (&site_result, &persona_result) {
        // Moved even when the version is the same: that also clears a canary's weights.
        (Ok(()), Ok(())) => lambda::move_alias(&target.aws.lambda(), &function, &version).await.map(|()| {
            done.alias_moved = done.live_before.as_deref() != Some(version.as_str());
        }),
        _ => Ok(()),
    };
    let failure = match (site_result, persona_result, alias_result) {
        (Ok(()), Ok(()), Ok(())) => return Ok(()),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => e,
    };
    // Put the site and persona back as the current release had them; the alias has not moved.
    let mut message = format!("the rollback to {} failed: {failure}", wanted.id);
    let listed = site::current(&client, &frontend, &current.site, options.parallel).await;
    let put_back = match listed {
        Ok(now) => {
            let plan = site::plan(site::desired_from_release(&current.site)?, &now);
            let bar = ctx.printer.bar(0, "objects");
            let result = site::apply(&client, &frontend, plan, &now, options.parallel, &bar).await;
            bar.finish_and_clear();
            result.map(|_| ())
        }
        Err(e) => Err(e),
    };
    let persona_back = match &current.persona {
        Some(persona) if done.persona_restored => restore_persona(&client, &memory, persona).await.map(|_| ()),
        _ => Ok(()),
    };
    match (put_back, persona_back) {
        (Ok(()), Ok(())) => {
            message.push_str(&format!("; the site and persona of release {} were put back", current.id))
        }
        (Err(e), _) | (_, Err(e)) => message.push_str(&format!(
            "; putting release {}'s site back failed too ({e}): run `twinctl rollback {} --to {}`",
            current.id, target.name, current.id
        )),
    }
    // The cause decides the kind (a user error stays one), the message says what was put back.
    Err(match failure {
        Error::User { hint, .. } => Error::User { message, hint },
        Error::Internal(_) => Error::Internal(anyhow::anyhow!(message)),
    })
}

/// The persona object back on its recorded version; returns the record and whether it changed.
async fn restore_persona(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    persona: &ObjectRecord,
) -> Result<(ObjectRecord, bool)> {
    let version = persona.version_id.as_deref().ok_or_else(|| {
        Error::user(format!("the release recorded {} without a version id; it cannot be restored", persona.key))
    })?;
    let written =
        s3::restore_version(client, bucket, &persona.key, version, "text/plain; charset=utf-8", &persona.sha256)
            .await?;
    let record =
        ObjectRecord { key: persona.key.clone(), version_id: written.version_id, sha256: persona.sha256.clone() };
    Ok((record, written.uploaded))
}

/// The stack learns the live version (so its next change set leaves the alias alone), or with
/// `--infra` takes the target's template and parameters.
async fn record_in_stack(
    target: &mut Target,
    wanted: &Release,
    infra: Option<&Release>,
    done: &mut Done,
    phase: &crate::output::Phase,
) -> Result<()> {
    let cfn = target.aws.cloudformation();
    let bucket = target.artifacts_bucket()?.to_owned();
    let version = wanted.function.as_ref().map(|f| f.version.clone()).unwrap_or_default();
    let (sha, mut parameters) = if let Some(infra) = infra {
        let sha = infra
            .template_sha256
            .clone()
            .ok_or_else(|| Error::user(format!("release {} recorded no template", infra.id)))?;
        (sha, infra.parameters.clone())
    } else {
        let body = stack::template_body(&cfn, &target.stack_name).await?;
        let sha = s3::sha256_hex(body.as_bytes());
        s3::put_bytes_if_absent(
            &target.aws.s3(),
            &bucket,
            &artifacts::template_key(&sha),
            body.as_bytes(),
            "application/x-yaml",
        )
        .await?;
        let parameters = target.stack.as_ref().map(stack::parameters).unwrap_or_default();
        (sha, parameters)
    };
    parameters.insert("LiveVersion".into(), version.clone());
    done.template_sha256 = Some(sha.clone());
    done.parameters = parameters.clone();
    let source = TemplateSource::Url(s3::https_url(&bucket, &target.aws.region, &artifacts::template_key(&sha)));
    let waiting = Waiting::for_endpoint(target.aws.is_emulator());
    let proposal = target.stack_change(&source, &parameters)?;
    let planned = stack::plan(&cfn, &target.stack_name, &proposal, &waiting, phase).await?;
    let settled = stack::execute(&cfn, &planned, &waiting, phase).await?;
    target.set_stack(settled);
    target.live_version = Some(version);
    Ok(())
}

impl RollbackReport {
    pub fn summary(&self) -> String {
        let Some(release_id) = &self.release_id else {
            return format!("{}: release {} is already current; nothing to do\n", self.environment, self.to);
        };
        let mut text =
            format!("rolled back {} from {} to {} (release {release_id})\n", self.environment, self.from, self.to);
        text.push_str(&format!(
            "  origin:   {:.2}s (alias {} → {}{}, {} object(s) restored, {} deleted{})\n",
            self.origin_seconds,
            self.function_version_before.as_deref().unwrap_or("-"),
            self.function_version,
            if self.alias_moved { "" } else { ", unchanged" },
            self.site.as_ref().map(|s| s.uploaded + s.redescribed).unwrap_or(0),
            self.site.as_ref().map(|s| s.deleted).unwrap_or(0),
            if self.persona_restored { ", persona restored" } else { "" }
        ));
        if !self.invalidated.is_empty() {
            text.push_str(&format!(
                "  edge:     {:.2}s (invalidated {}{})\n",
                self.edge_seconds,
                self.invalidated.join(" "),
                if self.invalidation_completed == Some(false) { ", still in progress" } else { "" }
            ));
        }
        text.push_str(&format!(
            "  stack:    {:.2}s ({})\n",
            self.stack_seconds,
            if self.infra { "template and parameters of the release" } else { "live version recorded" }
        ));
        if !self.pruned_versions.is_empty() {
            text.push_str(&format!("  pruned:   function version(s) {}\n", self.pruned_versions.join(", ")));
        }
        text
    }
}
