//! CloudFormation for twinctl: plan a change set, show it, execute it while streaming the
//! stack's events, and read outputs.
//!
//! Owns: the stack state machine twinctl accepts — a stack left in ROLLBACK_COMPLETE by a
//! failed first create is deleted and created again; UPDATE_ROLLBACK_FAILED stops with the
//! command that recovers it; a stack still IN_PROGRESS (a crashed deploy) is waited for; a
//! change set with no changes is deleted and reported, not an error.
//! Must not: decide parameters (the deploy command does) or hold a lock.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter, Stack, StackStatus};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::output::Phase;

const POLL: Duration = Duration::from_millis(400);

/// One planned resource change.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ResourceChange {
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// "True", "False" or "Conditional" for modifications; None for adds and removes.
    pub replacement: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub stack_name: String,
    pub change_set_id: Option<String>,
    pub create: bool,
    pub changes: Vec<ResourceChange>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.change_set_id.is_none()
    }
}

/// The stack, or None when it does not exist.
pub async fn describe(cfn: &Client, name: &str) -> Result<Option<Stack>> {
    match cfn.describe_stacks().stack_name(name).send().await {
        Ok(output) => Ok(output.stacks().first().cloned()),
        Err(e) if e.message().is_some_and(|m| m.contains("does not exist")) => Ok(None),
        Err(e) => Err(anyhow::anyhow!("failed to describe stack {name}: {}", DisplayErrorContext(e)).into()),
    }
}

pub fn outputs(stack: &Stack) -> BTreeMap<String, String> {
    stack.outputs().iter().filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))).collect()
}

pub fn parameters(stack: &Stack) -> BTreeMap<String, String> {
    stack
        .parameters()
        .iter()
        .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value()?.to_owned())))
        .collect()
}

fn status_text(stack: &Stack) -> String {
    stack.stack_status().map(|s| s.as_str().to_owned()).unwrap_or_default()
}

/// Waits while the stack is in progress; returns it settled (or None once deleted).
async fn settle(cfn: &Client, name: &str, phase: &Phase) -> Result<Option<Stack>> {
    loop {
        let stack = describe(cfn, name).await?;
        match &stack {
            Some(s) if status_text(s).ends_with("_IN_PROGRESS") => {
                phase.message(format!("waiting for {name} ({})", status_text(s)));
                tokio::time::sleep(POLL).await;
            }
            Some(s) if s.stack_status() == Some(&StackStatus::DeleteComplete) => return Ok(None),
            _ => return Ok(stack),
        }
    }
}

/// Creates a change set and waits for it; an empty one is deleted and reported as such.
pub async fn plan(
    cfn: &Client,
    name: &str,
    template_body: &str,
    parameters: &BTreeMap<String, String>,
    phase: &Phase,
) -> Result<Plan> {
    let mut existing = settle(cfn, name, phase).await?;
    if let Some(stack) = &existing {
        match stack.stack_status() {
            Some(StackStatus::RollbackComplete) | Some(StackStatus::RollbackFailed) => {
                // A first create that failed leaves a stack that can only be deleted.
                phase.println(format!("  {name} is {} from a failed first create: deleting it", status_text(stack)));
                cfn.delete_stack()
                    .stack_name(name)
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!("failed to delete stack {name}: {}", DisplayErrorContext(e)))?;
                existing = settle(cfn, name, phase).await?;
                if let Some(still) = &existing {
                    return Err(Error::user(format!(
                        "stack {name} could not be deleted ({}); delete it in the console and deploy again",
                        status_text(still)
                    )));
                }
            }
            Some(StackStatus::UpdateRollbackFailed) => {
                return Err(Error::user_with_hint(
                    format!("stack {name} is UPDATE_ROLLBACK_FAILED: a rollback could not restore some resources"),
                    format!(
                        "fix what blocked the rollback (see `aws cloudformation describe-stack-events --stack-name {name}`), then run \
                         `aws cloudformation continue-update-rollback --stack-name {name}` and deploy again"
                    ),
                ));
            }
            _ => {}
        }
    }
    let create = existing.is_none();
    let change_set_name = format!("twinctl-{}", chrono::Utc::now().format("%Y%m%d%H%M%S%3f"));
    let cfn_parameters: Vec<Parameter> = parameters
        .iter()
        .map(|(key, value)| Parameter::builder().parameter_key(key).parameter_value(value).build())
        .collect();
    phase.message(format!("creating change set {change_set_name}"));
    let created = cfn
        .create_change_set()
        .stack_name(name)
        .change_set_name(&change_set_name)
        .change_set_type(if create { ChangeSetType::Create } else { ChangeSetType::Update })
        .template_body(template_body)
        .set_parameters(Some(cfn_parameters))
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .send()
        .await;
    let change_set_id = match created {
        Ok(output) => output.id().unwrap_or(&change_set_name).to_owned(),
        // Older emulators answer an unchanged update with a ValidationError instead of a FAILED set.
        Err(e) if e.message().is_some_and(no_changes) => {
            return Ok(Plan { stack_name: name.to_owned(), change_set_id: None, create, changes: Vec::new() });
        }
        Err(e) => {
            return Err(Error::user(format!(
                "CloudFormation rejected the change set for {name}: {}",
                DisplayErrorContext(e)
            )));
        }
    };

    loop {
        let described =
            cfn.describe_change_set().stack_name(name).change_set_name(&change_set_id).send().await.map_err(|e| {
                anyhow::anyhow!("failed to describe change set {change_set_name}: {}", DisplayErrorContext(e))
            })?;
        match described.status() {
            Some(ChangeSetStatus::CreateComplete) => {
                let changes = described
                    .changes()
                    .iter()
                    .filter_map(|change| change.resource_change())
                    .map(|rc| ResourceChange {
                        action: rc.action().map(|a| a.as_str().to_owned()).unwrap_or_default(),
                        logical_id: rc.logical_resource_id().unwrap_or_default().to_owned(),
                        resource_type: rc.resource_type().unwrap_or_default().to_owned(),
                        replacement: rc.replacement().map(|r| r.as_str().to_owned()),
                    })
                    .collect();
                return Ok(Plan { stack_name: name.to_owned(), change_set_id: Some(change_set_id), create, changes });
            }
            Some(ChangeSetStatus::Failed) => {
                let reason = described.status_reason().unwrap_or_default().to_owned();
                let _ = cfn.delete_change_set().stack_name(name).change_set_name(&change_set_id).send().await;
                if no_changes(&reason) {
                    return Ok(Plan { stack_name: name.to_owned(), change_set_id: None, create, changes: Vec::new() });
                }
                return Err(Error::user(format!("the change set for {name} failed: {reason}")));
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
}

fn no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// Deletes a planned change set without executing it (`diff`).
pub async fn discard(cfn: &Client, plan: &Plan) -> Result<()> {
    if let Some(id) = &plan.change_set_id {
        cfn.delete_change_set()
            .stack_name(&plan.stack_name)
            .change_set_name(id)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("failed to delete change set {id}: {}", DisplayErrorContext(e)))?;
    }
    Ok(())
}

/// Executes the plan, printing stack events as they happen; returns the settled stack.
pub async fn execute(cfn: &Client, plan: &Plan, phase: &Phase) -> Result<Stack> {
    let Some(change_set_id) = &plan.change_set_id else {
        return describe(cfn, &plan.stack_name)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("stack {} vanished", plan.stack_name)));
    };
    let name = &plan.stack_name;
    let seen_before: HashSet<String> = events(cfn, name).await.unwrap_or_default().into_iter().map(|e| e.id).collect();
    cfn.execute_change_set()
        .stack_name(name)
        .change_set_name(change_set_id)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("failed to execute change set on {name}: {}", DisplayErrorContext(e)))?;

    let mut seen = seen_before;
    let mut failures: Vec<String> = Vec::new();
    loop {
        let mut fresh: Vec<Event> = events(cfn, name).await?.into_iter().filter(|e| !seen.contains(&e.id)).collect();
        fresh.reverse();
        for event in fresh {
            seen.insert(event.id.clone());
            let reason = event.reason.as_deref().map(|r| format!(" — {r}")).unwrap_or_default();
            phase.println(format!("  {:<28} {:<40} {}{reason}", event.status, event.logical_id, event.resource_type));
            if event.status.ends_with("_FAILED") {
                failures.push(format!(
                    "{} ({}): {}",
                    event.logical_id,
                    event.resource_type,
                    event.reason.unwrap_or_default()
                ));
            }
        }
        let stack = describe(cfn, name)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("stack {name} disappeared during the update")))?;
        let status = status_text(&stack);
        phase.message(format!("{name}: {status}"));
        if status.ends_with("_IN_PROGRESS") {
            tokio::time::sleep(POLL).await;
            continue;
        }
        if status == "CREATE_COMPLETE" || status == "UPDATE_COMPLETE" {
            return Ok(stack);
        }
        let detail =
            if failures.is_empty() { String::from("no failure event was reported") } else { failures.join("\n  ") };
        return Err(Error::user(format!("stack {name} ended in {status}:\n  {detail}")));
    }
}

#[derive(Debug, Clone)]
struct Event {
    id: String,
    logical_id: String,
    resource_type: String,
    status: String,
    reason: Option<String>,
}

/// The stack's most recent events, newest first (one page is enough between polls).
async fn events(cfn: &Client, name: &str) -> Result<Vec<Event>> {
    let output = cfn
        .describe_stack_events()
        .stack_name(name)
        .send()
        .await
        .with_context(|| format!("failed to describe events of stack {name}"))?;
    Ok(output
        .stack_events()
        .iter()
        .map(|e| Event {
            id: e.event_id().unwrap_or_default().to_owned(),
            logical_id: e.logical_resource_id().unwrap_or_default().to_owned(),
            resource_type: e.resource_type().unwrap_or_default().to_owned(),
            status: e.resource_status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            reason: e.resource_status_reason().map(str::to_owned),
        })
        .collect())
}

/// Renders a plan as a table for people.
pub fn render(plan: &Plan) -> String {
    if plan.is_empty() {
        return format!("{}: no changes", plan.stack_name);
    }
    let mut text = format!(
        "{}: {} change(s){}\n",
        plan.stack_name,
        plan.changes.len(),
        if plan.create { " (new stack)" } else { "" }
    );
    for change in &plan.changes {
        let sign = match change.action.as_str() {
            "Add" => "+",
            "Remove" => "-",
            "Modify" => "~",
            _ => "?",
        };
        let replacement = match change.replacement.as_deref() {
            Some("True") => "  (REPLACEMENT)",
            Some("Conditional") => "  (may replace)",
            _ => "",
        };
        text.push_str(&format!("  {sign} {:<36} {}{replacement}\n", change.logical_id, change.resource_type));
    }
    text
}
