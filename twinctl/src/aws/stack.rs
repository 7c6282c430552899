//! CloudFormation: read a stack, classify its state, plan a change set, show it, execute it
//! while streaming events, and wait — with a deadline — for it to settle.
//!
//! Owns: the stack state machine twinctl accepts —
//! - REVIEW_IN_PROGRESS (a first CREATE change set was never executed) counts as "no stack
//!   yet": the next plan is another CREATE change set on the same stack id;
//! - ROLLBACK_COMPLETE / ROLLBACK_FAILED (a failed first create) can only be deleted: that is
//!   the explicit [`remove_dead`] step of a deploy, never a side effect of [`plan`];
//! - UPDATE_ROLLBACK_FAILED stops with the command that recovers it;
//! - anything else `_IN_PROGRESS` (a crashed or concurrent deploy) is waited for, up to a
//!   deadline that names what to run next.
//!
//! Polling follows [`Waiting`]: fast against the emulator, seconds on AWS, where a CloudFront
//! distribution takes minutes and DescribeStacks is throttled ("Rate exceeded") when polled
//! hard. Throttled reads are retried while the deadline allows.
//! Must not: decide parameters (deploy does) or hold a lock.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter, Stack, StackStatus};
use serde::Serialize;

use crate::aws::error::{SdkContext, is_not_found, is_throttling};
use crate::error::{Error, Result};
use crate::output::Phase;

/// How long and how often to poll CloudFormation.
#[derive(Debug, Clone, Copy)]
pub struct Waiting {
    pub first_poll: Duration,
    pub max_poll: Duration,
    pub deadline: Duration,
}

impl Waiting {
    /// The emulator answers synchronously; AWS takes minutes and throttles hard polling. The SDK
    /// waiters and `aws cloudformation wait` poll every 30 s; a deploy wants its events sooner,
    /// so it starts at 2 s and backs off to 10 s.
    pub fn for_endpoint(emulator: bool) -> Self {
        if emulator {
            Self {
                first_poll: Duration::from_millis(100),
                max_poll: Duration::from_millis(400),
                deadline: Duration::from_secs(300),
            }
        } else {
            Self {
                first_poll: Duration::from_secs(2),
                max_poll: Duration::from_secs(10),
                deadline: Duration::from_secs(3600),
            }
        }
    }

    fn next(&self, current: Duration) -> Duration {
        (current * 3 / 2).min(self.max_poll)
    }
}

/// What a stack's status lets twinctl do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackState {
    /// No stack, or a REVIEW_IN_PROGRESS shell: plan with a CREATE change set.
    Missing,
    /// A failed first create: delete, then create.
    Dead,
    /// An update whose rollback failed: a person must continue the rollback.
    UpdateRollbackFailed,
    /// Something is running: wait.
    Busy,
    /// Settled and updatable.
    Ready,
}

pub fn state(stack: Option<&Stack>) -> StackState {
    let Some(status) = stack.and_then(|s| s.stack_status()) else { return StackState::Missing };
    match status {
        StackStatus::ReviewInProgress | StackStatus::DeleteComplete => StackState::Missing,
        StackStatus::RollbackComplete | StackStatus::RollbackFailed => StackState::Dead,
        StackStatus::UpdateRollbackFailed => StackState::UpdateRollbackFailed,
        other if other.as_str().ends_with("_IN_PROGRESS") => StackState::Busy,
        _ => StackState::Ready,
    }
}

fn status_text(stack: &Stack) -> String {
    stack.stack_status().map(|s| s.as_str().to_owned()).unwrap_or_default()
}

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

/// Where CloudFormation reads the template from. A body is capped at 51,200 bytes
/// (CreateChangeSet API reference); a URL in S3 takes up to 1 MB.
#[derive(Debug, Clone)]
pub enum TemplateSource {
    Body(String),
    Url(String),
}

/// Reads with throttling retried until the deadline.
async fn describe_within(cfn: &Client, name: &str, waiting: &Waiting, until: Instant) -> Result<Option<Stack>> {
    let mut pause = waiting.first_poll;
    loop {
        match cfn.describe_stacks().stack_name(name).send().await {
            Ok(output) => return Ok(output.stacks().first().cloned()),
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) if is_throttling(&e) && Instant::now() + pause < until => {
                tokio::time::sleep(pause).await;
                pause = waiting.next(pause) * 2;
            }
            Err(e) => return Err(e).sdk_context(|| format!("failed to describe stack {name}")),
        }
    }
}

/// The stack, or None when it does not exist.
pub async fn describe(cfn: &Client, name: &str) -> Result<Option<Stack>> {
    let waiting = Waiting::for_endpoint(false);
    describe_within(cfn, name, &waiting, Instant::now() + Duration::from_secs(60)).await
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

/// Turns termination protection on: DeleteStack then fails until someone turns it off.
pub async fn protect(cfn: &Client, name: &str) -> Result<()> {
    cfn.update_termination_protection()
        .stack_name(name)
        .enable_termination_protection(true)
        .send()
        .await
        .sdk_context(|| format!("failed to turn on termination protection for {name}"))?;
    Ok(())
}

/// Turns termination protection off, so that DeleteStack can proceed (`destroy
/// --disable-termination-protection`; CloudFormation User Guide, "Protect CloudFormation stacks
/// from being deleted").
pub async fn unprotect(cfn: &Client, name: &str) -> Result<()> {
    cfn.update_termination_protection()
        .stack_name(name)
        .enable_termination_protection(false)
        .send()
        .await
        .sdk_context(|| format!("failed to turn off termination protection for {name}"))?;
    Ok(())
}

/// Deletes the stack and waits until it is gone; false when there was none. Resources whose
/// DeletionPolicy is Retain stay (CloudFormation skips them). A deletion that fails names the
/// resources that blocked it; rerunning retries it.
pub async fn delete(cfn: &Client, name: &str, waiting: &Waiting, phase: &Phase) -> Result<bool> {
    if settle(cfn, name, waiting, phase).await?.filter(|s| state(Some(s)) != StackState::Missing).is_none() {
        return Ok(false);
    }
    phase.message(format!("deleting stack {name}"));
    cfn.delete_stack().stack_name(name).send().await.sdk_context(|| format!("failed to delete stack {name}"))?;
    let Some(still) = settle(cfn, name, waiting, phase).await? else { return Ok(true) };
    let blocked: Vec<String> = events(cfn, name)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.status == "DELETE_FAILED")
        .map(|e| format!("{} ({}): {}", e.logical_id, e.resource_type, e.reason.unwrap_or_default()))
        .collect();
    Err(Error::user_with_hint(
        format!(
            "stack {name} was not deleted ({}{}){}",
            status_text(&still),
            still.stack_status_reason().map(|r| format!(": {r}")).unwrap_or_default(),
            if blocked.is_empty() { String::new() } else { format!("; blocked by {}", blocked.join("; ")) }
        ),
        "fix what blocked the deletion and rerun the same command: each step is done again only where it is not done",
    ))
}

/// The physical ids of the stack's resources of one type (e.g. its alarms' names).
pub async fn physical_ids_of_type(cfn: &Client, name: &str, resource_type: &str) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = cfn
            .list_stack_resources()
            .stack_name(name)
            .set_next_token(token.clone())
            .send()
            .await
            .sdk_context(|| format!("failed to list the resources of stack {name}"))?;
        ids.extend(
            page.stack_resource_summaries()
                .iter()
                .filter(|r| r.resource_type() == Some(resource_type))
                .filter_map(|r| r.physical_resource_id().map(str::to_owned)),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok(ids)
}

/// The template the stack runs now, as it was submitted (GetTemplate, stage Original).
pub async fn template_body(cfn: &Client, name: &str) -> Result<String> {
    let output = cfn
        .get_template()
        .stack_name(name)
        .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
        .send()
        .await
        .sdk_context(|| format!("failed to read the template of stack {name}"))?;
    output
        .template_body()
        .map(str::to_owned)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("stack {name} returned no template")))
}

fn deadline_passed(name: &str, stack: &Stack, waiting: &Waiting) -> Error {
    Error::user_with_hint(
        format!(
            "stack {name} is still {} after {} s; CloudFormation carries on without twinctl",
            status_text(stack),
            waiting.deadline.as_secs()
        ),
        format!(
            "watch it with `aws cloudformation describe-stack-events --stack-name {name}`; once it settles, run the same twinctl command again"
        ),
    )
}

/// Waits while the stack is busy; returns it settled (None once deleted or never created).
pub async fn settle(cfn: &Client, name: &str, waiting: &Waiting, phase: &Phase) -> Result<Option<Stack>> {
    let until = Instant::now() + waiting.deadline;
    let mut pause = waiting.first_poll;
    loop {
        let stack = describe_within(cfn, name, waiting, until).await?;
        match stack {
            Some(s) if state(Some(&s)) == StackState::Busy => {
                if Instant::now() + pause >= until {
                    return Err(deadline_passed(name, &s, waiting));
                }
                phase.message(format!("waiting for {name} ({})", status_text(&s)));
                tokio::time::sleep(pause).await;
                pause = waiting.next(pause);
            }
            Some(s) if s.stack_status() == Some(&StackStatus::DeleteComplete) => return Ok(None),
            other => return Ok(other),
        }
    }
}

/// Deploy's explicit clean-up of a failed first create (ROLLBACK_COMPLETE can only be
/// deleted). Returns true when a stack was removed.
pub async fn remove_dead(cfn: &Client, name: &str, waiting: &Waiting, phase: &Phase) -> Result<bool> {
    let stack = settle(cfn, name, waiting, phase).await?;
    let Some(stack) = stack.filter(|s| state(Some(s)) == StackState::Dead) else { return Ok(false) };
    phase.println(format!("  {name} is {} from a failed first create: deleting it", status_text(&stack)));
    cfn.delete_stack().stack_name(name).send().await.sdk_context(|| format!("failed to delete stack {name}"))?;
    if let Some(still) = settle(cfn, name, waiting, phase).await? {
        return Err(Error::user(format!(
            "stack {name} could not be deleted ({}); delete it in the console and deploy again",
            status_text(&still)
        )));
    }
    Ok(true)
}

fn no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// What a change set proposes: a template, its parameters, and who carries it out.
#[derive(Debug)]
pub struct Proposal<'a> {
    pub template: &'a TemplateSource,
    pub parameters: &'a BTreeMap<String, String>,
    /// Parameters sent as `UsePreviousValue` when the stack exists (on create they take their
    /// defaults). Bootstrap uses it so that a rerun without a setting never clears it.
    pub keep: Vec<String>,
    /// CloudFormation's service role (`RoleARN`): the change set, and every later operation on
    /// the stack, acts with this role's permissions instead of the caller's.
    pub role_arn: Option<&'a str>,
}

impl<'a> Proposal<'a> {
    pub fn new(template: &'a TemplateSource, parameters: &'a BTreeMap<String, String>) -> Self {
        Self { template, parameters, keep: Vec::new(), role_arn: None }
    }

    pub fn as_role(mut self, role_arn: Option<&'a str>) -> Self {
        self.role_arn = role_arn;
        self
    }
}

/// Names of the parameters a template declares (its top-level `Parameters` keys).
pub fn declared_parameters(template: &str) -> Result<Vec<String>> {
    let document: serde_yaml::Value =
        serde_yaml::from_str(template).map_err(|e| Error::user(format!("the template does not parse as YAML: {e}")))?;
    Ok(document
        .get("Parameters")
        .and_then(serde_yaml::Value::as_mapping)
        .map(|parameters| parameters.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect())
        .unwrap_or_default())
}

/// Creates a change set and waits for it; an empty one is deleted and reported as such, a
/// failed one is deleted (with the empty stack shell of a failed first create) and reported.
/// Deletes nothing else.
pub async fn plan(cfn: &Client, name: &str, proposal: &Proposal<'_>, waiting: &Waiting, phase: &Phase) -> Result<Plan> {
    let Proposal { template, parameters, keep, role_arn } = proposal;
    let existing = settle(cfn, name, waiting, phase).await?;
    let create = match state(existing.as_ref()) {
        StackState::Missing => true,
        StackState::Ready => false,
        StackState::Dead => {
            return Err(Error::user_with_hint(
                format!(
                    "stack {name} is {} from a failed first create",
                    existing.as_ref().map(status_text).unwrap_or_default()
                ),
                "`twinctl deploy` deletes and recreates it",
            ));
        }
        StackState::UpdateRollbackFailed => {
            return Err(Error::user_with_hint(
                format!("stack {name} is UPDATE_ROLLBACK_FAILED: a rollback could not restore some resources"),
                format!(
                    "fix what blocked the rollback (see `aws cloudformation describe-stack-events --stack-name {name}`), then run \
                     `aws cloudformation continue-update-rollback --stack-name {name}` and deploy again"
                ),
            ));
        }
        StackState::Busy => unreachable!("settle returns only settled stacks"),
    };
    let change_set_name = format!("twinctl-{}", chrono::Utc::now().format("%Y%m%d%H%M%S%3f"));
    let previous = existing.as_ref().map(crate::aws::stack::parameters).unwrap_or_default();
    let kept = keep.iter().filter(|key| !parameters.contains_key(*key) && previous.contains_key(*key));
    let cfn_parameters: Vec<Parameter> = parameters
        .iter()
        .map(|(key, value)| Parameter::builder().parameter_key(key).parameter_value(value).build())
        .chain(kept.map(|key| Parameter::builder().parameter_key(key).use_previous_value(true).build()))
        .collect();
    phase.message(format!("creating change set {change_set_name}"));
    let request = cfn
        .create_change_set()
        .stack_name(name)
        .change_set_name(&change_set_name)
        .change_set_type(if create { ChangeSetType::Create } else { ChangeSetType::Update })
        .set_parameters(Some(cfn_parameters))
        .set_role_arn(role_arn.map(str::to_owned))
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam);
    let request = match template {
        TemplateSource::Body(body) => request.template_body(body),
        TemplateSource::Url(url) => request.template_url(url),
    };
    let change_set_id = match request.send().await {
        Ok(output) => output.id().unwrap_or(&change_set_name).to_owned(),
        Err(e) => {
            return Err(Error::user(format!(
                "CloudFormation rejected the change set for {name}: {}",
                aws_sdk_cloudformation::error::DisplayErrorContext(e)
            )));
        }
    };

    let until = Instant::now() + waiting.deadline;
    let mut pause = waiting.first_poll;
    loop {
        let described = match cfn.describe_change_set().stack_name(name).change_set_name(&change_set_id).send().await {
            Ok(described) => described,
            Err(e) if is_throttling(&e) && Instant::now() + pause < until => {
                tokio::time::sleep(pause).await;
                pause = waiting.next(pause);
                continue;
            }
            Err(e) => return Err(e).sdk_context(|| format!("failed to describe change set {change_set_name}")),
        };
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
                let failed = Plan {
                    stack_name: name.to_owned(),
                    change_set_id: Some(change_set_id),
                    create,
                    changes: Vec::new(),
                };
                discard(cfn, &failed).await?;
                if no_changes(&reason) {
                    return Ok(Plan { change_set_id: None, ..failed });
                }
                return Err(Error::user(format!("the change set for {name} failed: {reason}")));
            }
            _ if Instant::now() + pause >= until => {
                return Err(Error::user(format!(
                    "the change set {change_set_name} for {name} was not ready after {} s",
                    waiting.deadline.as_secs()
                )));
            }
            _ => {
                tokio::time::sleep(pause).await;
                pause = waiting.next(pause);
            }
        }
    }
}

/// Deletes a planned change set without executing it; for a CREATE change set also the empty
/// REVIEW_IN_PROGRESS stack it made, so nothing is left behind.
pub async fn discard(cfn: &Client, plan: &Plan) -> Result<()> {
    let name = &plan.stack_name;
    if let Some(id) = &plan.change_set_id {
        cfn.delete_change_set()
            .stack_name(name)
            .change_set_name(id)
            .send()
            .await
            .sdk_context(|| format!("failed to delete change set {id} of {name}"))?;
    }
    if plan.create
        && let Some(shell) = describe(cfn, name).await?
        && shell.stack_status() == Some(&StackStatus::ReviewInProgress)
    {
        cfn.delete_stack()
            .stack_name(name)
            .send()
            .await
            .sdk_context(|| format!("failed to delete the empty stack {name}"))?;
    }
    Ok(())
}

/// Executes the plan, printing stack events as they happen; returns the settled stack.
pub async fn execute(cfn: &Client, plan: &Plan, waiting: &Waiting, phase: &Phase) -> Result<Stack> {
    let name = &plan.stack_name;
    let Some(change_set_id) = &plan.change_set_id else {
        return describe(cfn, name).await?.ok_or_else(|| Error::Internal(anyhow::anyhow!("stack {name} vanished")));
    };
    let mut seen: HashSet<String> = events(cfn, name).await?.into_iter().map(|e| e.id).collect();
    cfn.execute_change_set()
        .stack_name(name)
        .change_set_name(change_set_id)
        .send()
        .await
        .sdk_context(|| format!("failed to execute change set on {name}"))?;

    let until = Instant::now() + waiting.deadline;
    let mut pause = waiting.first_poll;
    let mut failures: Vec<String> = Vec::new();
    loop {
        let fresh = match events(cfn, name).await {
            Ok(events) => events,
            Err(_) if Instant::now() + pause < until => Vec::new(), // throttled: the next poll reads them
            Err(e) => return Err(e),
        };
        for event in fresh.into_iter().rev() {
            if !seen.insert(event.id.clone()) {
                continue;
            }
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
        let stack = describe_within(cfn, name, waiting, until)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("stack {name} disappeared during the update")))?;
        let status = status_text(&stack);
        phase.message(format!("{name}: {status}"));
        if state(Some(&stack)) == StackState::Busy {
            if Instant::now() + pause >= until {
                return Err(deadline_passed(name, &stack, waiting));
            }
            tokio::time::sleep(pause).await;
            pause = waiting.next(pause);
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
        .sdk_context(|| format!("failed to describe events of stack {name}"))?;
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

/// The changes a first deploy would make, read from the template itself: a CREATE change set
/// would leave a REVIEW_IN_PROGRESS stack behind, which `diff` must not.
pub fn template_resources(template: &str) -> Result<Vec<ResourceChange>> {
    let document: serde_yaml::Value =
        serde_yaml::from_str(template).map_err(|e| Error::user(format!("the stack template is not YAML: {e}")))?;
    let resources = document.get("Resources").and_then(|r| r.as_mapping()).cloned().unwrap_or_default();
    Ok(resources
        .iter()
        .filter_map(|(logical_id, body)| {
            Some(ResourceChange {
                action: "Add".to_owned(),
                logical_id: logical_id.as_str()?.to_owned(),
                resource_type: body.get("Type")?.as_str()?.to_owned(),
                replacement: None,
            })
        })
        .collect())
}

/// Renders a plan as a table for people.
pub fn render(plan: &Plan) -> String {
    if plan.changes.is_empty() {
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

#[cfg(test)]
mod tests {
    //! The state machine against replayed CloudFormation answers: states the emulator never
    //! reaches, in milliseconds.
    use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
    use aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput;
    use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
    use aws_sdk_cloudformation::operation::describe_stacks::{DescribeStacksError, DescribeStacksOutput};
    use aws_sdk_cloudformation::types::{Change, ResourceChange as CfnChange};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;
    use crate::output::{OutputFormat, Printer};

    const NAME: &str = "twin-staging";

    fn quick() -> Waiting {
        Waiting {
            first_poll: Duration::from_millis(1),
            max_poll: Duration::from_millis(2),
            deadline: Duration::from_millis(200),
        }
    }

    fn phase() -> Phase {
        Printer::new(OutputFormat::Text, true, 0).phase("test")
    }

    fn stack(status: StackStatus) -> DescribeStacksOutput {
        DescribeStacksOutput::builder()
            .stacks(
                Stack::builder()
                    .stack_name(NAME)
                    .stack_status(status)
                    .creation_time(aws_smithy_types::DateTime::from_secs(0))
                    .build(),
            )
            .build()
    }

    fn missing() -> DescribeStacksError {
        DescribeStacksError::generic(
            ErrorMetadata::builder()
                .code("ValidationError")
                .message(format!("Stack with id {NAME} does not exist"))
                .build(),
        )
    }

    fn throttled() -> DescribeStacksError {
        DescribeStacksError::generic(ErrorMetadata::builder().code("Throttling").message("Rate exceeded").build())
    }

    fn client(rules: &[&aws_smithy_mocks::Rule]) -> Client {
        // Our own waiting is under test: the SDK's retries would hide the throttling.
        mock_client!(aws_sdk_cloudformation, RuleMode::Sequential, rules, |c| c
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled()))
    }

    fn created_change_set() -> (aws_smithy_mocks::Rule, aws_smithy_mocks::Rule) {
        let create =
            mock!(Client::create_change_set).then_output(|| CreateChangeSetOutput::builder().id("cs-1").build());
        let described = mock!(Client::describe_change_set).then_output(|| {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::CreateComplete)
                .changes(
                    Change::builder()
                        .resource_change(
                            CfnChange::builder()
                                .action("Add".into())
                                .logical_resource_id("Function")
                                .resource_type("AWS::Lambda::Function")
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
        (create, described)
    }

    fn parameters() -> BTreeMap<String, String> {
        BTreeMap::from([("EnvironmentName".to_owned(), "staging".to_owned())])
    }

    #[test]
    fn states_are_classified_as_twinctl_acts_on_them() {
        let of = |status: StackStatus| state(stack(status).stacks().first());
        assert_eq!(state(None), StackState::Missing);
        assert_eq!(of(StackStatus::ReviewInProgress), StackState::Missing);
        assert_eq!(of(StackStatus::RollbackComplete), StackState::Dead);
        assert_eq!(of(StackStatus::RollbackFailed), StackState::Dead);
        assert_eq!(of(StackStatus::UpdateRollbackFailed), StackState::UpdateRollbackFailed);
        assert_eq!(of(StackStatus::UpdateInProgress), StackState::Busy);
        assert_eq!(of(StackStatus::UpdateRollbackCompleteCleanupInProgress), StackState::Busy);
        assert_eq!(of(StackStatus::UpdateRollbackComplete), StackState::Ready);
        assert_eq!(of(StackStatus::CreateComplete), StackState::Ready);
    }

    #[tokio::test]
    async fn review_in_progress_is_planned_as_a_create_on_the_same_stack() {
        let describe = mock!(Client::describe_stacks).then_output(|| stack(StackStatus::ReviewInProgress));
        let (_, described) = created_change_set();
        let create = mock!(Client::create_change_set)
            .match_requests(|r| r.change_set_type() == Some(&ChangeSetType::Create))
            .then_output(|| CreateChangeSetOutput::builder().id("cs-1").build());
        let cfn = client(&[&describe, &create, &described]);
        let source = TemplateSource::Url("https://b.s3.us-east-1.amazonaws.com/t".into());
        let plan = plan(&cfn, NAME, &Proposal::new(&source, &parameters()), &quick(), &phase()).await.expect("plan");
        assert!(plan.create);
        assert_eq!(plan.change_set_id.as_deref(), Some("cs-1"));
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(create.num_calls(), 1, "a CREATE change set, not a hang");
    }

    #[tokio::test]
    async fn an_update_keeps_unset_parameters_and_runs_as_the_execution_role() {
        let existing = || {
            DescribeStacksOutput::builder()
                .stacks(
                    Stack::builder()
                        .stack_name(NAME)
                        .stack_status(StackStatus::UpdateComplete)
                        .creation_time(aws_smithy_types::DateTime::from_secs(0))
                        .parameters(
                            Parameter::builder().parameter_key("GitHubRepository").parameter_value("octo/twin").build(),
                        )
                        .parameters(Parameter::builder().parameter_key("Dropped").parameter_value("x").build())
                        .build(),
                )
                .build()
        };
        let describe = mock!(Client::describe_stacks).then_output(existing);
        let (_, described) = created_change_set();
        let create = mock!(Client::create_change_set)
            .match_requests(|r| {
                let sent: Vec<(&str, Option<&str>, Option<bool>)> = r
                    .parameters()
                    .iter()
                    .map(|p| (p.parameter_key().unwrap_or_default(), p.parameter_value(), p.use_previous_value()))
                    .collect();
                r.role_arn() == Some("arn:aws:iam::123456789012:role/twin-ci-staging-cfn-us-east-1")
                    && sent == vec![("EnvironmentName", Some("staging"), None), ("GitHubRepository", None, Some(true))]
            })
            .then_output(|| CreateChangeSetOutput::builder().id("cs-1").build());
        let cfn = client(&[&describe, &create, &described]);
        let source = TemplateSource::Body("{}".into());
        let parameters = parameters();
        let mut proposal = Proposal::new(&source, &parameters)
            .as_role(Some("arn:aws:iam::123456789012:role/twin-ci-staging-cfn-us-east-1"));
        // Given ones are sent as given; a kept one the stack never had (OidcProviderArn) takes its default.
        proposal.keep = vec!["EnvironmentName".into(), "GitHubRepository".into(), "OidcProviderArn".into()];
        let plan = plan(&cfn, NAME, &proposal, &quick(), &phase()).await.expect("plan");
        assert!(!plan.create);
        assert_eq!(create.num_calls(), 1, "RoleARN and UsePreviousValue as expected");
    }

    #[test]
    fn declared_parameters_are_the_templates_parameter_names() {
        let template = "Parameters:\n  A:\n    Type: String\n  B:\n    Type: Number\nResources:\n  X:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !Sub \"${A}\"\n";
        assert_eq!(declared_parameters(template).expect("parses"), vec!["A".to_owned(), "B".to_owned()]);
        assert!(declared_parameters("Resources: {}\n").expect("parses").is_empty());
    }

    #[tokio::test]
    async fn plan_never_deletes_a_dead_stack_and_remove_dead_does() {
        let describe = mock!(Client::describe_stacks).then_output(|| stack(StackStatus::RollbackComplete));
        let cfn = client(&[&describe]);
        let error =
            plan(&cfn, NAME, &Proposal::new(&TemplateSource::Body("{}".into()), &parameters()), &quick(), &phase())
                .await
                .expect_err("a dead stack cannot be planned");
        assert!(error.to_string().contains("ROLLBACK_COMPLETE"), "{error}");

        let dead = mock!(Client::describe_stacks).then_output(|| stack(StackStatus::RollbackComplete));
        let delete = mock!(Client::delete_stack).then_output(|| DeleteStackOutput::builder().build());
        let deleting = mock!(Client::describe_stacks).then_output(|| stack(StackStatus::DeleteInProgress));
        let gone = mock!(Client::describe_stacks).then_error(missing);
        let cfn = client(&[&dead, &delete, &deleting, &gone]);
        assert!(remove_dead(&cfn, NAME, &quick(), &phase()).await.expect("removed"));
        assert_eq!(delete.num_calls(), 1);
    }

    #[tokio::test]
    async fn update_rollback_failed_stops_with_the_recovery_command() {
        let describe = mock!(Client::describe_stacks).then_output(|| stack(StackStatus::UpdateRollbackFailed));
        let cfn = client(&[&describe]);
        let error =
            plan(&cfn, NAME, &Proposal::new(&TemplateSource::Body("{}".into()), &parameters()), &quick(), &phase())
                .await
                .expect_err("needs a person");
        assert!(error.hint().is_some_and(|h| h.contains("continue-update-rollback")), "{error:?}");
    }

    #[tokio::test]
    async fn throttling_while_waiting_is_retried_not_fatal() {
        let busy = mock!(Client::describe_stacks).then_output(|| stack(StackStatus::UpdateInProgress));
        let throttle = mock!(Client::describe_stacks).sequence().error(throttled).times(3).build();
        let done = mock!(Client::describe_stacks).then_output(|| stack(StackStatus::UpdateComplete));
        let cfn = client(&[&busy, &throttle, &done]);
        let settled = settle(&cfn, NAME, &quick(), &phase()).await.expect("settled despite throttling");
        assert_eq!(settled.and_then(|s| s.stack_status().cloned()), Some(StackStatus::UpdateComplete));
        assert_eq!(throttle.num_calls(), 3);
    }

    #[tokio::test]
    async fn a_stack_busy_past_the_deadline_ends_with_what_to_run_next() {
        let busy = mock!(Client::describe_stacks)
            .sequence()
            .output(|| stack(StackStatus::UpdateInProgress))
            .repeatedly()
            .build();
        let cfn = client(&[&busy]);
        let error = settle(&cfn, NAME, &quick(), &phase()).await.expect_err("deadline");
        assert!(error.to_string().contains("still UPDATE_IN_PROGRESS"), "{error}");
        assert!(error.hint().is_some_and(|h| h.contains("describe-stack-events")), "{error:?}");
    }

    #[tokio::test]
    async fn a_failed_first_change_set_removes_the_empty_stack_it_made() {
        let none = mock!(Client::describe_stacks).then_error(missing);
        let create =
            mock!(Client::create_change_set).then_output(|| CreateChangeSetOutput::builder().id("cs-1").build());
        let failed = mock!(Client::describe_change_set).then_output(|| {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::Failed)
                .status_reason("Template error: bad")
                .build()
        });
        let delete_set = mock!(Client::delete_change_set).then_output(|| {
            aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput::builder().build()
        });
        let shell = mock!(Client::describe_stacks).then_output(|| stack(StackStatus::ReviewInProgress));
        let delete_stack = mock!(Client::delete_stack).then_output(|| DeleteStackOutput::builder().build());
        let cfn = client(&[&none, &create, &failed, &delete_set, &shell, &delete_stack]);
        let error =
            plan(&cfn, NAME, &Proposal::new(&TemplateSource::Body("{}".into()), &parameters()), &quick(), &phase())
                .await
                .expect_err("failed change set");
        assert!(error.to_string().contains("Template error: bad"), "{error}");
        assert_eq!(delete_set.num_calls(), 1);
        assert_eq!(delete_stack.num_calls(), 1, "no REVIEW_IN_PROGRESS stack is left behind");
    }
}
