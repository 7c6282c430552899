//! Retention: what must outlive a release so that it can be restored, which releases still
//! can be, and the pruning of what no release needs any more.
//!
//! Owns the rule. The newest `retain_releases` succeeded releases of an environment (at least
//! two: the current one and the one `rollback` goes back to) keep their Lambda versions, and so
//! do the alias's; failed releases are never restored, so they keep nothing. twinctl never
//! deletes function zips, templates or object versions: zips and templates are written once
//! by content and never become noncurrent, and the templates' lifecycle rules keep
//! `RetainedReleases` newer noncurrent versions of every site and persona key — enough for
//! every version those releases name, because a release writes each key at most once. Older
//! Lambda versions are deleted after a deploy or rollback succeeded: Lambda's code storage
//! is a per-region quota (75 GB, Lambda quotas page), and every version holds a copy.
//! And the check `twinctl releases` shows: which of a release's pieces are gone.
//! Must not: decide when to prune (deploy and rollback call it once they succeeded).

use std::collections::BTreeSet;

use crate::artifacts;
use crate::aws::lambda::{self, AliasRouting};
use crate::aws::s3;
use crate::error::Result;
use crate::output::Printer;
use crate::release::{self, Outcome, Release};
use crate::target::Target;

/// The published versions no retained release names and the alias does not route to.
/// `releases` is newest first.
pub fn prunable(
    published: &[String],
    releases: &[Release],
    retain: usize,
    routing: Option<&AliasRouting>,
) -> Vec<String> {
    let mut keep: BTreeSet<&str> =
        retained(releases, retain).filter_map(|r| r.function.as_ref()).map(|f| f.version.as_str()).collect();
    if let Some(routing) = routing {
        keep.insert(routing.version.as_str());
        keep.extend(routing.weights.keys().map(String::as_str));
    }
    published.iter().filter(|v| !keep.contains(v.as_str())).cloned().collect()
}

/// The releases whose artifacts are kept: the newest `retain` that succeeded.
fn retained(releases: &[Release], retain: usize) -> impl Iterator<Item = &Release> {
    releases.iter().filter(|r| r.outcome == Outcome::Succeeded).take(retain)
}

/// Deletes the Lambda versions [`prunable`] names; returns them. `releases` is newest first.
pub async fn prune_versions(target: &Target, releases: &[Release], retain: usize) -> Result<Vec<String>> {
    let function = target.output("FunctionName")?;
    let client = target.aws.lambda();
    let published = lambda::published_versions(&client, function).await?;
    // Read after the listing: a version the alias moved to in between is still kept.
    let routing = lambda::alias_routing(&client, function).await?;
    let doomed = prunable(&published, releases, retain, routing.as_ref());
    for version in &doomed {
        lambda::delete_version(&client, function, version).await?;
    }
    Ok(doomed)
}

/// After a release succeeded: prunes the versions the newest retained releases do not need.
/// A failure is a warning, never a failed release. Returns the versions deleted.
pub async fn prune_after_release(target: &Target, printer: &Printer) -> Vec<String> {
    let retain = target.environment.retain_releases as usize;
    let pruned = async {
        let bucket = target.artifacts_bucket()?;
        let client = target.aws.s3();
        // Failed releases do not count: read a margin, and everything when the margin holds
        // fewer succeeded releases than are retained.
        let window = retain * 3;
        let mut releases = release::list(&client, bucket, &target.name, Some(window)).await?;
        if releases.len() == window && retained(&releases, retain).count() < retain {
            releases = release::list(&client, bucket, &target.name, None).await?;
        }
        prune_versions(target, &releases, retain).await
    }
    .await;
    pruned.unwrap_or_else(|e| {
        printer.warn(format!("old function versions were not pruned (the release stands): {e}"));
        Vec::new()
    })
}

/// Why a release cannot be restored.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Missing {
    /// Anything here: `rollback` to this release is refused.
    pub blocking: Vec<String>,
    /// Only `rollback --infra` needs these (the template and the function zip).
    pub infra: Vec<String>,
}

/// What exists now of everything releases refer to: one listing per kind, whatever the number
/// of releases.
#[derive(Debug, Default)]
pub struct Inventory {
    /// None when the stack (and so the function) does not exist.
    function_versions: Option<BTreeSet<String>>,
    site_versions: BTreeSet<(String, String)>,
    persona_versions: BTreeSet<(String, String)>,
    artifacts: BTreeSet<String>,
}

impl Inventory {
    pub async fn read(target: &Target) -> Result<Self> {
        let mut inventory = Inventory::default();
        if let Some(bucket) = &target.artifacts_bucket {
            let client = target.aws.s3();
            inventory.artifacts.extend(s3::keys(&client, bucket, "functions/").await?);
            inventory.artifacts.extend(s3::keys(&client, bucket, "templates/").await?);
        }
        if let Some(function) = target.outputs.get("FunctionName") {
            let versions = lambda::published_versions(&target.aws.lambda(), function).await?;
            inventory.function_versions = Some(versions.into_iter().collect());
        }
        if let Some(bucket) = target.outputs.get("FrontendBucketName") {
            inventory.site_versions = s3::all_versions(&target.aws.s3(), bucket, None).await?;
        }
        if let Some(bucket) = target.outputs.get("MemoryBucketName") {
            inventory.persona_versions = s3::all_versions(&target.aws.s3(), bucket, Some("persona/")).await?;
        }
        Ok(inventory)
    }

    /// Why `release` cannot be restored (empty when it can), and what `--infra` would also miss.
    pub fn missing(&self, release: &Release) -> Missing {
        let mut missing = Missing::default();
        if release.outcome == Outcome::Failed {
            missing.blocking.push("the release failed: only succeeded releases are restored".to_owned());
            return missing;
        }
        match (&release.function, &self.function_versions) {
            (None, _) => missing.blocking.push("no function version was recorded".to_owned()),
            (Some(_), None) => missing.blocking.push("the function does not exist".to_owned()),
            (Some(function), Some(versions)) if !versions.contains(&function.version) => {
                missing.blocking.push(format!("function version {} was deleted", function.version))
            }
            _ => {}
        }
        if let Some(persona) = &release.persona {
            let present = persona
                .version_id
                .as_ref()
                .is_some_and(|v| self.persona_versions.contains(&(persona.key.clone(), v.clone())));
            if !present {
                missing
                    .blocking
                    .push(format!("persona version {} is gone", persona.version_id.as_deref().unwrap_or("(none)")));
            }
        }
        let gone: Vec<&str> = release
            .site
            .iter()
            .filter(|o| {
                !o.version_id.as_ref().is_some_and(|v| self.site_versions.contains(&(o.key.clone(), v.clone())))
            })
            .map(|o| o.key.as_str())
            .collect();
        if !gone.is_empty() {
            let shown: Vec<&str> = gone.iter().take(3).copied().collect();
            let more = if gone.len() > 3 { format!(" and {} more", gone.len() - 3) } else { String::new() };
            missing.blocking.push(format!(
                "{} site object version(s) are gone: {}{more}",
                gone.len(),
                shown.join(", ")
            ));
        }
        if let Some(sha) = &release.template_sha256
            && !self.artifacts.contains(&artifacts::template_key(sha))
        {
            missing.infra.push(format!("template {} is gone", artifacts::template_key(sha)));
        }
        if let Some(key) = release.parameters.get("CodeKey")
            && !self.artifacts.contains(key)
        {
            missing.infra.push(format!("function zip {key} is gone"));
        }
        missing
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::release::{FunctionRecord, Kind, SCHEMA_VERSION};

    fn release(id: &str, version: &str) -> Release {
        Release {
            schema_version: SCHEMA_VERSION,
            id: id.to_owned(),
            environment: "staging".to_owned(),
            kind: Kind::Deploy,
            outcome: Outcome::Succeeded,
            rolled_back_to: None,
            previous: None,
            started_at: String::new(),
            finished_at: String::new(),
            actor: String::new(),
            host: String::new(),
            git_sha: None,
            stack: "twin-staging".to_owned(),
            template_sha256: None,
            parameters: BTreeMap::new(),
            function: Some(FunctionRecord {
                name: "twin-staging-api".to_owned(),
                version: version.to_owned(),
                code_sha256: String::new(),
                configuration_sha256: String::new(),
            }),
            persona: None,
            site: Vec::new(),
            site_changed: 0,
            error: None,
        }
    }

    fn versions(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
        range.map(|v| v.to_string()).collect()
    }

    #[test]
    fn failed_releases_do_not_use_up_the_retained_ones() {
        // Newest first: 4 succeeded, 3 failed, 2 failed, 1 succeeded; two are retained.
        let mut releases: Vec<Release> = (1..=4).rev().map(|v| release(&format!("r{v}"), &v.to_string())).collect();
        releases[1].outcome = Outcome::Failed;
        releases[2].outcome = Outcome::Failed;
        let doomed = prunable(&versions(1..=4), &releases, 2, None);
        assert_eq!(doomed, ["2", "3"], "version 1 is what rollback goes back to");
    }

    #[test]
    fn only_versions_outside_the_retained_releases_and_the_alias_are_pruned() {
        // Newest first: releases 9..=3 used versions 9..=3; only the newest 3 are retained.
        let releases: Vec<Release> = (3..=9).rev().map(|v| release(&format!("r{v}"), &v.to_string())).collect();
        let routing = AliasRouting { version: "4".to_owned(), weights: BTreeMap::from([("2".to_owned(), 0.1)]) };
        let doomed = prunable(&versions(1..=10), &releases, 3, Some(&routing));
        // 7, 8, 9 retained; 4 is live and 2 carries canary traffic; 10 was published by no
        // release (a crashed deploy) and goes too.
        assert_eq!(doomed, ["1", "3", "5", "6", "10"]);
    }

    #[test]
    fn with_fewer_releases_than_retained_nothing_they_name_goes() {
        let releases = vec![release("r2", "2"), release("r1", "1")];
        assert!(prunable(&versions(1..=2), &releases, 10, None).is_empty());
    }

    #[test]
    fn a_release_whose_pieces_are_gone_says_which() {
        let mut release = release("r1", "3");
        release.site = vec![crate::release::SiteObject {
            key: "index.html".to_owned(),
            version_id: Some("v1".to_owned()),
            sha256: "s".to_owned(),
            content_type: "text/html".to_owned(),
            cache_control: "no-cache".to_owned(),
        }];
        let inventory = Inventory {
            function_versions: Some(["4".to_owned()].into()),
            site_versions: [("index.html".to_owned(), "v1".to_owned())].into(),
            ..Inventory::default()
        };
        assert_eq!(inventory.missing(&release).blocking, ["function version 3 was deleted"]);
        let inventory = Inventory { function_versions: Some(["3".to_owned()].into()), ..Inventory::default() };
        assert_eq!(inventory.missing(&release).blocking, ["1 site object version(s) are gone: index.html"]);
        release.template_sha256 = Some("abc".to_owned());
        let missing = inventory.missing(&release);
        assert_eq!(missing.infra, ["template templates/abc.yaml is gone"], "needed by --infra only");
        assert_eq!(missing.blocking.len(), 1);
        release.outcome = Outcome::Failed;
        assert!(inventory.missing(&release).blocking[0].contains("failed"));
    }
}
