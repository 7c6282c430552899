//! Running an environment's test plans, shared by `twinctl verify` and `deploy --verify`: which
//! plans, where the environment answers, and the JUnit file.
//!
//! Where it answers: a deployed environment through its `SiteUrl`; an emulator environment through
//! `twinctl serve` — the one running (its state file names the URLs and the local CA) when asked
//! to test what is being served, else one started on free ports for the length of the run, which
//! serves the live version as it is now (after a deploy, the running one may serve the previous).
//! Must not: print results (the commands do).

use std::path::Path;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::local_serve::{self, Addresses};
use crate::serve_state;
use crate::target::Target;
use crate::testplan::{self, Plan, report::VerifyReport, run::Endpoints};

/// Which `serve` an emulator environment is tested through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// The running `twinctl serve`, if there is one; else one for this run.
    Running,
    /// Always one for this run (the live version may have just changed).
    Fresh,
}

/// Runs the plans `ids` name (all when empty) against `target`; writes `junit` when given.
pub async fn verify(
    ctx: &Context,
    target: &Target,
    ids: &[String],
    serving: Serving,
    junit: Option<&Path>,
) -> Result<VerifyReport> {
    let plans = select(ctx, ids)?;
    target.output("FunctionName")?;
    let phase = ctx.printer.phase("verify");
    let running = match serving {
        Serving::Running if target.aws.is_emulator() => serve_state::read(&ctx.config, &target.name).ok(),
        _ => None,
    };
    let (endpoints, fresh) = if !target.aws.is_emulator() {
        (Endpoints::deployed(target.output("SiteUrl")?), None)
    } else if let Some(urls) = running {
        (local_endpoints(&urls)?, None)
    } else {
        phase.message("serving the live version on free ports");
        let fresh = local_serve::start(&ctx.config, target, Addresses::ephemeral()).await?;
        (local_endpoints(&fresh.urls)?, Some(fresh))
    };
    let report = testplan::run::run(target, &plans, &endpoints, &|step| phase.message(step.to_owned())).await;
    if let Some(fresh) = fresh
        && let Err(e) = fresh.stop().await
    {
        ctx.printer.warn(format!("the server started for verify did not stop cleanly: {e}"));
    }
    let report = report?;
    phase.finish(format!(
        "{} passed, {} failed, {} warned, {} skipped, {} errored",
        report.summary.passed,
        report.summary.failed,
        report.summary.warned,
        report.summary.skipped,
        report.summary.errored
    ));
    if let Some(path) = junit {
        let xml = report.junit().map_err(|e| Error::Internal(anyhow::anyhow!("failed to write JUnit XML: {e}")))?;
        std::fs::write(path, xml)
            .map_err(|e| Error::user(format!("cannot write the JUnit report {}: {e}", path.display())))?;
    }
    Ok(report)
}

fn local_endpoints(urls: &serve_state::Urls) -> Result<Endpoints> {
    let ca_pem = std::fs::read_to_string(&urls.ca)
        .map_err(|e| Error::user(format!("cannot read the local CA {}: {e}", urls.ca.display())))?;
    Ok(Endpoints {
        api: urls.http.clone(),
        site: urls.https.clone(),
        site_plain_http: urls.redirect.clone(),
        ca_pem: Some(ca_pem),
    })
}

/// Every plan, or those `ids` name (an unknown id lists the known ones).
fn select(ctx: &Context, ids: &[String]) -> Result<Vec<Plan>> {
    let dir = ctx.config.resolve(&ctx.config.testplans);
    let plans = testplan::load_dir(&dir).map_err(|e| Error::user(e.to_string()))?;
    if let Some(unknown) = ids.iter().find(|id| !plans.iter().any(|p| &&p.id == id)) {
        let known: Vec<&str> = plans.iter().map(|p| p.id.as_str()).collect();
        return Err(Error::user(format!("no test plan {unknown:?} in {}; known: {}", dir.display(), known.join(", "))));
    }
    Ok(plans.into_iter().filter(|p| ids.is_empty() || ids.contains(&p.id)).collect())
}
