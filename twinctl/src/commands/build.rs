//! `twinctl build`: the deployable bundle under `target/twin/<arch>/` (see [`crate::bundle`]).

use serde::Serialize;

use crate::bundle::{self, Bundle, Outcome};
use crate::cli::BuildArgs;
use crate::context::Context;
use crate::error::Result;

#[derive(Debug, Serialize)]
struct BuildReport<'a> {
    bundle_dir: String,
    outcome: Outcome,
    up_to_date: bool,
    seconds: f64,
    /// What `twinctl deploy --artifacts DIR --bundle-digest` requires (see [`bundle::digest`]).
    digest: String,
    bundle: &'a Bundle,
}

pub async fn run(ctx: &Context, args: &BuildArgs) -> Result<()> {
    let architecture = match &args.env {
        Some(name) => ctx.config.architecture(&ctx.config.environment(name)?),
        None => ctx.config.runtime.architecture,
    };
    let started = std::time::Instant::now();
    let located = bundle::build::build(&ctx.config, &ctx.printer, architecture, args.force).await?;
    let report = BuildReport {
        bundle_dir: located.dir.display().to_string(),
        outcome: located.outcome,
        up_to_date: located.outcome == Outcome::UpToDate,
        seconds: started.elapsed().as_secs_f64(),
        digest: bundle::digest(&located.dir, &located.bundle)?,
        bundle: &located.bundle,
    };
    ctx.printer.result(&report, || {
        let site = located.bundle.site.as_ref().map(|s| format!(", site {} files", s.files)).unwrap_or_default();
        format!(
            "{} {} ({}, function {} bytes{site}, digest {})",
            if report.up_to_date { "up to date:" } else { "built:" },
            located.dir.display(),
            located.bundle.architecture,
            located.bundle.function.bytes,
            report.digest.get(..12).unwrap_or(&report.digest)
        )
    });
    Ok(())
}
