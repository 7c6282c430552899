//! `twinctl releases <env> [ID]`: the release history, newest first, the current one marked and
//! each flagged restorable or not (see [`crate::retention::Inventory`]); or one release in full.
//! The JSON document is versioned by `schema_version` (README, "Release history").

use serde::Serialize;

use crate::cli::ReleasesArgs;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::release::{self, Kind, Outcome, Release};
use crate::retention::Inventory;

/// Bumped on any incompatible change of the documents below.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
struct History {
    schema_version: u32,
    environment: String,
    /// The release now serving (named even when `--limit` leaves it out of `releases`).
    current: Option<String>,
    releases: Vec<Entry>,
}

#[derive(Debug, Serialize)]
struct Entry {
    id: String,
    kind: Kind,
    outcome: Outcome,
    current: bool,
    started_at: String,
    finished_at: String,
    actor: String,
    git_sha: Option<String>,
    function_version: Option<String>,
    persona_version: Option<String>,
    site_objects: usize,
    site_changed: usize,
    rolled_back_to: Option<String>,
    previous: Option<String>,
    restorable: bool,
    /// Why not, when not.
    not_restorable: Vec<String>,
    /// What `rollback --infra` would also miss (a plain rollback does not need it).
    infra_not_restorable: Vec<String>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct One {
    schema_version: u32,
    environment: String,
    current: bool,
    restorable: bool,
    not_restorable: Vec<String>,
    infra_not_restorable: Vec<String>,
    release: Release,
}

pub async fn run(ctx: &Context, args: &ReleasesArgs) -> Result<()> {
    let target = ctx.target(&args.env).await?;
    let bucket = target.artifacts_bucket()?;
    let s3 = target.aws.s3();
    let current = release::current(&s3, bucket, &args.env).await?.map(|r| r.id);
    let inventory = Inventory::read(&target).await?;
    if let Some(id) = &args.id {
        let release = release::get(&s3, bucket, &args.env, id).await?.ok_or_else(|| {
            Error::user_with_hint(
                format!("{} has no release {id}", args.env),
                format!("`twinctl releases {}` lists them", args.env),
            )
        })?;
        let missing = inventory.missing(&release);
        let one = One {
            schema_version: SCHEMA_VERSION,
            environment: args.env.clone(),
            current: current.as_deref() == Some(id.as_str()),
            restorable: missing.blocking.is_empty(),
            not_restorable: missing.blocking,
            infra_not_restorable: missing.infra,
            release,
        };
        ctx.printer.result(&one, || render_one(&one));
        return Ok(());
    }
    let releases = release::list(&s3, bucket, &args.env, Some(args.limit)).await?;
    let entries = releases
        .into_iter()
        .map(|r| {
            let missing = inventory.missing(&r);
            Entry {
                current: current.as_deref() == Some(r.id.as_str()),
                kind: r.kind,
                outcome: r.outcome,
                started_at: r.started_at,
                finished_at: r.finished_at,
                actor: r.actor,
                git_sha: r.git_sha,
                function_version: r.function.map(|f| f.version),
                persona_version: r.persona.and_then(|p| p.version_id),
                site_objects: r.site.len(),
                site_changed: r.site_changed,
                rolled_back_to: r.rolled_back_to,
                previous: r.previous,
                restorable: missing.blocking.is_empty(),
                not_restorable: missing.blocking,
                infra_not_restorable: missing.infra,
                error: r.error,
                id: r.id,
            }
        })
        .collect();
    let history = History { schema_version: SCHEMA_VERSION, environment: args.env.clone(), current, releases: entries };
    ctx.printer.result(&history, || render(&history));
    Ok(())
}

fn short(text: Option<&str>, width: usize) -> String {
    text.map(|t| t.chars().take(width).collect()).unwrap_or_else(|| "-".to_owned())
}

fn render(history: &History) -> String {
    if history.releases.is_empty() {
        return format!("{}: no releases yet\n", history.environment);
    }
    let header = ["", "RELEASE", "FINISHED", "KIND", "OUTCOME", "VERSION", "PERSONA", "SITE", "GIT", "ACTOR"];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| (*s).to_owned()).collect()];
    for entry in &history.releases {
        let kind = match (&entry.kind, &entry.rolled_back_to) {
            (Kind::Rollback, Some(to)) => format!("rollback→{to}"),
            (Kind::Rollback, None) => "rollback".to_owned(),
            (Kind::Deploy, _) => "deploy".to_owned(),
        };
        rows.push(vec![
            if entry.current {
                "*".to_owned()
            } else if entry.restorable {
                String::new()
            } else {
                "!".to_owned()
            },
            entry.id.clone(),
            short(Some(&entry.finished_at), 19),
            kind,
            match entry.outcome {
                Outcome::Succeeded => "succeeded".to_owned(),
                Outcome::Failed => "failed".to_owned(),
            },
            short(entry.function_version.as_deref(), 8),
            short(entry.persona_version.as_deref(), 12),
            format!("{} changed", entry.site_changed),
            short(entry.git_sha.as_deref(), 12),
            entry.actor.rsplit('/').next().unwrap_or(&entry.actor).to_owned(),
        ]);
    }
    let widths: Vec<usize> =
        (0..header.len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text.push_str("* current   ! not restorable (`twinctl releases <env> <id>` says why)\n");
    text
}

fn render_one(one: &One) -> String {
    let r = &one.release;
    let mut text = format!("release {} of {}{}\n", r.id, one.environment, if one.current { " (current)" } else { "" });
    text.push_str(
        &format!(
            "  kind:       {:?}{}\n",
            r.kind,
            r.rolled_back_to.as_ref().map(|t| format!(" to {t}")).unwrap_or_default()
        )
        .to_lowercase(),
    );
    text.push_str(&format!("  outcome:    {}\n", r.outcome.as_str()));
    text.push_str(&format!("  time:       {} → {}\n", r.started_at, r.finished_at));
    text.push_str(&format!("  actor:      {} on {}\n", r.actor, r.host));
    text.push_str(&format!("  git:        {}\n", r.git_sha.as_deref().unwrap_or("-")));
    if let Some(function) = &r.function {
        text.push_str(&format!(
            "  function:   {} version {} ({})\n",
            function.name, function.version, function.code_sha256
        ));
    }
    if let Some(persona) = &r.persona {
        text.push_str(&format!(
            "  persona:    {} version {}\n",
            persona.key,
            persona.version_id.as_deref().unwrap_or("-")
        ));
    }
    text.push_str(&format!("  site:       {} object(s), {} changed\n", r.site.len(), r.site_changed));
    text.push_str(&format!("  template:   {}\n", r.template_sha256.as_deref().unwrap_or("-")));
    if let Some(previous) = &r.previous {
        text.push_str(&format!("  previous:   {previous}\n"));
    }
    if let Some(error) = &r.error {
        text.push_str(&format!("  error:      {error}\n"));
    }
    if one.restorable {
        text.push_str("  restorable: yes\n");
    } else {
        text.push_str(&format!("  restorable: no — {}\n", one.not_restorable.join("; ")));
    }
    if !one.infra_not_restorable.is_empty() {
        text.push_str(&format!("  --infra:    not possible — {}\n", one.infra_not_restorable.join("; ")));
    }
    text
}
