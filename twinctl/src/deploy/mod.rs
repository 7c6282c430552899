//! The deploy: ordered steps over one [`State`] — `plan → upload → stack → function → site →
//! cdn → record` — each idempotent and safe to rerun after a crash. The report printed and the
//! release recorded are both derived from that one state.
//!
//! - plan: the bundle (built now, or `--artifacts`, whose digest must match `--bundle-digest`),
//!   the template, the current release;
//! - upload: the function zip and the template into the artifacts bucket, by sha256;
//! - data: the environment's data stack (`{stack}-data`: memory bucket, key, secret, log
//!   groups), created once and kept by `twinctl destroy`; its outputs become the stack's
//!   parameters, so a deploy after a destroy reattaches the same conversations;
//! - stack: a failed first create is removed, then a change set is shown and executed;
//! - function: the persona, then `$LATEST` is published once Lambda finished updating it — in
//!   code *or* configuration — and, when that version is not live, smoke-tested before the
//!   `live` alias is created (by the stack) or moved (by UpdateAlias) to it — after a canary
//!   window when one is configured (see [`crate::canary`]). The alias never points at
//!   `$LATEST`; when the version does not go live, the current release's persona goes back;
//! - site: desired state → bucket (see [`site`]);
//! - cdn: the changed paths invalidated, the wait bounded;
//! - record: the release manifest; a succeeded one becomes current; then, still under the lock,
//!   Lambda versions no retained release needs are pruned.
//!
//! Under the lock first: the stack and alias are read again, and an interrupted canary's weights
//! are removed. Before the first write to the site, the `writing` marker tells a rollback that
//! the manifests may not describe the bucket until this release is recorded.
//!
//! Must not: parse arguments or print results (the command does).

pub mod preview;
pub mod site;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use crate::artifacts;
use crate::aws::cdn::{self, Invalidation};
use crate::aws::lambda::{self, VersionConfiguration};
use crate::aws::stack::{self, TemplateSource, Waiting};
use crate::aws::{Caller, s3};
use crate::bundle::{self, Located, Outcome as BuildOutcome};
use crate::canary;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::local_function::LocalFunction;
use crate::lock::{Activity, EnvironmentLock};
use crate::release::{self, FunctionRecord, Kind, ObjectRecord, Outcome, Release};
use crate::target::Target;

#[derive(Debug, Clone)]
pub struct Options {
    /// A bundle built earlier; None builds now.
    pub artifacts: Option<PathBuf>,
    /// `--bundle-digest`: the given bundle's [`bundle::digest`] must be this.
    pub bundle_digest: Option<String>,
    pub force_unlock: bool,
    /// How long to wait for the CloudFront invalidation; zero does not wait.
    pub invalidation_wait: Duration,
    pub parallel: usize,
    /// Give a new version a share of the traffic first (None: it takes all at once).
    pub canary: Option<canary::Settings>,
    /// Run the test plans before the release is recorded (`--verify`); Some(path): also JUnit.
    pub verify: Option<Option<PathBuf>>,
}

/// Everything a deploy learned and did, in one place.
#[derive(Debug)]
struct State {
    release_id: String,
    started_at: String,
    actor: String,
    host: String,
    git_sha: Option<String>,
    current: Option<Release>,
    bundle: Option<Located>,
    template: Option<(String, String)>,
    data_template: Option<(String, String)>,
    parameters: BTreeMap<String, String>,
    data_changes: usize,
    zip_uploaded: bool,
    stack_changes: usize,
    persona: Option<ObjectRecord>,
    persona_uploaded: bool,
    live_before: Option<String>,
    function: Option<(String, VersionConfiguration)>,
    alias_moved: bool,
    canary: Option<canary::CanaryReport>,
    interrupted_canary: Option<lambda::AliasRouting>,
    site: Option<site::SyncReport>,
    invalidation: Option<Invalidation>,
    phases: Vec<(String, f64)>,
    urls: BTreeMap<String, String>,
}

/// The result document of `twinctl deploy`.
#[derive(Debug, Serialize)]
pub struct DeployReport {
    pub environment: String,
    pub release_id: String,
    pub build: Option<BuildOutcome>,
    pub stack: String,
    pub stack_changes: usize,
    /// The data stack (kept by `twinctl destroy`) and how many of its resources changed.
    pub data_stack: String,
    pub data_stack_changes: usize,
    pub zip_uploaded: bool,
    pub persona_uploaded: bool,
    pub function_version: Option<String>,
    /// The live version changed to a version published by this deploy.
    pub version_published: bool,
    pub alias_moved: bool,
    /// The canary's evidence and decision, when the new version went through one.
    pub canary: Option<canary::CanaryReport>,
    /// Weights an interrupted canary had left on the alias, removed before this deploy.
    pub interrupted_canary: Option<lambda::AliasRouting>,
    pub site: Option<site::SyncReport>,
    pub invalidated: Vec<String>,
    pub invalidation_id: Option<String>,
    pub invalidation_completed: Option<bool>,
    pub phases: Vec<(String, f64)>,
    pub urls: BTreeMap<String, String>,
    /// Function versions deleted because no retained release needs them.
    pub pruned_versions: Vec<String>,
    /// Requests sent to AWS by the whole command, by service (retries count).
    pub aws_requests: BTreeMap<String, u64>,
    /// `--verify`: the test plans' results. When they failed, the release was recorded as failed
    /// (never current) and `previous_release` is what the command restores.
    pub verification: Option<crate::testplan::report::VerifyReport>,
    /// The release current before this deploy.
    pub previous_release: Option<String>,
    /// `--verify` failed and `previous_release` was restored: that rollback's report.
    pub rolled_back: Option<crate::rollback::RollbackReport>,
}

impl DeployReport {
    /// `--verify` ran and a step failed or could not run.
    pub fn verification_failed(&self) -> bool {
        self.verification.as_ref().is_some_and(crate::testplan::report::VerifyReport::failed)
    }
}

/// Takes the lock, runs the steps, records the release, releases the lock.
pub async fn run(ctx: &Context, target: &mut Target, caller: &Caller, options: &Options) -> Result<DeployReport> {
    let bucket = target.artifacts_bucket()?.to_owned();
    let s3 = target.aws.s3();
    let lock = EnvironmentLock::take(target, caller, Activity::Deploy, options.force_unlock, &ctx.printer).await?;
    // What was read before the lock may be stale; an interrupted canary is resolved first.
    let prepared = async {
        target.refresh().await?;
        crate::canary::revert_interrupted(target, &ctx.printer).await
    }
    .await;
    let interrupted_canary = match prepared {
        Ok(reverted) => reverted,
        Err(e) => {
            let _ = lock.release().await;
            return Err(e);
        }
    };

    let mut state = State {
        release_id: release::new_id(),
        started_at: chrono::Utc::now().to_rfc3339(),
        actor: caller.arn.clone(),
        host: lock.holder().host.clone(),
        git_sha: lock.holder().git_sha.clone(),
        current: None,
        bundle: None,
        template: None,
        data_template: None,
        parameters: BTreeMap::new(),
        data_changes: 0,
        zip_uploaded: false,
        stack_changes: 0,
        persona: None,
        persona_uploaded: false,
        live_before: target.live_version.clone(),
        function: None,
        alias_moved: false,
        canary: None,
        interrupted_canary,
        site: None,
        invalidation: None,
        phases: Vec::new(),
        urls: BTreeMap::new(),
    };
    let outcome = steps(ctx, target, options, &lock, &mut state).await;
    // Verified under the lock and before the release is recorded: a release whose plans fail is
    // recorded as failed, so it never becomes current.
    let mut verification = None;
    let outcome = match (outcome, &options.verify) {
        (Ok(()), Some(junit)) => {
            target.release_under_test = Some(state.release(target, &Ok(())));
            let verified =
                crate::verification::verify(ctx, target, &[], crate::verification::Serving::Fresh, junit.as_deref())
                    .await;
            target.release_under_test = None;
            match verified {
                Ok(report) => {
                    let failed = report.failed();
                    let failing = report.steps.iter().filter(|s| {
                        matches!(
                            s.outcome,
                            crate::testplan::report::Outcome::Fail | crate::testplan::report::Outcome::Error
                        )
                    });
                    let named: Vec<String> = failing.map(|s| format!("{} / {}", s.plan, s.step)).collect();
                    verification = Some(report);
                    if failed { Err(Error::user(format!("verification failed: {}", named.join("; ")))) } else { Ok(()) }
                }
                Err(e) => Err(e),
            }
        }
        (outcome, _) => outcome,
    };
    let manifest = state.release(target, &outcome);
    let recorded = release::record(&s3, &bucket, &manifest).await;
    if recorded.is_ok() {
        // The site now matches a recorded manifest (the current one, or a failed one that is
        // the newest): a rollback may plan from the manifests again. Left behind, the marker
        // only makes the next rollback read the bucket.
        if let Err(e) = release::Writing::clear(&s3, &bucket, &target.name).await {
            ctx.printer.warn(format!("{e}"));
        }
    }
    // Under the lock: pruning after releasing it could delete a version another deploy just published.
    let pruned = match (&outcome, &recorded) {
        (Ok(()), Ok(())) => crate::retention::prune_after_release(target, &ctx.printer).await,
        _ => Vec::new(),
    };
    let released = lock.release().await;
    let previous_release = state.current.as_ref().map(|r| r.id.clone());
    // A failed verification is reported, not raised: the command restores the previous release.
    if verification.as_ref().is_none_or(|v| !v.failed()) {
        outcome?;
    }
    recorded?;
    released?;
    let mut report = state.report(target);
    report.pruned_versions = pruned;
    report.aws_requests = target.aws.requests.snapshot();
    report.verification = verification;
    report.previous_release = previous_release;
    Ok(report)
}

async fn steps(
    ctx: &Context,
    target: &mut Target,
    options: &Options,
    lock: &EnvironmentLock,
    state: &mut State,
) -> Result<()> {
    plan(ctx, target, options, state).await?;
    upload(ctx, target, state).await?;
    apply_data_stack(ctx, target, state).await?;
    apply_stack(ctx, target, state).await?;
    function(ctx, target, options, lock, state).await?;
    sync_site(ctx, target, options, state).await?;
    invalidate(ctx, target, options, state).await
}

impl State {
    fn timed(&mut self, name: &str, took: Duration) {
        self.phases.push((name.to_owned(), took.as_secs_f64()));
    }

    fn bundle(&self) -> Result<&Located> {
        self.bundle.as_ref().ok_or_else(|| Error::Internal(anyhow::anyhow!("the deploy has no bundle yet")))
    }

    fn release(&self, target: &Target, outcome: &Result<()>) -> Release {
        Release {
            schema_version: release::SCHEMA_VERSION,
            id: self.release_id.clone(),
            environment: target.name.clone(),
            kind: Kind::Deploy,
            outcome: if outcome.is_ok() { Outcome::Succeeded } else { Outcome::Failed },
            rolled_back_to: None,
            previous: self.current.as_ref().map(|r| r.id.clone()),
            started_at: self.started_at.clone(),
            finished_at: chrono::Utc::now().to_rfc3339(),
            actor: self.actor.clone(),
            host: self.host.clone(),
            git_sha: self.git_sha.clone(),
            stack: target.stack_name.clone(),
            template_sha256: self.template.as_ref().map(|(_, sha)| sha.clone()),
            parameters: self.parameters.clone(),
            function: self.function.as_ref().map(|(name, version)| FunctionRecord {
                name: name.clone(),
                version: version.version.clone(),
                code_sha256: version.code_sha256.clone(),
                configuration_sha256: version.configuration_sha256.clone(),
            }),
            persona: self.persona.clone(),
            site: self.site.as_ref().map(|s| s.objects.clone()).unwrap_or_default(),
            site_changed: self.site.as_ref().map(site::SyncReport::changed).unwrap_or(0),
            error: outcome.as_ref().err().map(ToString::to_string),
        }
    }

    fn report(self, target: &Target) -> DeployReport {
        let version = self.function.as_ref().map(|(_, v)| v.version.clone());
        DeployReport {
            environment: target.name.clone(),
            release_id: self.release_id,
            build: self.bundle.as_ref().map(|b| b.outcome),
            stack: target.stack_name.clone(),
            stack_changes: self.stack_changes,
            data_stack: target.data_stack_name.clone(),
            data_stack_changes: self.data_changes,
            zip_uploaded: self.zip_uploaded,
            persona_uploaded: self.persona_uploaded,
            version_published: self.alias_moved && version != self.live_before,
            function_version: version,
            alias_moved: self.alias_moved,
            canary: self.canary,
            interrupted_canary: self.interrupted_canary,
            site: self.site,
            invalidated: self.invalidation.as_ref().map(|i| i.paths.clone()).unwrap_or_default(),
            invalidation_id: self.invalidation.as_ref().map(|i| i.id.clone()),
            invalidation_completed: self.invalidation.as_ref().map(|i| i.completed),
            phases: self.phases,
            urls: self.urls,
            pruned_versions: Vec::new(),
            aws_requests: BTreeMap::new(),
            verification: None,
            previous_release: None,
            rolled_back: None,
        }
    }
}

/// The bundle, the template and the release now current.
async fn plan(ctx: &Context, target: &Target, options: &Options, state: &mut State) -> Result<()> {
    let started = Instant::now();
    let located = bundle::resolve(&ctx.config, &ctx.printer, target.architecture, options.artifacts.as_deref()).await?;
    // Checked on the bundle this deploy uploads, not only before the lock: the directory may have
    // changed while the command waited for a confirmation.
    if let Some(expected) = &options.bundle_digest {
        bundle::expect_digest(&located.dir, &located.bundle, expected)?;
    }
    if located.outcome == BuildOutcome::Built {
        state.timed("build", started.elapsed());
    }
    state.bundle = Some(located);
    let template = read_template(ctx, &ctx.config.templates.stack)?;
    let data_template = read_template(ctx, &ctx.config.templates.data)?;
    check_configured_parameters(ctx, target, &[&template.0, &data_template.0])?;
    state.template = Some(template);
    state.data_template = Some(data_template);
    state.current = release::current(&target.aws.s3(), target.artifacts_bucket()?, &target.name).await?;
    Ok(())
}

/// A template's text and sha256.
pub fn read_template(ctx: &Context, relative: &std::path::Path) -> Result<(String, String)> {
    let path = ctx.config.resolve(relative);
    let text = std::fs::read_to_string(&path).with_context(|| format!("failed to read {}", path.display()))?;
    let sha = s3::sha256_hex(text.as_bytes());
    Ok((text, sha))
}

/// A configured parameter neither template declares is a typo: CloudFormation would reject it
/// only after the upload, and without saying where it came from.
fn check_configured_parameters(ctx: &Context, target: &Target, templates: &[&str]) -> Result<()> {
    let mut declared = std::collections::BTreeSet::new();
    for template in templates {
        declared.extend(stack::declared_parameters(template)?);
    }
    match target.environment.parameters.keys().find(|key| !declared.contains(*key)) {
        Some(unknown) => Err(Error::user(format!(
            "{}: environments.{}.parameters.{unknown} is not a parameter of {} or {}",
            ctx.config.path.display(),
            target.name,
            ctx.config.templates.stack.display(),
            ctx.config.templates.data.display()
        ))),
        None => Ok(()),
    }
}

/// The parameters of `all` that `template` declares (each stack gets its own).
pub fn parameters_for(template: &str, all: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
    let declared = stack::declared_parameters(template)?;
    Ok(all.iter().filter(|(key, _)| declared.contains(key)).map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// The function zip and the template, by content.
async fn upload(ctx: &Context, target: &Target, state: &mut State) -> Result<()> {
    let phase = ctx.printer.phase("upload");
    let client = target.aws.s3();
    let bucket = target.artifacts_bucket()?;
    let located = state.bundle()?;
    let code_key = artifacts::function_key(&located.bundle.function.sha256);
    // Checked before upload: a zip Lambda cannot run fails here, not at the first cold start.
    let architecture = crate::bundle::architecture_label(target.architecture);
    let requirements = if target.aws.is_emulator() {
        bundle::check::Requirements::here(architecture)
    } else {
        bundle::check::Requirements::lambda(architecture)
    };
    bundle::check::function_zip(&located.zip_path(), requirements)?;
    let zip_uploaded =
        s3::put_file_if_absent(&client, bucket, &code_key, &located.zip_path(), "application/zip").await?;
    for (template, sha) in [&state.template, &state.data_template].into_iter().flatten() {
        s3::put_bytes_if_absent(
            &client,
            bucket,
            &artifacts::template_key(sha),
            template.as_bytes(),
            "application/x-yaml",
        )
        .await?;
    }
    state.zip_uploaded = zip_uploaded;
    let took =
        phase.finish(if zip_uploaded { format!("{code_key} uploaded") } else { format!("{code_key} already there") });
    state.timed("upload", took);
    Ok(())
}

/// The parameters of both stacks: the configured ones, what twinctl owns, and the data stack's
/// outputs (see [`parameters_for`]).
pub fn stack_parameters(ctx: &Context, target: &Target, located: &Located) -> Result<BTreeMap<String, String>> {
    let mut parameters = data_parameters(ctx, target);
    parameters.insert("CodeBucket".into(), target.artifacts_bucket()?.to_owned());
    parameters.insert("CodeKey".into(), artifacts::function_key(&located.bundle.function.sha256));
    parameters.insert("Architecture".into(), located.bundle.architecture.clone());
    // Every role the stack creates carries the boundary: the execution role may create no other.
    parameters.insert("PermissionsBoundaryArn".into(), target.permissions_boundary()?.to_owned());
    // Always the alias's current version (empty before the first): CloudFormation must never
    // move the alias behind our back.
    parameters.insert("LiveVersion".into(), target.live_version.clone().unwrap_or_default());
    parameters.extend(target.data_outputs.clone());
    Ok(parameters)
}

/// What both stacks take that needs no bundle: the configured parameters and the names and
/// settings twinctl owns (each stack gets the ones its template declares).
fn data_parameters(ctx: &Context, target: &Target) -> BTreeMap<String, String> {
    let mut parameters = target.environment.parameters.clone();
    parameters.insert("ProjectName".into(), ctx.config.project.clone());
    parameters.insert("EnvironmentName".into(), target.name.clone());
    parameters.insert("RetainedReleases".into(), target.environment.retain_releases.to_string());
    parameters
}

/// The data stack alone, made as the first deploy makes it, when it does not exist yet: the
/// model's key lives in its secret, so `twinctl secrets set` before an environment's first deploy
/// makes it, and that deploy's smoke test then finds the key. Idempotent; never changes an
/// existing data stack (deploy does). Returns whether it created one.
pub async fn ensure_data_stack(ctx: &Context, target: &mut Target) -> Result<bool> {
    if target.data_stack.is_some() {
        return Ok(false);
    }
    let phase = ctx.printer.phase("data");
    let (template, sha) = read_template(ctx, &ctx.config.templates.data)?;
    check_configured_parameters(ctx, target, &[&read_template(ctx, &ctx.config.templates.stack)?.0, &template])?;
    s3::put_bytes_if_absent(
        &target.aws.s3(),
        target.artifacts_bucket()?,
        &artifacts::template_key(&sha),
        template.as_bytes(),
        "application/x-yaml",
    )
    .await?;
    let plan = change_data_stack(ctx, target, &template, &sha, &phase).await?;
    phase.finish(format!("{} created ({} resources)", target.data_stack_name, plan.changes.len()));
    Ok(true)
}

/// Creates or updates the data stack from the data template `sha` (already in the artifacts
/// bucket): what deploy's `data` step and [`ensure_data_stack`] share. The data template takes
/// only [`data_parameters`], which need no bundle.
async fn change_data_stack(
    ctx: &Context,
    target: &mut Target,
    template: &str,
    sha: &str,
    phase: &crate::output::Phase,
) -> Result<stack::Plan> {
    refuse_single_stack_layout(target)?;
    let cfn = target.aws.cloudformation();
    let waiting = Waiting::for_endpoint(target.aws.is_emulator());
    stack::remove_dead(&cfn, &target.data_stack_name, &waiting, phase).await?;
    let parameters = parameters_for(template, &data_parameters(ctx, target))?;
    let (plan, settled) = change_stack(target, &target.data_stack_name, sha, &parameters, phase).await?;
    target.set_data_stack(Some(settled));
    Ok(plan)
}

fn template_source(target: &Target, sha: &str) -> Result<TemplateSource> {
    Ok(TemplateSource::Url(s3::https_url(
        target.artifacts_bucket()?,
        &target.aws.region,
        &artifacts::template_key(sha),
    )))
}

/// The data stack: created by the first deploy (or the first after `destroy --delete-data`),
/// updated when its template or parameters change, never deleted here.
async fn apply_data_stack(ctx: &Context, target: &mut Target, state: &mut State) -> Result<()> {
    let phase = ctx.printer.phase("data");
    let (template, sha) =
        state.data_template.clone().ok_or_else(|| Error::Internal(anyhow::anyhow!("no data template")))?;
    let plan = change_data_stack(ctx, target, &template, &sha, &phase).await?;
    state.data_changes = plan.changes.len();
    let took = phase.finish(if plan.is_empty() {
        "no changes".to_owned()
    } else {
        format!("{} change(s) applied", plan.changes.len())
    });
    state.timed("data", took);
    Ok(())
}

/// Plans `name` from the template `sha` with `parameters`, shows the plan, executes it; an
/// approval-gated environment's stacks then get termination protection, so that deleting one
/// takes turning protection off on purpose first (`destroy --disable-termination-protection`).
async fn change_stack(
    target: &Target,
    name: &str,
    sha: &str,
    parameters: &BTreeMap<String, String>,
    phase: &crate::output::Phase,
) -> Result<(stack::Plan, aws_sdk_cloudformation::types::Stack)> {
    let cfn = target.aws.cloudformation();
    let waiting = Waiting::for_endpoint(target.aws.is_emulator());
    let source = template_source(target, sha)?;
    let proposal = target.stack_change(&source, parameters)?;
    let plan = stack::plan(&cfn, name, &proposal, &waiting, phase).await?;
    for line in stack::render(&plan).lines() {
        phase.println(line);
    }
    let settled = stack::execute(&cfn, &plan, &waiting, phase).await?;
    if target.environment.approval && settled.enable_termination_protection() != Some(true) {
        stack::protect(&cfn, name).await?;
        phase.println(format!("termination protection turned on for {name}"));
    }
    Ok((plan, settled))
}

/// A stack deployed before the data had its own stack holds the memory bucket, key and secret
/// itself: creating the data stack next to it would meet their names. Say so, not AlreadyExists.
fn refuse_single_stack_layout(target: &Target) -> Result<()> {
    let single = target.data_stack.is_none()
        && target.stack.as_ref().is_some_and(|s| !stack::parameters(s).contains_key("DataKeyArn"));
    if single {
        return Err(Error::user_with_hint(
            format!(
                "stack {} holds its own memory bucket, key and secret (deployed by a twinctl from before {} existed)",
                target.stack_name, target.data_stack_name
            ),
            "this layout cannot be updated in place; see README \"Upgrading a single-stack environment\"",
        ));
    }
    Ok(())
}

async fn apply_stack(ctx: &Context, target: &mut Target, state: &mut State) -> Result<()> {
    let phase = ctx.printer.phase("stack");
    let cfn = target.aws.cloudformation();
    let waiting = Waiting::for_endpoint(target.aws.is_emulator());
    stack::remove_dead(&cfn, &target.stack_name, &waiting, &phase).await?;
    let sha = state.template.as_ref().map(|(_, sha)| sha.clone()).unwrap_or_default();
    let template = state.template.as_ref().map(|(t, _)| t.as_str()).unwrap_or_default();
    state.parameters = parameters_for(template, &stack_parameters(ctx, target, state.bundle()?)?)?;
    let (plan, settled) = change_stack(target, &target.stack_name, &sha, &state.parameters, &phase).await?;
    target.set_stack(settled);
    state.stack_changes = plan.changes.len();
    let took = phase.finish(if plan.is_empty() {
        "no changes".to_owned()
    } else {
        format!("{} change(s) applied", plan.changes.len())
    });
    state.timed("stack", took);
    for key in ["SiteUrl", "ApiEndpoint"] {
        if let Some(value) = target.outputs.get(key) {
            state.urls.insert(key.to_owned(), value.clone());
        }
    }
    Ok(())
}

/// How long Lambda may take to finish an update or activate a version.
const FUNCTION_WAIT: Duration = Duration::from_secs(300);

async fn function(
    ctx: &Context,
    target: &mut Target,
    options: &Options,
    lock: &EnvironmentLock,
    state: &mut State,
) -> Result<()> {
    let phase = ctx.printer.phase("function");
    let persona_path = ctx.config.resolve(&ctx.config.persona);
    let persona = std::fs::read(&persona_path)
        .with_context(|| format!("failed to read the persona {}", persona_path.display()))?;
    let persona_sha = s3::sha256_hex(&persona);
    let memory = target.output("MemoryBucketName")?.to_owned();
    let written =
        s3::put_if_changed(&target.aws.s3(), &memory, PERSONA_KEY, persona, "text/plain; charset=utf-8").await?;
    state.persona_uploaded = written.uploaded;
    state.persona =
        Some(ObjectRecord { key: PERSONA_KEY.to_owned(), version_id: written.version_id, sha256: persona_sha });
    let result = go_live(ctx, target, options, lock, state, &phase).await;
    if result.is_err() && state.persona_uploaded {
        put_persona_back(ctx, target, state).await;
    }
    let took = phase.finish(match (&result, &state.function) {
        (Err(_), _) => "failed".to_owned(),
        (Ok(()), Some((_, version))) if state.alias_moved => {
            format!("version {} passed the smoke test and is live", version.version)
        }
        (Ok(()), Some((_, version))) => format!("version {} is already live", version.version),
        (Ok(()), None) => String::new(),
    });
    state.timed("function", took);
    result
}

/// The persona is shared by every version: when the new version does not go live, the
/// persona of the release now current goes back (unless traffic already moved).
async fn put_persona_back(ctx: &Context, target: &Target, state: &mut State) {
    let Some(previous) = state.current.as_ref().and_then(|r| r.persona.clone()) else { return };
    let (Some(version), Ok(memory), Ok(function)) =
        (previous.version_id.as_deref(), target.output("MemoryBucketName"), target.output("FunctionName"))
    else {
        return;
    };
    match lambda::alias_version(&target.aws.lambda(), function).await {
        Ok(live) if live == state.live_before => {}
        _ => return,
    }
    let restored = s3::restore_version(
        &target.aws.s3(),
        memory,
        &previous.key,
        version,
        "text/plain; charset=utf-8",
        &previous.sha256,
    )
    .await;
    match restored {
        Ok(written) => {
            ctx.printer.warn(format!(
                "the persona of release {} was put back",
                state.current.as_ref().map(|r| r.id.as_str()).unwrap_or("-")
            ));
            state.persona = Some(ObjectRecord { version_id: written.version_id, ..previous });
        }
        Err(e) => ctx.printer.warn(format!(
            "the new persona stays in place: putting release {}'s back failed: {e}",
            state.current.as_ref().map(|r| r.id.as_str()).unwrap_or("-")
        )),
    }
}

/// Publishes, smoke-tests, canaries and switches the alias; the stack records the version.
async fn go_live(
    ctx: &Context,
    target: &mut Target,
    options: &Options,
    lock: &EnvironmentLock,
    state: &mut State,
    phase: &crate::output::Phase,
) -> Result<()> {
    let function_name = target.output("FunctionName")?.to_owned();
    let lambda = target.aws.lambda();
    let code_sha256 = state.bundle()?.bundle.function.code_sha256.clone();
    let version = lambda::publish(&lambda, &function_name, &code_sha256, FUNCTION_WAIT).await?;
    let number = version.version.clone();
    state.function = Some((function_name.clone(), version.clone()));
    if target.live_version.as_deref() == Some(number.as_str()) {
        return Ok(());
    }
    phase.message(format!("smoke-testing version {number}"));
    smoke_test(ctx, target, &function_name, &version).await?;
    if let (Some(live), Some(settings)) = (target.live_version.clone(), options.canary.as_ref()) {
        let versions = canary::Versions { function: &function_name, old: &live, new: &version };
        let report = canary::run(target, lock, versions, settings, &local_work_dir(ctx)?, phase).await?;
        let refused = match report.outcome {
            canary::Outcome::Promoted => None,
            canary::Outcome::Reverted => Some(Error::from(&report)),
            canary::Outcome::Aborted => Some(lock.lost()),
        };
        state.canary = Some(report);
        if let Some(error) = refused {
            return Err(error);
        }
    }
    if target.live_version.is_some() {
        // The fast path: traffic moves now, the stack records it next.
        lambda::move_alias(&lambda, &function_name, &number).await?;
    }
    // Before the first smoke-tested version there is no alias: the stack creates it here.
    state.parameters.insert("LiveVersion".into(), number.clone());
    let cfn = target.aws.cloudformation();
    let waiting = Waiting::for_endpoint(target.aws.is_emulator());
    let sha = state.template.as_ref().map(|(_, sha)| sha.clone()).unwrap_or_default();
    let source = template_source(target, &sha)?;
    let proposal = target.stack_change(&source, &state.parameters)?;
    let record = stack::plan(&cfn, &target.stack_name, &proposal, &waiting, phase).await?;
    let settled = stack::execute(&cfn, &record, &waiting, phase).await?;
    target.set_stack(settled);
    target.live_version = Some(number.clone());
    state.alias_moved = true;
    Ok(())
}

/// Where the persona lives in the memory bucket (the runtime's S3_PERSONA_KEY default).
const PERSONA_KEY: &str = "persona/me.txt";

/// The smoke test of a version: on Lambda, an invocation; against the emulator (which cannot
/// run code), the version's own zip run on this machine with the version's own environment.
async fn smoke_test(ctx: &Context, target: &Target, function: &str, version: &VersionConfiguration) -> Result<()> {
    if !target.aws.is_emulator() {
        let origin = target.origin_secret().await?;
        return lambda::smoke_test(&target.aws.lambda(), function, &version.version, origin.as_ref()).await;
    }
    let work_dir = local_work_dir(ctx)?;
    let origin = target.origin_secret().await?;
    let running =
        LocalFunction::start(&target.aws, target.artifacts_bucket()?, version, &work_dir, origin.as_ref()).await?;
    let result = running.smoke_test().await;
    running.stop().await;
    result
}

/// Where versions run on this machine against the emulator keep their binaries and logs.
fn local_work_dir(ctx: &Context) -> Result<PathBuf> {
    let work_dir = ctx.config.resolve(std::path::Path::new("target/twin/run"));
    std::fs::create_dir_all(&work_dir).with_context(|| format!("failed to create {}", work_dir.display()))?;
    Ok(work_dir)
}

/// The per-environment runtime configuration served as `/config.json`: one site build serves
/// every environment.
pub fn runtime_config(name: &str) -> Result<Vec<u8>> {
    let body = serde_json::json!({ "apiBaseUrl": "/api", "environment": name });
    Ok(serde_json::to_vec_pretty(&body).map_err(anyhow::Error::from)?)
}

/// The desired site of a bundle: its files plus the runtime configuration.
pub fn desired_site(
    ctx: &Context,
    target: &Target,
    located: &Located,
) -> Result<Option<(Vec<site::Desired>, site::CachePolicy)>> {
    let (Some(site_dir), Some(frontend)) = (located.site_dir(), &ctx.config.frontend) else { return Ok(None) };
    let cache = site::CachePolicy::new(&frontend.cache)?;
    let desired = site::desired_from_dir(
        &site_dir,
        Some((frontend.runtime_config.as_str(), runtime_config(&target.name)?)),
        &cache,
    )?;
    Ok(Some((desired, cache)))
}

async fn sync_site(ctx: &Context, target: &Target, options: &Options, state: &mut State) -> Result<()> {
    let Some((desired, _)) = desired_site(ctx, target, state.bundle()?)? else { return Ok(()) };
    let phase = ctx.printer.phase("site");
    let client = target.aws.s3();
    let bucket = target.output("FrontendBucketName")?.to_owned();
    let recorded = state.current.as_ref().map(|r| r.site.clone()).unwrap_or_default();
    let current = site::current(&client, &bucket, &recorded, options.parallel).await?;
    let plan = site::plan(desired, &current);
    if !plan.uploads.is_empty() || !plan.redescribe.is_empty() || !plan.deletions.is_empty() {
        release::Writing::mark(&client, target.artifacts_bucket()?, &target.name, &state.release_id).await?;
    }
    let bar = ctx.printer.bar(0, "files");
    let synced = site::apply(&client, &bucket, plan, &current, options.parallel, &bar).await?;
    bar.finish_and_clear();
    let took = phase.finish(format!(
        "{} uploaded, {} re-described, {} unchanged, {} deleted",
        synced.uploaded, synced.redescribed, synced.skipped, synced.deleted
    ));
    state.timed("site", took);
    state.site = Some(synced);
    Ok(())
}

async fn invalidate(ctx: &Context, target: &Target, options: &Options, state: &mut State) -> Result<()> {
    let Some(changed) = state.site.as_ref().map(|s| s.invalidate.clone()).filter(|c| !c.is_empty()) else {
        return Ok(());
    };
    let phase = ctx.printer.phase("cdn");
    let distribution = target.output("DistributionId")?.to_owned();
    let invalidation = cdn::invalidate(
        &target.aws.cloudfront(),
        &distribution,
        cdn::paths_for(&changed),
        &state.release_id,
        options.invalidation_wait,
        &phase,
    )
    .await?;
    let took = if invalidation.completed {
        phase.finish(format!("{} path(s) invalidated", invalidation.paths.len()))
    } else {
        let waited = options.invalidation_wait.as_secs();
        ctx.printer.warn(format!(
            "invalidation {} of {distribution} is still in progress after {waited} s; CloudFront finishes it on its own \
             (the origin already serves the new files; cached copies expire by their Cache-Control)",
            invalidation.id
        ));
        phase.finish(format!("{} path(s) invalidating ({})", invalidation.paths.len(), invalidation.id))
    };
    state.timed("cdn", took);
    state.invalidation = Some(invalidation);
    Ok(())
}

impl DeployReport {
    pub fn summary(&self) -> String {
        let mut text = format!("deployed {} (release {})\n", self.environment, self.release_id);
        let phases: Vec<String> = self.phases.iter().map(|(name, seconds)| format!("{name} {seconds:.1}s")).collect();
        text.push_str(&format!("  phases:   {}\n", phases.join(", ")));
        text.push_str(&format!("  stack:    {} ({} change(s))\n", self.stack, self.stack_changes));
        if let Some(routing) = &self.interrupted_canary {
            text.push_str(&format!(
                "  canary:   an interrupted canary's weights were removed (back on version {})\n",
                routing.version
            ));
        }
        if let Some(canary) = &self.canary {
            text.push_str(&format!(
                "  canary:   version {} at {:.0}% for {:.0}s: {} request(s) reached it, promoted\n",
                canary.new_version,
                canary.traffic * 100.0,
                canary.seconds,
                canary.reached_new()
            ));
        }
        text.push_str(&format!(
            "  function: version {}{}{}\n",
            self.function_version.as_deref().unwrap_or("?"),
            if self.version_published { " (new)" } else { "" },
            if self.alias_moved { ", alias moved" } else { ", alias unchanged" }
        ));
        if let Some(site) = &self.site {
            text.push_str(&format!(
                "  site:     {} uploaded, {} re-described, {} unchanged, {} deleted\n",
                site.uploaded, site.redescribed, site.skipped, site.deleted
            ));
        }
        if !self.invalidated.is_empty() {
            text.push_str(&format!("  cdn:      invalidated {}\n", self.invalidated.join(" ")));
        }
        if !self.pruned_versions.is_empty() {
            text.push_str(&format!("  pruned:   function version(s) {}\n", self.pruned_versions.join(", ")));
        }
        for (name, url) in &self.urls {
            text.push_str(&format!("  {name}: {url}\n"));
        }
        if let Some(verification) = &self.verification {
            text.push_str(&verification.table());
        }
        if let Some(rollback) = &self.rolled_back {
            text.push_str(&rollback.summary());
        }
        text
    }
}
