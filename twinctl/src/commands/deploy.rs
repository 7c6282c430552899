//! `twinctl deploy <env>`: the main job.
//!
//! Phases, each idempotent and safe to rerun after a crash:
//! 1. credentials (STS), confirmation for approval-gated environments, the environment lock;
//! 2. the bundle: built now, or `--artifacts DIR` built earlier (CI builds once);
//! 3. the function zip into the artifacts bucket under its sha256 (skipped if present);
//! 4. CloudFormation: change set, shown, executed with live events (no changes: skipped);
//! 5. persona upload, then the function: publish a version for new code, smoke-test it, and
//!    only then move the `live` alias (and record the live version in the stack);
//! 6. the site: changed files only, assets before pages, deletions last, plus `config.json`;
//! 7. CloudFront: invalidate the changed, non-immutable paths and wait;
//! 8. the release manifest; the lock is released.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cli::DeployArgs;
use crate::commands::build::{self, Bundle};
use crate::context::{Aws, Caller, Context};
use crate::error::{Error, Result};
use crate::function;
use crate::local_function::LocalFunction;
use crate::lock::{EnvironmentLock, Holder};
use crate::release::{self, Release};
use crate::stack;
use crate::sync::{self, SyncReport};

/// More changed paths than this are invalidated as `/*` (one path, one charge).
const INVALIDATION_COLLAPSE: usize = 15;

#[derive(Debug, Default, Serialize)]
pub struct DeployReport {
    pub environment: String,
    pub release_id: String,
    pub stack: String,
    pub stack_changes: usize,
    pub zip_uploaded: bool,
    pub persona_uploaded: bool,
    pub function_version: Option<String>,
    pub version_published: bool,
    pub alias_moved: bool,
    pub site: Option<SyncReport>,
    pub invalidated: Vec<String>,
    pub invalidation_id: Option<String>,
    pub phases: Vec<(String, f64)>,
    pub urls: BTreeMap<String, String>,
}

struct Target<'a> {
    ctx: &'a Context,
    name: &'a str,
    aws: Aws,
    artifacts_bucket: String,
    stack_name: String,
}

pub async fn run(ctx: &Context, args: &DeployArgs) -> Result<()> {
    let environment = ctx.config.environment(&args.env)?;
    let aws = ctx.aws(environment).await?;
    let started_at = chrono::Utc::now();

    let phase = ctx.printer.phase("identity");
    let caller = ctx.caller(&aws).await?;
    phase.finish(format!("account {} as {}", caller.account, caller.arn));
    confirm(ctx, &args.env, environment.approval, &caller)?;

    let artifacts_bucket = artifacts_bucket(ctx, &aws, &args.env).await?;

    let phase = ctx.printer.phase("lock");
    let lock = EnvironmentLock::acquire(
        aws.s3(),
        &artifacts_bucket,
        &args.env,
        Holder::current(&caller.arn),
        args.force_unlock,
        &ctx.printer,
    )
    .await?;
    phase.finish(format!("locks/{}.json held", args.env));

    let target = Target {
        ctx,
        name: &args.env,
        aws: aws.clone(),
        artifacts_bucket: artifacts_bucket.clone(),
        stack_name: ctx.config.stack_name(&args.env, environment),
    };
    let mut report =
        DeployReport { environment: args.env.clone(), release_id: release::new_id(), ..DeployReport::default() };
    let mut manifest = Release {
        id: report.release_id.clone(),
        environment: args.env.clone(),
        started_at: started_at.to_rfc3339(),
        finished_at: String::new(),
        actor: caller.arn.clone(),
        host: lock.holder().host.clone(),
        git_sha: lock.holder().git_sha.clone(),
        template_sha256: String::new(),
        stack: target.stack_name.clone(),
        function_version: None,
        code_sha256: String::new(),
        site: Vec::new(),
        outcome: String::new(),
        error: None,
    };
    let outcome = deploy(&target, args, &mut report, &mut manifest).await;

    manifest.finished_at = chrono::Utc::now().to_rfc3339();
    manifest.outcome = if outcome.is_ok() { "succeeded" } else { "failed" }.to_owned();
    manifest.error = outcome.as_ref().err().map(ToString::to_string);
    let recorded = release::record(&aws.s3(), &artifacts_bucket, &manifest).await;
    let released = lock.release().await;
    outcome?;
    recorded?;
    released?;

    ctx.printer.result(&report, || summary(&report));
    Ok(())
}

/// The artifacts bucket from the bootstrap stack, or how to create it.
pub async fn artifacts_bucket(ctx: &Context, aws: &Aws, name: &str) -> Result<String> {
    let environment = ctx.config.environment(name)?;
    let bootstrap_name = ctx.config.bootstrap_stack_name(environment);
    let bootstrap = stack::describe(&aws.cloudformation(), &bootstrap_name).await?.ok_or_else(|| {
        Error::user_with_hint(
            format!("the bootstrap stack {bootstrap_name} does not exist in {}", aws.region),
            format!("run `twinctl bootstrap {name}` first"),
        )
    })?;
    stack::outputs(&bootstrap).remove("ArtifactsBucketName").ok_or_else(|| {
        Error::user(format!(
            "the bootstrap stack {bootstrap_name} has no ArtifactsBucketName output; rerun `twinctl bootstrap`"
        ))
    })
}

/// The bundle to deploy or compare: `--artifacts DIR` (checked against the environment's
/// architecture), else a build.
pub async fn resolve_bundle(
    ctx: &Context,
    name: &str,
    artifacts: Option<&Path>,
) -> Result<(std::path::PathBuf, Bundle, bool)> {
    let architecture = ctx.config.architecture(ctx.config.environment(name)?);
    match artifacts {
        Some(dir) => {
            let bundle = build::load_bundle(dir)?;
            if bundle.architecture != build::architecture_label(architecture) {
                return Err(Error::user(format!(
                    "the bundle in {} is for {}, but {name} runs {}",
                    dir.display(),
                    bundle.architecture,
                    build::architecture_label(architecture)
                )));
            }
            Ok((dir.to_owned(), bundle, false))
        }
        None => {
            let (dir, bundle, _) = build::build(ctx, architecture, false).await?;
            Ok((dir, bundle, true))
        }
    }
}

fn confirm(ctx: &Context, name: &str, approval: bool, caller: &Caller) -> Result<()> {
    if !approval || ctx.global.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::user_with_hint(
            format!("environment {name} requires approval and there is no terminal to ask"),
            "pass --yes (or set TWINCTL_YES=true) once the deploy is approved",
        ));
    }
    eprint!("Deploy to {name} (account {})? [y/N] ", caller.account);
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).context("failed to read the answer")?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Error::user(format!("deploy to {name} cancelled")))
    }
}

async fn deploy(
    target: &Target<'_>,
    args: &DeployArgs,
    report: &mut DeployReport,
    manifest: &mut Release,
) -> Result<()> {
    let ctx = target.ctx;
    let config = &ctx.config;
    let timed = |report: &mut DeployReport, name: &str, took: Duration| {
        report.phases.push((name.to_owned(), took.as_secs_f64()))
    };

    // 2. The bundle.
    let started = Instant::now();
    let (bundle_dir, bundle, built) = resolve_bundle(ctx, target.name, args.artifacts.as_deref()).await?;
    if built {
        timed(report, "build", started.elapsed());
    }
    manifest.code_sha256 = bundle.function.code_sha256.clone();

    // 3. The function zip, by content.
    let phase = ctx.printer.phase("upload");
    let s3 = target.aws.s3();
    let code_key = code_key(&bundle);
    report.zip_uploaded =
        upload_if_absent(&s3, &target.artifacts_bucket, &code_key, &bundle_dir.join(&bundle.function.zip)).await?;
    timed(
        report,
        "upload",
        phase.finish(if report.zip_uploaded {
            format!("{code_key} uploaded")
        } else {
            format!("{code_key} already there")
        }),
    );

    // 4. CloudFormation.
    let phase = ctx.printer.phase("stack");
    let cfn = target.aws.cloudformation();
    let lambda = target.aws.lambda();
    let template_path = config.resolve(&config.templates.stack);
    let template = std::fs::read_to_string(&template_path)
        .with_context(|| format!("failed to read {}", template_path.display()))?;
    manifest.template_sha256 = hex::encode(Sha256::digest(template.as_bytes()));
    let existing = stack::describe(&cfn, &target.stack_name).await?;
    let function_name = existing.as_ref().and_then(|s| stack::outputs(s).remove("FunctionName"));
    let live_version = match &function_name {
        Some(name) => function::alias_version(&lambda, name).await?,
        None => None,
    };
    let mut parameters =
        stack_parameters(ctx, target.name, &target.artifacts_bucket, &bundle, live_version.as_deref())?;
    let plan = stack::plan(&cfn, &target.stack_name, &template, &parameters, &phase).await?;
    for line in stack::render(&plan).lines() {
        phase.println(line);
    }
    let settled = stack::execute(&cfn, &plan, &phase).await?;
    report.stack = target.stack_name.clone();
    report.stack_changes = plan.changes.len();
    timed(
        report,
        "stack",
        phase.finish(if plan.is_empty() {
            "no changes".to_owned()
        } else {
            format!("{} change(s) applied", plan.changes.len())
        }),
    );
    let outputs = stack::outputs(&settled);
    let output = |key: &str| {
        outputs
            .get(key)
            .cloned()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("stack {} has no {key} output", target.stack_name)))
    };
    let function_name = output("FunctionName")?;

    // 5. Persona, then the function version behind the alias.
    let phase = ctx.printer.phase("function");
    let persona_path = config.resolve(&config.persona);
    let persona = std::fs::read(&persona_path)
        .with_context(|| format!("failed to read the persona {}", persona_path.display()))?;
    report.persona_uploaded =
        put_if_changed(&s3, &output("MemoryBucketName")?, "persona/me.txt", persona, "text/plain; charset=utf-8")
            .await?;
    let (version, published) = function::ensure_version(&lambda, &function_name, &bundle.function.code_sha256).await?;
    report.function_version = Some(version.clone());
    report.version_published = published;
    manifest.function_version = Some(version.clone());
    if live_version.as_deref() == Some(version.as_str()) {
        timed(report, "function", phase.finish(format!("version {version} is already live")));
    } else {
        phase.message(format!("smoke-testing version {version}"));
        smoke_test(target, &lambda, &function_name, &version).await?;
        function::move_alias(&lambda, &function_name, &version).await?;
        report.alias_moved = true;
        // Record the live version in the stack too, so the next deploy's change set is empty.
        parameters.insert("LiveVersion".into(), version.clone());
        let record = stack::plan(&cfn, &target.stack_name, &template, &parameters, &phase).await?;
        stack::execute(&cfn, &record, &phase).await?;
        timed(report, "function", phase.finish(format!("version {version} passed the smoke test and is live")));
    }

    // 6. The site.
    if let (Some(site), Some(frontend)) = (&bundle.site, &config.frontend) {
        let phase = ctx.printer.phase("site");
        let cache = sync::CachePolicy::new(&frontend.cache)?;
        let runtime_config = runtime_config(target.name)?;
        let bar = ctx.printer.bar(0, "files");
        let synced = sync::sync(
            &s3,
            &output("FrontendBucketName")?,
            &bundle_dir.join(&site.dir),
            Some((frontend.runtime_config.as_str(), runtime_config)),
            &cache,
            args.parallel,
            &bar,
        )
        .await?;
        bar.finish_and_clear();
        manifest.site = synced.objects.clone();
        timed(
            report,
            "site",
            phase.finish(format!(
                "{} uploaded, {} unchanged, {} deleted",
                synced.uploaded, synced.skipped, synced.deleted
            )),
        );

        // 7. CloudFront.
        if !synced.invalidate.is_empty() {
            let phase = ctx.printer.phase("cdn");
            let paths = if synced.invalidate.len() > INVALIDATION_COLLAPSE {
                vec!["/*".to_owned()]
            } else {
                synced.invalidate.clone()
            };
            let id =
                invalidate(&target.aws, &output("DistributionId")?, &paths, &report.release_id, !args.no_wait, &phase)
                    .await?;
            report.invalidated = paths;
            report.invalidation_id = Some(id);
            timed(report, "cdn", phase.finish(format!("{} path(s) invalidated", report.invalidated.len())));
        }
        report.site = Some(synced);
    }

    for key in ["SiteUrl", "ApiEndpoint"] {
        if let Some(value) = outputs.get(key) {
            report.urls.insert(key.to_owned(), value.clone());
        }
    }
    Ok(())
}

/// The artifacts key of a bundle's function zip.
pub fn code_key(bundle: &Bundle) -> String {
    format!("functions/{}.zip", bundle.function.sha256)
}

/// The environment stack's parameters: the configured ones, then what twinctl owns.
pub fn stack_parameters(
    ctx: &Context,
    name: &str,
    artifacts_bucket: &str,
    bundle: &Bundle,
    live_version: Option<&str>,
) -> Result<BTreeMap<String, String>> {
    let environment = ctx.config.environment(name)?;
    let mut parameters = environment.parameters.clone();
    parameters.insert("ProjectName".into(), ctx.config.project.clone());
    parameters.insert("EnvironmentName".into(), name.to_owned());
    parameters.insert("CodeBucket".into(), artifacts_bucket.to_owned());
    parameters.insert("CodeKey".into(), code_key(bundle));
    parameters.insert("Architecture".into(), bundle.architecture.clone());
    // Always the alias's current version: CloudFormation must never move it behind our back.
    parameters.insert("LiveVersion".into(), live_version.unwrap_or("$LATEST").to_owned());
    Ok(parameters)
}

/// The per-environment runtime configuration served as `/config.json`: one site build serves
/// every environment.
pub fn runtime_config(name: &str) -> Result<Vec<u8>> {
    let body = serde_json::json!({ "apiBaseUrl": "/api", "environment": name });
    Ok(serde_json::to_vec_pretty(&body).map_err(anyhow::Error::from)?)
}

/// Uploads a file unless the key already exists (keys are content hashes).
async fn upload_if_absent(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, path: &Path) -> Result<bool> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => return Ok(false),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
        Err(e) => return Err(anyhow::anyhow!("failed to check s3://{bucket}/{key}: {}", DisplayErrorContext(e)).into()),
    }
    let body = ByteStream::from_path(path).await.with_context(|| format!("failed to read {}", path.display()))?;
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/zip")
        .body(body)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("failed to upload s3://{bucket}/{key}: {}", DisplayErrorContext(e)))?;
    Ok(true)
}

/// Puts an object unless its content (by MD5 ETag) is already there.
async fn put_if_changed(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> Result<bool> {
    let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(&body));
    if let Ok(head) = s3.head_object().bucket(bucket).key(key).send().await
        && head.e_tag().map(|e| e.trim_matches('"')) == Some(md5.as_str())
    {
        return Ok(false);
    }
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("failed to upload s3://{bucket}/{key}: {}", DisplayErrorContext(e)))?;
    Ok(true)
}

/// The smoke test of a version: on Lambda, an invocation; against the emulator (which cannot
/// run code), the version's zip run on this machine with the version's environment.
async fn smoke_test(target: &Target<'_>, lambda: &aws_sdk_lambda::Client, function: &str, version: &str) -> Result<()> {
    if target.aws.endpoint_url.is_none() {
        return function::smoke_test_on_lambda(lambda, function, version).await;
    }
    // The version's own code and environment, as Lambda recorded them: what would run there.
    let configuration = function::version_configuration(lambda, function, version).await?;
    let code_sha256 = configuration
        .code_sha256
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("Lambda reports no CodeSha256 for {function}:{version}")))?;
    let work_dir = target.ctx.config.resolve(Path::new("target/twin/run"));
    std::fs::create_dir_all(&work_dir).with_context(|| format!("failed to create {}", work_dir.display()))?;
    let running = LocalFunction::start(
        &target.aws,
        &target.artifacts_bucket,
        &code_sha256,
        &configuration.environment,
        &work_dir,
    )
    .await?;
    let result = running.smoke_test().await;
    running.stop().await;
    result
}

async fn invalidate(
    aws: &Aws,
    distribution: &str,
    paths: &[String],
    reference: &str,
    wait: bool,
    phase: &crate::output::Phase,
) -> Result<String> {
    let cloudfront = aws.cloudfront();
    let batch = InvalidationBatch::builder()
        .caller_reference(reference)
        .paths(
            Paths::builder()
                .quantity(paths.len() as i32)
                .set_items(Some(paths.to_vec()))
                .build()
                .map_err(anyhow::Error::from)?,
        )
        .build()
        .map_err(anyhow::Error::from)?;
    let created =
        cloudfront.create_invalidation().distribution_id(distribution).invalidation_batch(batch).send().await.map_err(
            |e| {
                anyhow::anyhow!(
                    "failed to invalidate {distribution}: {}",
                    aws_sdk_cloudfront::error::DisplayErrorContext(e)
                )
            },
        )?;
    let id = created.invalidation().map(|i| i.id().to_owned()).unwrap_or_default();
    if !wait {
        return Ok(id);
    }
    let started = Instant::now();
    loop {
        let status = cloudfront
            .get_invalidation()
            .distribution_id(distribution)
            .id(&id)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "failed to read invalidation {id}: {}",
                    aws_sdk_cloudfront::error::DisplayErrorContext(e)
                )
            })?
            .invalidation()
            .map(|i| i.status().to_owned())
            .unwrap_or_default();
        // AWS says "Completed"; the emulator says "COMPLETED".
        if status.eq_ignore_ascii_case("completed") {
            return Ok(id);
        }
        if started.elapsed() > Duration::from_secs(30 * 60) {
            return Err(Error::Internal(anyhow::anyhow!(
                "invalidation {id} of {distribution} is still {status} after 30 minutes; it will finish on its own"
            )));
        }
        phase.message(format!("invalidation {id}: {status} ({:.0}s)", started.elapsed().as_secs_f64()));
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn summary(report: &DeployReport) -> String {
    let mut text = format!("deployed {} (release {})\n", report.environment, report.release_id);
    let phases: Vec<String> = report.phases.iter().map(|(name, seconds)| format!("{name} {seconds:.1}s")).collect();
    text.push_str(&format!("  phases:   {}\n", phases.join(", ")));
    text.push_str(&format!("  stack:    {} ({} change(s))\n", report.stack, report.stack_changes));
    text.push_str(&format!(
        "  function: version {}{}{}\n",
        report.function_version.as_deref().unwrap_or("?"),
        if report.version_published { " (new)" } else { "" },
        if report.alias_moved { ", alias moved" } else { ", alias unchanged" }
    ));
    if let Some(site) = &report.site {
        text.push_str(&format!(
            "  site:     {} uploaded, {} unchanged, {} deleted\n",
            site.uploaded, site.skipped, site.deleted
        ));
    }
    if !report.invalidated.is_empty() {
        text.push_str(&format!("  cdn:      invalidated {}\n", report.invalidated.join(" ")));
    }
    for (name, url) in &report.urls {
        text.push_str(&format!("  {name}: {url}\n"));
    }
    text
}
