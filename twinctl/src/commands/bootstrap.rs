//! `twinctl bootstrap <env>`: deploys what an environment needs before its first deploy —
//! `templates/bootstrap.yaml` once per account and region (the artifacts bucket, GitHub's OIDC
//! provider) and `templates/environment-access.yaml` once per environment (the execution role
//! its change sets run under, the permissions boundary, the CI deploy role). Safe to rerun: an
//! unchanged stack is a no-op, and a setting left out of twinctl.yaml keeps its previous value
//! (`UsePreviousValue`), so a rerun never removes CI access.
//!
//! Every preview (`{prefix}-{n}`) shares one access stack, `{project}-ci-{prefix}`, whose roles
//! cover every `{prefix}-*` environment: `twinctl bootstrap pr-1` (any preview's name) deploys it.

use std::collections::BTreeMap;

use anyhow::Context as _;
use serde::Serialize;

use crate::artifacts;
use crate::aws::stack::{self, Proposal, TemplateSource, Waiting};
use crate::cli::EnvArgs;
use crate::context::Context;
use crate::error::Result;
use crate::output::Phase;
use crate::target::Target;

/// The repository an emulator environment's deploy role trusts when none is configured: the
/// local environment gets the same roles as a real account, trusted by nobody real.
const PLACEHOLDER_REPOSITORY: &str = "twinctl/placeholder";

#[derive(Debug, Serialize)]
struct BootstrapReport {
    stack: String,
    account: String,
    region: String,
    changed: bool,
    outputs: BTreeMap<String, String>,
    /// The environment's access stack (its CloudFormation execution role and CI roles).
    access: StackReport,
}

#[derive(Debug, Serialize)]
struct StackReport {
    stack: String,
    changed: bool,
    outputs: BTreeMap<String, String>,
}

pub async fn run(ctx: &Context, args: &EnvArgs) -> Result<()> {
    let target = ctx.target(&args.env).await?;
    let caller = target.aws.caller().await?;
    let phase = ctx.printer.phase("bootstrap");

    let shared = deploy_stack(
        ctx,
        &target,
        &target.bootstrap_stack_name,
        &ctx.config.templates.bootstrap,
        shared_parameters(ctx),
        &phase,
    )
    .await?;
    let bucket = artifacts::bucket_from_outputs(&target.bootstrap_stack_name, &shared.outputs)?;
    let previous = stack::describe(&target.aws.cloudformation(), &target.access_stack_name)
        .await?
        .map(|existing| stack::parameters(&existing))
        .unwrap_or_default();
    let access_parameters = access_parameters(ctx, &target, &caller.account, &bucket, &shared.outputs, &previous);
    let access =
        deploy_stack(ctx, &target, &target.access_stack_name, &ctx.config.templates.access, access_parameters, &phase)
            .await?;
    let changed = shared.changed || access.changed;
    phase.finish(if changed { "deployed" } else { "no changes" });

    let report = BootstrapReport {
        stack: shared.stack,
        account: caller.account,
        region: target.aws.region.clone(),
        changed,
        outputs: shared.outputs,
        access,
    };
    ctx.printer.result(&report, || {
        let deploy_role = match report.access.outputs.get("DeployRoleArn") {
            Some(role) => format!("; CI deploy role {role}"),
            None => String::new(),
        };
        let access = if target.access_scope.previews {
            format!("previews' access stack {} (every {}-<n>)", report.access.stack, target.access_scope.name)
        } else {
            report.access.stack.clone()
        };
        format!(
            "{} in {} ({}): artifacts bucket {bucket}; {access}: execution role {}{deploy_role}",
            report.stack,
            report.account,
            report.region,
            report.access.outputs.get("ExecutionRoleArn").map(String::as_str).unwrap_or("?"),
        )
    });
    Ok(())
}

/// The account-and-region stack's parameters: only what twinctl.yaml decides.
fn shared_parameters(ctx: &Context) -> BTreeMap<String, String> {
    let bootstrap = &ctx.config.bootstrap;
    let provider = match (&bootstrap.oidc_provider_arn, &bootstrap.github_repository) {
        (Some(arn), _) => Some(arn.clone()),
        (None, Some(_)) => Some("create".to_owned()),
        (None, None) => None,
    };
    provider.map(|value| BTreeMap::from([("OidcProvider".to_owned(), value)])).unwrap_or_default()
}

/// The environment's access stack: names always (for previews, the prefix and patterns that
/// cover every preview), the repository and provider when decided.
fn access_parameters(
    ctx: &Context,
    target: &Target,
    account: &str,
    bucket: &str,
    shared_outputs: &BTreeMap<String, String>,
    previous: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut parameters = BTreeMap::from([
        ("ProjectName".to_owned(), ctx.config.project.clone()),
        ("EnvironmentName".to_owned(), target.access_scope.name.clone()),
        ("Environments".to_owned(), target.access_scope.environments.clone()),
        ("TwinStackName".to_owned(), target.access_scope.stacks.clone()),
        ("ArtifactsBucketName".to_owned(), bucket.to_owned()),
        ("BootstrapStackName".to_owned(), target.bootstrap_stack_name.clone()),
    ]);
    let bootstrap = &ctx.config.bootstrap;
    // The emulator's placeholders only fill what the stack does not have yet: a rerun keeps a
    // repository set before.
    let unset = |key: &str| previous.get(key).is_none_or(String::is_empty);
    // `ci_environments` names the previews' prefix for their shared deploy role.
    let repository = match &bootstrap.github_repository {
        Some(repository) if bootstrap.ci_environments.contains(&target.access_scope.name) => Some(repository.as_str()),
        _ if target.aws.is_emulator() && unset("GitHubRepository") => Some(PLACEHOLDER_REPOSITORY),
        _ => None,
    };
    if let Some(repository) = repository {
        parameters.insert("GitHubRepository".to_owned(), repository.to_owned());
    }
    let provider = shared_outputs.get("OidcProviderArn").cloned().or_else(|| {
        // The emulator environment's placeholder trust names the provider an account would have.
        (target.aws.is_emulator() && unset("OidcProviderArn"))
            .then(|| format!("arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com"))
    });
    if let Some(provider) = provider {
        parameters.insert("OidcProviderArn".to_owned(), provider);
    }
    parameters
}

/// Deploys one of the bootstrap templates: parameters given are set, the template's others keep
/// their previous values.
async fn deploy_stack(
    ctx: &Context,
    target: &Target,
    name: &str,
    template: &std::path::Path,
    parameters: BTreeMap<String, String>,
    phase: &Phase,
) -> Result<StackReport> {
    let template_path = ctx.config.resolve(template);
    let body = std::fs::read_to_string(&template_path)
        .with_context(|| format!("failed to read {}", template_path.display()))?;
    let declared = stack::declared_parameters(&body)
        .map_err(|e| crate::error::Error::user(format!("{}: {e}", template_path.display())))?;
    let cfn = target.aws.cloudformation();
    let waiting = Waiting::for_endpoint(target.aws.is_emulator());
    stack::remove_dead(&cfn, name, &waiting, phase).await?;
    // The artifacts bucket may not exist yet: these (small) templates go inline.
    let source = TemplateSource::Body(body);
    let mut proposal = Proposal::new(&source, &parameters);
    proposal.keep = declared;
    let plan = stack::plan(&cfn, name, &proposal, &waiting, phase).await?;
    for line in stack::render(&plan).lines() {
        phase.println(line);
    }
    let settled = stack::execute(&cfn, &plan, &waiting, phase).await?;
    Ok(StackReport { stack: name.to_owned(), changed: !plan.is_empty(), outputs: stack::outputs(&settled) })
}
