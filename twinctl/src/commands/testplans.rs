//! `twinctl testplans check|docs`: the plans validated without running them (every error with
//! its file:line:column), and `testplans/README.md` rendered from them (`--check` fails when the
//! committed file is stale, which the test command runs).

use serde::Serialize;

use crate::cli::{TestplansAction, TestplansArgs};
use crate::context::Context;
use crate::error::{Error, Exit, Result};
use crate::testplan;

#[derive(Debug, Serialize)]
struct Checked {
    schema_version: u32,
    plans: Vec<PlanSummary>,
}

#[derive(Debug, Serialize)]
struct PlanSummary {
    id: String,
    file: String,
    steps: usize,
    properties: Vec<u8>,
}

pub async fn run(ctx: &Context, args: &TestplansArgs) -> Result<Exit> {
    let dir = ctx.config.resolve(&ctx.config.testplans);
    let plans = testplan::load_dir(&dir).map_err(|e| Error::user(e.to_string()))?;
    match &args.action {
        TestplansAction::Check => {
            let checked = Checked {
                schema_version: 1,
                plans: plans
                    .iter()
                    .map(|p| PlanSummary {
                        id: p.id.clone(),
                        file: p.file.display().to_string(),
                        steps: p.steps.len(),
                        properties: p.covers.properties.clone(),
                    })
                    .collect(),
            };
            ctx.printer.result(&checked, || {
                let steps: usize = checked.plans.iter().map(|p| p.steps).sum();
                format!("{} plans, {steps} steps: valid\n", checked.plans.len())
            });
            Ok(Exit::Success)
        }
        TestplansAction::Docs(docs) => {
            let path = dir.join("README.md");
            let rendered = testplan::render(&plans);
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            if docs.check {
                if current != rendered {
                    return Err(Error::user_with_hint(
                        format!("{} is stale: it differs from what the plans render", path.display()),
                        "run `twinctl testplans docs` and commit the result",
                    ));
                }
                ctx.printer.result(&serde_json::json!({"path": path, "fresh": true}), || {
                    format!("{} is up to date\n", path.display())
                });
                return Ok(Exit::Success);
            }
            std::fs::write(&path, &rendered)
                .map_err(|e| Error::Internal(anyhow::anyhow!("failed to write {}: {e}", path.display())))?;
            ctx.printer.result(&serde_json::json!({"path": path, "written": current != rendered}), || {
                format!("{} written\n", path.display())
            });
            Ok(Exit::Success)
        }
    }
}
