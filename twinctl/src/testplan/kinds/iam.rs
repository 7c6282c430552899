//! The `iam` step kind: a role's policies (inline: ListRolePolicies + GetRolePolicy; attached:
//! ListAttachedRolePolicies + GetPolicy + GetPolicyVersion of the default version) against what
//! the function needs (`twin_runtime::permissions::NEEDED`).
//!
//! Findings (each fails the step), from [`analyse`], over the Allow statements: a wildcard
//! action (`*`, `s3:*`, `s3:Get*`); NotAction or NotResource; Resource `*` unless every action of
//! the statement is one without resource-level permissions (`allow_star`); a resource that is
//! not one of this stack's (its ARN names none of the stack's function, memory bucket, secrets,
//! key or log group; AWS-owned Bedrock models and inference profiles excepted); and granted
//! against needed — each needed action no statement grants ("missing: s3:PutObject (called:
//! store a turn)") and each granted action nothing needs ("extra: s3:DeleteObject"). Actions
//! the function needs only with one model provider count only when its `LLM_PROVIDER` is that
//! one. Deny statements and the permissions boundary only take away, so they are not read.
//! Checks: `granted` and `needed` (sorted lists), `provider`. The json holds the policies read.
//!
//! Two more roles are read the same way. The CI deploy role ([`inspect_ci_role`]) is held to the
//! actions twinctl declares for it. The CloudFormation execution role ([`inspect_execution_role`])
//! is held to the rule templates/environment-access.yaml writes and twinctl/tests/ci_roles.rs
//! checks statically ([`analyse_execution`]): no wildcard action, NotAction or NotResource; a role
//! write (`BOUNDED_ROLE_WRITES`) only with exactly the environment's boundary as
//! `iam:PermissionsBoundary`; `iam:PassRole` only to Lambda and only on the twin stack's roles;
//! an unconditional Deny of changing the CI roles and of changing the boundary.
//! Must not: change a role.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use twin_runtime::permissions::{Needed, PROVIDER_VARIABLE};

use super::elapsed_ms;
use crate::aws::error::{SdkContext, is_not_found};
use crate::error::{Error, Result};
use crate::target::Target;
use crate::testplan::observation::{Finding, Observation};

/// Actions the function role may grant on Resource `*`: those without resource-level
/// permissions. templates/twin.yaml's FunctionRole names a resource in every statement, so none.
pub const FUNCTION_ALLOW_STAR: &[&str] = &[];

/// The stack outputs whose values name the stack's own resources: an Allow resource must name
/// one of them.
const STACK_RESOURCE_OUTPUTS: [&str; 6] =
    ["FunctionName", "MemoryBucketName", "SecretArn", "OriginVerifySecretArn", "KeyArn", "LogGroupName"];

/// One policy of a role, its document decoded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// An inline policy's name, or an attached policy's ARN.
    pub name: String,
    pub managed: bool,
    pub document: Value,
}

/// Reads `role` (an ARN or a name) and judges its policies against `needed`, filtered by the
/// model provider the function runs with (its live version's `LLM_PROVIDER`, else `$LATEST`'s).
pub async fn inspect(target: &Target, role: &str, needed: &[Needed], allow_star: &[&str]) -> Result<Observation> {
    let started = Instant::now();
    let role = role_name(role);
    let policies = role_policies(&target.aws.iam(), role).await?;
    let provider = function_provider(target).await?;
    let needed: Vec<Needed> =
        needed.iter().filter(|n| n.applies_to(provider.as_deref().unwrap_or_default())).copied().collect();
    let stack_names: Vec<String> =
        STACK_RESOURCE_OUTPUTS.iter().filter_map(|key| target.outputs.get(*key)).cloned().collect();
    let mut observation = Observation {
        findings: analyse(&policies, &needed, &stack_names, allow_star),
        json: Some(serde_json::json!({ "role": role, "policies": policies })),
        ..Observation::default()
    };
    observation.check("granted", granted(&policies).into_iter().collect::<Vec<_>>());
    let mut needed: Vec<&str> = needed.iter().map(|n| n.action).collect();
    needed.sort_unstable();
    observation.check("needed", needed);
    observation.check("provider", provider);
    observation.duration_ms = elapsed_ms(started);
    Ok(observation)
}

/// A role's name from its ARN (`arn:aws:iam::123456789012:role/path/NAME`), or the name given.
pub fn role_name(role: &str) -> &str {
    if role.starts_with("arn:") { role.rsplit('/').next().unwrap_or(role) } else { role }
}

/// The function's model provider, from its environment: the live version's, or `$LATEST`'s
/// before the first version went live. None when the variable is not set.
async fn function_provider(target: &Target) -> Result<Option<String>> {
    let function = target.output("FunctionName")?;
    let qualifier = target.live_version.as_deref().unwrap_or("$LATEST");
    let configuration = crate::aws::lambda::version_configuration(&target.aws.lambda(), function, qualifier).await?;
    Ok(configuration.environment.get(PROVIDER_VARIABLE).cloned())
}

/// Every inline and attached policy of `role`, in the order IAM lists them.
async fn role_policies(iam: &aws_sdk_iam::Client, role: &str) -> Result<Vec<Policy>> {
    let mut policies = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = match iam.list_role_policies().role_name(role).set_marker(marker.clone()).send().await {
            Ok(page) => page,
            Err(e) if is_not_found(&e) => return Err(Error::user(format!("the role {role} does not exist"))),
            Err(e) => return Err(e).sdk_context(|| format!("failed to list the inline policies of role {role}")),
        };
        for name in page.policy_names() {
            let policy = iam
                .get_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await
                .sdk_context(|| format!("failed to read the inline policy {name} of role {role}"))?;
            let document = parse_document(policy.policy_document())
                .map_err(|e| Error::user(format!("the inline policy {name} of role {role} is not JSON: {e}")))?;
            policies.push(Policy { name: name.clone(), managed: false, document });
        }
        marker = page.marker().filter(|_| page.is_truncated()).map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    loop {
        let page = iam
            .list_attached_role_policies()
            .role_name(role)
            .set_marker(marker.clone())
            .send()
            .await
            .sdk_context(|| format!("failed to list the policies attached to role {role}"))?;
        for attached in page.attached_policies() {
            let Some(arn) = attached.policy_arn() else { continue };
            let policy =
                iam.get_policy().policy_arn(arn).send().await.sdk_context(|| format!("failed to read policy {arn}"))?;
            let version = policy.policy().and_then(|p| p.default_version_id()).ok_or_else(|| {
                Error::Internal(anyhow::anyhow!("IAM answered GetPolicy of {arn} without a default version"))
            })?;
            let answer = iam
                .get_policy_version()
                .policy_arn(arn)
                .version_id(version)
                .send()
                .await
                .sdk_context(|| format!("failed to read version {version} of policy {arn}"))?;
            let text = answer.policy_version().and_then(|v| v.document()).ok_or_else(|| {
                Error::Internal(anyhow::anyhow!("IAM answered version {version} of {arn} without a document"))
            })?;
            let document = parse_document(text)
                .map_err(|e| Error::user(format!("version {version} of policy {arn} is not JSON: {e}")))?;
            policies.push(Policy { name: arn.to_owned(), managed: true, document });
        }
        marker = page.marker().filter(|_| page.is_truncated()).map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    Ok(policies)
}

/// A policy document as IAM returns it: URL-encoded JSON (RFC 3986; IAM API reference,
/// GetRolePolicy "PolicyDocument"), or plain JSON where an endpoint does not encode it.
pub fn parse_document(text: &str) -> std::result::Result<Value, String> {
    let text = text.trim();
    let decoded: Cow<'_, str> = if text.starts_with('{') {
        Cow::Borrowed(text)
    } else {
        percent_encoding::percent_decode_str(text).decode_utf8().map_err(|e| e.to_string())?
    };
    serde_json::from_str(&decoded).map_err(|e| e.to_string())
}

/// One statement of one policy, and how a finding names it.
struct Statement<'a> {
    label: String,
    body: &'a serde_json::Map<String, Value>,
}

impl Statement<'_> {
    fn allows(&self) -> bool {
        self.body.get("Effect").and_then(Value::as_str) == Some("Allow")
    }

    fn denies(&self) -> bool {
        self.body.get("Effect").and_then(Value::as_str) == Some("Deny")
    }

    /// The values of condition `key` under `operator` (`StringEquals`); None when there is none.
    /// IAM compares condition keys case-insensitively, operators as written.
    fn condition(&self, operator: &str, key: &str) -> Option<Vec<&str>> {
        let block = self.body.get("Condition")?.get(operator)?.as_object()?;
        let (_, value) = block.iter().find(|(name, _)| name.eq_ignore_ascii_case(key))?;
        Some(match value {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        })
    }

    fn list(&self, element: &str) -> Vec<&str> {
        match self.body.get(element) {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

fn statements(policies: &[Policy]) -> Vec<Statement<'_>> {
    let mut all = Vec::new();
    for policy in policies {
        let kind = if policy.managed { "attached policy" } else { "policy" };
        let listed: Vec<&Value> = match policy.document.get("Statement") {
            Some(Value::Array(list)) => list.iter().collect(),
            Some(single) => vec![single],
            None => Vec::new(),
        };
        for (index, statement) in listed.into_iter().enumerate() {
            let Some(body) = statement.as_object() else { continue };
            let id = body.get("Sid").and_then(Value::as_str).filter(|s| !s.is_empty());
            let label = match id {
                Some(sid) => format!("{kind} {}, statement {sid}", policy.name),
                None => format!("{kind} {}, statement #{}", policy.name, index + 1),
            };
            all.push(Statement { label, body });
        }
    }
    all
}

/// The actions the Allow statements grant, as written (wildcards included), sorted.
pub fn granted(policies: &[Policy]) -> BTreeSet<String> {
    statements(policies)
        .iter()
        .filter(|s| s.allows())
        .flat_map(|s| s.list("Action").into_iter().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// The findings over `policies` (see the module's header). `needed` is already filtered by
/// provider; `stack_names` are the stack's resource names and ARNs (its outputs'
/// values); `allow_star` the actions that may be granted on Resource `*`.
pub fn analyse(policies: &[Policy], needed: &[Needed], stack_names: &[String], allow_star: &[&str]) -> Vec<Finding> {
    let mut findings = statement_findings(policies, Some((stack_names, allow_star)));
    let described: Vec<(&str, String)> =
        needed.iter().map(|need| (need.action, format!("{}: {}", need.how.as_str(), need.why))).collect();
    findings.extend(coverage_findings(policies, &described));
    findings
}

/// A CI role against the actions twinctl declares for it (`aws::permissions::ci_actions`, or
/// `preview_actions` for the previews' deploy role, which also destroys): no wildcard
/// action, no NotAction/NotResource, and granted == declared. Its resources are the template's
/// patterns, which `twinctl/tests/templates_iam.rs` judges; they are not judged here.
pub fn analyse_declared(policies: &[Policy], declared: &BTreeSet<&str>) -> Vec<Finding> {
    let mut findings = statement_findings(policies, None);
    let described: Vec<(&str, String)> =
        declared.iter().map(|action| (*action, "declared in twinctl/src/aws/permissions.rs".to_owned())).collect();
    findings.extend(coverage_findings(policies, &described));
    findings
}

/// Reads a CI role (the environment's deploy role) and judges it with [`analyse_declared`].
pub async fn inspect_ci_role(target: &Target, role: &str, declared: &BTreeSet<&str>) -> Result<Observation> {
    let started = Instant::now();
    let role = role_name(role);
    let policies = role_policies(&target.aws.iam(), role).await?;
    let mut observation = Observation {
        findings: analyse_declared(&policies, declared),
        json: Some(serde_json::json!({ "role": role, "policies": policies })),
        ..Observation::default()
    };
    observation.check("granted", granted(&policies).into_iter().collect::<Vec<_>>());
    observation.check("needed", declared.iter().copied().collect::<Vec<_>>());
    observation.duration_ms = elapsed_ms(started);
    Ok(observation)
}

/// IAM's role writes that the `iam:PermissionsBoundary` condition key governs (Service
/// Authorization Reference): the execution role may have them only with the environment's boundary
/// as that condition (twinctl/tests/ci_roles.rs checks the template against the same list).
pub const BOUNDED_ROLE_WRITES: [&str; 6] = [
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
];

/// What an explicit Deny must take from the execution role on every CI role (the template's
/// `DenyChangingCiRoles`; twinctl/tests/ci_roles.rs requires these three of it): otherwise a stack
/// could give the roles that deploy it more than their own templates do.
pub const CI_ROLE_WRITES: [&str; 3] = ["iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy"];

/// What an explicit Deny must take from the execution role on the permissions boundary (the
/// template's `DenyChangingBoundaries`): a new default version would widen every role it bounds.
pub const BOUNDARY_WRITES: [&str; 4] =
    ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"];

/// The one service the execution role may pass a role to: the function's.
pub const PASSED_TO_SERVICE: &str = "lambda.amazonaws.com";

const PASS_ROLE: &str = "iam:PassRole";

/// The environment's side of the execution role's rule, from its access stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRule {
    /// `FunctionBoundaryArn`: the boundary every role the execution role writes must carry.
    pub boundary: String,
    /// The only roles it may pass: `arn:…:role/{TwinStackName}-*` (for previews TwinStackName is
    /// itself a pattern, `{project}-pr-*`).
    pub function_roles: String,
    /// What the CI roles' Deny must cover: `arn:…:role/{project}-ci-*`.
    pub ci_roles: String,
}

impl ExecutionRule {
    /// The rule for the execution role `role` (its ARN, which gives the partition and account),
    /// the environment's `boundary`, the twin stacks it deploys (`stacks`: the access stack's
    /// TwinStackName) and the CI roles' prefix (`{project}-ci-`). None when `role` is no role ARN.
    pub fn new(role: &str, boundary: &str, stacks: &str, ci_prefix: &str) -> Option<Self> {
        let account = role.find(":role/").filter(|_| role.starts_with("arn:")).map(|at| &role[..=at])?;
        Some(Self {
            boundary: boundary.to_owned(),
            function_roles: format!("{account}role/{stacks}-*"),
            ci_roles: format!("{account}role/{ci_prefix}*"),
        })
    }
}

/// The execution role held to its [`ExecutionRule`]: the findings, and the facts `checks` show.
#[derive(Debug, Clone, Default)]
pub struct ExecutionReview {
    pub findings: Vec<Finding>,
    /// Allow statements that grant a role write with exactly the environment's boundary.
    pub bounded_statements: usize,
    /// The services `iam:PassRole` is allowed to (`iam:PassedToService`), sorted.
    pub pass_role_services: Vec<String>,
    /// The labels of the Deny statements, in the order the policies list them.
    pub denies: Vec<String>,
}

/// The execution role's rule over `policies` (see the module's header). Deny statements count
/// only without a Condition: a conditional Deny may not apply when it matters.
pub fn analyse_execution(policies: &[Policy], rule: &ExecutionRule) -> ExecutionReview {
    let mut review = ExecutionReview { findings: statement_findings(policies, None), ..ExecutionReview::default() };
    let all = statements(policies);
    let mut services = BTreeSet::new();
    for statement in all.iter().filter(|s| s.allows()) {
        let label = &statement.label;
        let actions = statement.list("Action");
        let grants = |wanted: &str| actions.iter().any(|pattern| action_matches(pattern, wanted));
        let writes: Vec<&str> = BOUNDED_ROLE_WRITES.into_iter().filter(|write| grants(write)).collect();
        if !writes.is_empty() {
            let writes = writes.join(", ");
            let boundary = &rule.boundary;
            match statement.condition("StringEquals", "iam:PermissionsBoundary") {
                None => review.findings.push(Finding::fail(format!(
                    "{label}: grants {writes} without the condition StringEquals iam:PermissionsBoundary = {boundary}"
                ))),
                Some(values) if values.is_empty() || values.iter().any(|value| *value != boundary.as_str()) => {
                    review.findings.push(Finding::fail(format!(
                        "{label}: grants {writes} with iam:PermissionsBoundary [{}], not this environment's boundary \
                         {boundary}",
                        values.join(", ")
                    )));
                }
                Some(_) => review.bounded_statements += 1,
            }
        }
        if !grants(PASS_ROLE) {
            continue;
        }
        match statement.condition("StringEquals", "iam:PassedToService") {
            None => review.findings.push(Finding::fail(format!(
                "{label}: allows iam:PassRole without the condition StringEquals iam:PassedToService = \
                 {PASSED_TO_SERVICE}"
            ))),
            Some(values) => {
                if values.is_empty() || values.iter().any(|value| *value != PASSED_TO_SERVICE) {
                    review.findings.push(Finding::fail(format!(
                        "{label}: allows iam:PassRole to [{}], not only to {PASSED_TO_SERVICE}",
                        values.join(", ")
                    )));
                }
                services.extend(values.into_iter().map(str::to_owned));
            }
        }
        for resource in statement.list("Resource").into_iter().filter(|r| !glob(&rule.function_roles, r)) {
            review.findings.push(Finding::fail(format!(
                "{label}: allows iam:PassRole on {resource}, beyond this environment's stack roles ({})",
                rule.function_roles
            )));
        }
    }
    review.pass_role_services = services.into_iter().collect();
    review.denies = all.iter().filter(|s| s.denies()).map(|s| s.label.clone()).collect();
    let unconditional: Vec<&Statement<'_>> =
        all.iter().filter(|s| s.denies() && !s.body.contains_key("Condition")).collect();
    for (actions, resource, what) in [
        (&CI_ROLE_WRITES[..], &rule.ci_roles, "the CI roles"),
        (&BOUNDARY_WRITES[..], &rule.boundary, "the permissions boundary"),
    ] {
        let open = undenied(&unconditional, actions, resource);
        if !open.is_empty() {
            review.findings.push(Finding::fail(format!(
                "no Deny statement (without a Condition) denies {} on {what} ({resource})",
                open.join(", ")
            )));
        }
    }
    review
}

/// The `actions` no statement of `denies` denies on `resource`.
fn undenied<'a>(denies: &[&Statement<'_>], actions: &[&'a str], resource: &str) -> Vec<&'a str> {
    actions
        .iter()
        .copied()
        .filter(|action| {
            !denies.iter().any(|deny| {
                deny.list("Action").iter().any(|pattern| action_matches(pattern, action))
                    && deny.list("Resource").iter().any(|pattern| glob(pattern, resource))
            })
        })
        .collect()
}

/// Reads the environment's CloudFormation execution role (`ExecutionRoleArn` of its access stack)
/// and holds it to [`analyse_execution`]'s rule, with the access stack's `FunctionBoundaryArn`.
/// Checks: `role`, `bounded_statements`, `pass_role_services`, `denies`.
pub async fn inspect_execution_role(target: &Target) -> Result<Observation> {
    let started = Instant::now();
    let arn = target.execution_role()?;
    let boundary = target.permissions_boundary()?;
    // The access stack is `{project}-ci-{EnvironmentName}`: what precedes EnvironmentName starts
    // every CI role's name, the other environments' included.
    let ci_prefix = target
        .access_stack_name
        .strip_suffix(target.access_scope.name.as_str())
        .filter(|prefix| prefix.ends_with("-ci-"))
        .map_or_else(|| format!("{}-", target.access_stack_name), str::to_owned);
    let rule = ExecutionRule::new(arn, boundary, &target.access_scope.stacks, &ci_prefix).ok_or_else(|| {
        Error::user(format!(
            "the access stack {} answered ExecutionRoleArn {arn}, which is not a role's ARN",
            target.access_stack_name
        ))
    })?;
    let role = role_name(arn);
    let policies = role_policies(&target.aws.iam(), role).await?;
    let review = analyse_execution(&policies, &rule);
    let mut observation = Observation {
        findings: review.findings,
        json: Some(serde_json::json!({ "role": role, "policies": policies })),
        ..Observation::default()
    };
    observation.check("role", role);
    observation.check("bounded_statements", review.bounded_statements);
    observation.check("pass_role_services", review.pass_role_services);
    observation.check("denies", review.denies);
    observation.duration_ms = elapsed_ms(started);
    Ok(observation)
}

/// NotAction, NotResource and wildcard actions of the Allow statements; with `resources`
/// (the stack's names, the actions allowed on `*`), every resource too.
fn statement_findings(policies: &[Policy], resources: Option<(&[String], &[&str])>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for statement in statements(policies).iter().filter(|s| s.allows()) {
        let label = &statement.label;
        if statement.body.contains_key("NotAction") {
            findings.push(Finding::fail(format!(
                "{label}: NotAction allows every action but those it lists; name the actions instead"
            )));
        }
        if statement.body.contains_key("NotResource") {
            findings.push(Finding::fail(format!(
                "{label}: NotResource allows every resource but those it lists; name the resources instead"
            )));
        }
        let actions = statement.list("Action");
        for action in actions.iter().filter(|a| is_wildcard(a)) {
            findings.push(Finding::fail(format!("{label}: wildcard action {action}")));
        }
        let Some((stack_names, allow_star)) = resources else { continue };
        for resource in statement.list("Resource") {
            if resource == "*" {
                let bound: Vec<&str> = actions
                    .iter()
                    .copied()
                    .filter(|action| !allow_star.iter().any(|free| free.eq_ignore_ascii_case(action)))
                    .collect();
                if !bound.is_empty() {
                    findings.push(Finding::fail(format!(
                        "{label}: Resource \"*\" for {} (only actions without resource-level permissions may have it)",
                        bound.join(", ")
                    )));
                }
            } else if !is_aws_owned(resource) && !is_of_this_stack(resource, stack_names) {
                findings.push(Finding::fail(format!("{label}: {resource} is not one of this stack's resources")));
            }
        }
    }
    findings
}

/// Granted vs needed: each needed action no statement grants (`missing: ACTION (why)`), each
/// granted action nothing needs (`extra: ACTION`).
fn coverage_findings(policies: &[Policy], needed: &[(&str, String)]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let granted = granted(policies);
    for (action, why) in needed {
        if !granted.iter().any(|pattern| action_matches(pattern, action)) {
            findings.push(Finding::fail(format!("missing: {action} ({why})")));
        }
    }
    for action in &granted {
        if !needed.iter().any(|(need, _)| need.eq_ignore_ascii_case(action)) {
            findings.push(Finding::fail(format!("extra: {action}")));
        }
    }
    findings
}

fn is_wildcard(action: &str) -> bool {
    action.contains(['*', '?'])
}

/// Whether IAM's `pattern` (`*` any run of characters, `?` one; case-insensitive) matches `action`.
fn action_matches(pattern: &str, action: &str) -> bool {
    glob(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase())
}

/// Whether IAM's `pattern` (`*` any run of characters, `?` one) matches `text`, case-sensitively
/// (a resource's ARN). A `text` that is itself a pattern is matched as written, so `pattern` covers
/// it: `role/twin-ci-*` matches `role/twin-ci-*` and `role/twin-ci-staging-*`, while
/// `role/twin-staging-*` does not match `role/*`; `?` does not match a `*` of `text`, which may
/// stand for many characters.
fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Iterative glob matching with one backtrack point (the last `*`).
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && (pattern[p] == text[t] || (pattern[p] == '?' && text[t] != '*')) {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// Resources AWS owns, which no stack creates: Bedrock's foundation models and its
/// (system-defined) inference profiles.
fn is_aws_owned(resource: &str) -> bool {
    let parts: Vec<&str> = resource.splitn(6, ':').collect();
    matches!(
        parts.as_slice(),
        ["arn", _, "bedrock", _, _, rest] if rest.starts_with("foundation-model/") || rest.starts_with("inference-profile/")
    )
}

/// Whether `resource` names one of the stack's resources: it holds one of `stack_names` as a
/// whole segment (between the start or `:` or `/`, and the end or `:` or `/`), so
/// `arn:aws:s3:::BUCKET/sessions/*` and `…:log-group:GROUP:*` are the stack's, while
/// `arn:aws:s3:::BUCKET*` or `arn:aws:s3:::*` are not.
fn is_of_this_stack(resource: &str, stack_names: &[String]) -> bool {
    let boundary = |c: Option<char>| c.is_none_or(|c| c == ':' || c == '/');
    stack_names.iter().filter(|name| !name.is_empty()).any(|name| {
        resource.match_indices(name.as_str()).any(|(at, _)| {
            boundary(resource[..at].chars().next_back()) && boundary(resource[at + name.len()..].chars().next())
        })
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use twin_runtime::permissions::{NEEDED, needed_for};

    use super::*;

    const FUNCTION: &str = "twin-staging-api";
    const BUCKET: &str = "twin-staging-data-memorybucket-1a2b3c";
    const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:twin/staging/llm-api-key-AbCdEf";
    const ORIGIN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:twin/staging/origin-verify-GhIjKl";
    const KEY: &str = "arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    const LOG_GROUP: &str = "/aws/lambda/twin-staging-api";

    fn stack_names() -> Vec<String> {
        [FUNCTION, BUCKET, SECRET, ORIGIN, KEY, LOG_GROUP].map(str::to_owned).to_vec()
    }

    fn inline(document: Value) -> Vec<Policy> {
        vec![Policy { name: "twin-runtime".to_owned(), managed: false, document }]
    }

    #[test]
    fn a_ci_role_is_held_to_the_declared_actions_by_name() {
        let declared: BTreeSet<&str> = ["s3:GetObject", "lambda:GetAlias"].into_iter().collect();
        let exact = inline(json!({"Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "lambda:GetAlias"], "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Deny", "Action": "iam:*", "Resource": "*"}
        ]}));
        assert!(analyse_declared(&exact, &declared).is_empty(), "a Deny is not a grant");
        let off = inline(json!({"Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:DeleteObject"], "Resource": "arn:aws:s3:::b/*"}
        ]}));
        let messages: Vec<String> = analyse_declared(&off, &declared).into_iter().map(|f| f.message).collect();
        assert!(messages.iter().any(|m| m.starts_with("missing: lambda:GetAlias")), "{messages:?}");
        assert!(messages.contains(&"extra: s3:DeleteObject".to_owned()), "{messages:?}");
        let wild = inline(json!({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}));
        let messages: Vec<String> = analyse_declared(&wild, &declared).into_iter().map(|f| f.message).collect();
        assert!(messages.iter().any(|m| m.contains("NotAction")), "{messages:?}");
    }

    /// templates/twin.yaml's FunctionRole policy as CloudFormation resolves it (bedrock).
    fn function_role_policy() -> Value {
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": format!("arn:aws:logs:eu-west-1:123456789012:log-group:{LOG_GROUP}:*")},
            {"Sid": "ReadWriteConversations", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
             "Resource": format!("arn:aws:s3:::{BUCKET}/sessions/*")},
            {"Sid": "ReadPersona", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": format!("arn:aws:s3:::{BUCKET}/persona/me.txt")},
            {"Sid": "TellMissingFromForbidden", "Effect": "Allow", "Action": "s3:ListBucket",
             "Resource": format!("arn:aws:s3:::{BUCKET}")},
            {"Sid": "ReadOwnSecrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
             "Resource": [SECRET, ORIGIN]},
            {"Sid": "DecryptOwnSecretOnly", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY,
             "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}}},
            {"Sid": "InvokeConfiguredModel", "Effect": "Allow",
             "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
             "Resource": "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"}
        ]})
    }

    fn bedrock() -> Vec<Needed> {
        needed_for("bedrock").copied().collect()
    }

    fn messages(findings: &[Finding]) -> Vec<String> {
        findings.iter().map(|f| f.message.clone()).collect()
    }

    #[test]
    fn the_function_role_as_the_template_writes_it_passes() {
        let findings = analyse(&inline(function_role_policy()), &bedrock(), &stack_names(), FUNCTION_ALLOW_STAR);
        assert!(findings.is_empty(), "{:#?}", messages(&findings));
        assert_eq!(granted(&inline(function_role_policy())).len(), NEEDED.len());
    }

    #[test]
    fn a_service_wildcard_fails_and_names_the_extra_and_the_missing_actions() {
        let mut policy = function_role_policy();
        policy["Statement"][1]["Action"] = json!(["s3:*", "s3:DeleteObject"]);
        let findings = messages(&analyse(&inline(policy), &bedrock(), &stack_names(), FUNCTION_ALLOW_STAR));
        assert!(
            findings
                .contains(&"policy twin-runtime, statement ReadWriteConversations: wildcard action s3:*".to_owned()),
            "{findings:#?}"
        );
        assert!(findings.contains(&"extra: s3:*".to_owned()), "{findings:#?}");
        assert!(findings.contains(&"extra: s3:DeleteObject".to_owned()), "{findings:#?}");
        assert!(
            !findings.iter().any(|f| f.starts_with("missing: s3:PutObject")),
            "s3:* grants PutObject: not missing, {findings:#?}"
        );

        let mut policy = function_role_policy();
        policy["Statement"][1]["Action"] = json!(["s3:GetObject", "s3:DeleteObject"]);
        let findings = messages(&analyse(&inline(policy), &bedrock(), &stack_names(), FUNCTION_ALLOW_STAR));
        assert_eq!(findings, ["missing: s3:PutObject (called: store a turn)", "extra: s3:DeleteObject"]);
    }

    #[test]
    fn not_action_and_not_resource_fail() {
        let mut policy = function_role_policy();
        policy["Statement"].as_array_mut().expect("statements").push(json!({
            "Effect": "Allow", "NotAction": "iam:*", "NotResource": format!("arn:aws:s3:::{BUCKET}")
        }));
        let findings = messages(&analyse(&inline(policy), &bedrock(), &stack_names(), FUNCTION_ALLOW_STAR));
        assert_eq!(findings.len(), 2, "{findings:#?}");
        assert!(findings[0].starts_with("policy twin-runtime, statement #8: NotAction"), "{findings:#?}");
        assert!(findings[1].starts_with("policy twin-runtime, statement #8: NotResource"), "{findings:#?}");
    }

    #[test]
    fn resources_must_be_the_stacks_or_aws_owned_models() {
        let mut policy = function_role_policy();
        policy["Statement"][1]["Resource"] = json!(["arn:aws:s3:::twin-staging-data-memorybucket-*/sessions/*"]);
        policy["Statement"][6]["Resource"] = json!([
            "arn:aws:bedrock:*::foundation-model/*",
            "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0"
        ]);
        policy["Statement"][4]["Resource"] =
            json!([SECRET, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:other"]);
        let findings = messages(&analyse(&inline(policy), &bedrock(), &stack_names(), FUNCTION_ALLOW_STAR));
        assert_eq!(
            findings,
            [
                "policy twin-runtime, statement ReadWriteConversations: arn:aws:s3:::twin-staging-data-memorybucket-*/sessions/* is not one of this stack's resources",
                "policy twin-runtime, statement ReadOwnSecrets: arn:aws:secretsmanager:eu-west-1:123456789012:secret:other is not one of this stack's resources",
            ]
        );
        assert!(is_of_this_stack(&format!("arn:aws:s3:::{BUCKET}"), &stack_names()));
        assert!(!is_of_this_stack(&format!("arn:aws:s3:::{BUCKET}*"), &stack_names()));
        assert!(!is_of_this_stack(
            "arn:aws:lambda:eu-west-1:123456789012:function:twin-staging-api-other",
            &stack_names()
        ));
        assert!(!is_aws_owned("arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/x"));
    }

    #[test]
    fn resource_star_passes_only_for_actions_without_resource_level_permissions() {
        let mut policy = function_role_policy();
        policy["Statement"][0]["Resource"] = json!("*");
        let findings = messages(&analyse(&inline(policy.clone()), &bedrock(), &stack_names(), FUNCTION_ALLOW_STAR));
        assert_eq!(
            findings,
            [
                "policy twin-runtime, statement WriteOwnLogs: Resource \"*\" for logs:CreateLogStream, logs:PutLogEvents (only actions without resource-level permissions may have it)"
            ]
        );
        let free = ["logs:CreateLogStream", "logs:PutLogEvents"];
        assert!(analyse(&inline(policy), &bedrock(), &stack_names(), &free).is_empty());
    }

    #[test]
    fn a_provider_only_action_is_needed_only_with_that_provider() {
        let openai: Vec<Needed> = needed_for("openai").copied().collect();
        let findings = messages(&analyse(&inline(function_role_policy()), &openai, &stack_names(), &[]));
        assert_eq!(findings, ["extra: bedrock:InvokeModel", "extra: bedrock:InvokeModelWithResponseStream"]);
    }

    #[test]
    fn an_attached_policy_counts_and_is_named_by_its_arn() {
        let mut policies = inline(function_role_policy());
        policies.push(Policy {
            name: "arn:aws:iam::aws:policy/AdministratorAccess".to_owned(),
            managed: true,
            document: json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}),
        });
        let findings = messages(&analyse(&policies, &bedrock(), &stack_names(), &[]));
        assert_eq!(
            findings,
            [
                "attached policy arn:aws:iam::aws:policy/AdministratorAccess, statement #1: wildcard action *",
                "attached policy arn:aws:iam::aws:policy/AdministratorAccess, statement #1: Resource \"*\" for * (only actions without resource-level permissions may have it)",
                "extra: *",
            ]
        );
    }

    const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/twin-ci-staging-cfn-eu-west-1";
    const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/twin-ci-staging-boundary-eu-west-1";
    const STAGING_ROLES: &str = "arn:aws:iam::123456789012:role/twin-staging-*";

    fn execution_rule() -> ExecutionRule {
        ExecutionRule::new(EXECUTION_ROLE, BOUNDARY, "twin-staging", "twin-ci-").expect("a role ARN")
    }

    /// templates/environment-access.yaml's ExecutionRole for staging as CloudFormation resolves
    /// it: the statements the rule reads, and two it has nothing to say about.
    fn execution_policies() -> Vec<Policy> {
        let manage = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Functions", "Effect": "Allow", "Action": ["lambda:CreateFunction", "lambda:GetFunction"],
             "Resource": "arn:aws:lambda:eu-west-1:123456789012:function:twin-staging-*"},
            {"Sid": "BoundedRoles", "Effect": "Allow",
             "Action": ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary",
                        "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole"],
             "Resource": STAGING_ROLES,
             "Condition": {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY}}},
            {"Sid": "Roles", "Effect": "Allow", "Action": ["iam:GetRole", "iam:GetRolePolicy", "iam:TagRole"],
             "Resource": STAGING_ROLES},
            {"Sid": "PassFunctionRoles", "Effect": "Allow", "Action": "iam:PassRole", "Resource": STAGING_ROLES,
             "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}}
        ]});
        let never = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "DenyChangingCiRoles", "Effect": "Deny",
             "Action": ["iam:CreateRole", "iam:DeleteRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
                        "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary",
                        "iam:DeleteRolePermissionsBoundary", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole",
                        "iam:TagRole", "iam:UntagRole"],
             "Resource": "arn:aws:iam::123456789012:role/twin-ci-*"},
            {"Sid": "DenyChangingBoundaries", "Effect": "Deny",
             "Action": ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
                        "iam:SetDefaultPolicyVersion"],
             "Resource": "arn:aws:iam::123456789012:policy/twin-ci-*"}
        ]});
        vec![
            Policy { name: "manage-twin-stack-resources".to_owned(), managed: false, document: manage },
            Policy { name: "never-touch-the-ci-roles".to_owned(), managed: false, document: never },
        ]
    }

    /// Statement `sid` of `policies`.
    fn statement<'a>(policies: &'a mut [Policy], sid: &str) -> &'a mut Value {
        for policy in policies.iter_mut() {
            if let Some(list) = policy.document["Statement"].as_array_mut()
                && let Some(found) = list.iter_mut().find(|s| s["Sid"] == sid)
            {
                return found;
            }
        }
        panic!("the fixture has no statement {sid}");
    }

    fn without(policies: &mut [Policy], sid: &str) {
        for policy in policies.iter_mut() {
            if let Some(list) = policy.document["Statement"].as_array_mut() {
                list.retain(|s| s["Sid"] != sid);
            }
        }
    }

    /// The findings over the template's policies once `change` has been made to them.
    fn execution_findings(change: impl FnOnce(&mut [Policy])) -> Vec<String> {
        let mut policies = execution_policies();
        change(policies.as_mut_slice());
        messages(&analyse_execution(&policies, &execution_rule()).findings)
    }

    #[test]
    fn the_execution_role_as_the_template_writes_it_passes() {
        let rule = execution_rule();
        assert_eq!(rule.function_roles, STAGING_ROLES);
        assert_eq!(rule.ci_roles, "arn:aws:iam::123456789012:role/twin-ci-*");
        let review = analyse_execution(&execution_policies(), &rule);
        assert!(review.findings.is_empty(), "{:#?}", messages(&review.findings));
        assert_eq!(review.bounded_statements, 1);
        assert_eq!(review.pass_role_services, ["lambda.amazonaws.com"]);
        assert_eq!(
            review.denies,
            [
                "policy never-touch-the-ci-roles, statement DenyChangingCiRoles",
                "policy never-touch-the-ci-roles, statement DenyChangingBoundaries",
            ]
        );
        // The previews' access stack: TwinStackName is itself a pattern.
        let previews = ExecutionRule::new(
            "arn:aws:iam::123456789012:role/twin-ci-pr-cfn-eu-west-1",
            BOUNDARY,
            "twin-pr-*",
            "twin-ci-",
        )
        .expect("a role ARN");
        assert_eq!(previews.function_roles, "arn:aws:iam::123456789012:role/twin-pr-*-*");
        assert!(glob(&previews.function_roles, "arn:aws:iam::123456789012:role/twin-pr-*-*"));
        assert!(!glob(&previews.function_roles, "arn:aws:iam::123456789012:role/twin-*"));
        assert!(ExecutionRule::new("twin-ci-staging-cfn-eu-west-1", BOUNDARY, "twin-staging", "twin-ci-").is_none());
    }

    #[test]
    fn a_role_write_without_the_boundary_condition_fails() {
        let findings = execution_findings(|policies| {
            let list = policies[0].document["Statement"].as_array_mut().expect("statements");
            list.push(
                json!({"Sid": "MoreRoles", "Effect": "Allow", "Action": "iam:CreateRole", "Resource": STAGING_ROLES}),
            );
        });
        assert_eq!(
            findings,
            [format!(
                "policy manage-twin-stack-resources, statement MoreRoles: grants iam:CreateRole without the condition \
                 StringEquals iam:PermissionsBoundary = {BOUNDARY}"
            )]
        );
        let findings = execution_findings(|policies| {
            let bounded = statement(policies, "BoundedRoles");
            assert!(bounded.as_object_mut().expect("a statement").remove("Condition").is_some());
        });
        assert_eq!(
            findings,
            [format!(
                "policy manage-twin-stack-resources, statement BoundedRoles: grants iam:CreateRole, iam:PutRolePolicy, \
                 iam:DeleteRolePolicy, iam:PutRolePermissionsBoundary without the condition StringEquals \
                 iam:PermissionsBoundary = {BOUNDARY}"
            )]
        );
    }

    #[test]
    fn a_role_write_bounded_by_another_boundary_fails() {
        let other = "arn:aws:iam::123456789012:policy/twin-ci-production-boundary-eu-west-1";
        let findings = execution_findings(|policies| {
            statement(policies, "BoundedRoles")["Condition"]["StringEquals"]["iam:PermissionsBoundary"] = json!(other);
        });
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert!(
            findings[0]
                .starts_with("policy manage-twin-stack-resources, statement BoundedRoles: grants iam:CreateRole"),
            "{findings:#?}"
        );
        assert!(
            findings[0].ends_with(&format!(
                "with iam:PermissionsBoundary [{other}], not this environment's boundary {BOUNDARY}"
            )),
            "{findings:#?}"
        );
    }

    #[test]
    fn pass_role_must_name_lambda_and_the_stacks_roles() {
        let label = "policy manage-twin-stack-resources, statement PassFunctionRoles";
        let findings = execution_findings(|policies| {
            let pass = statement(policies, "PassFunctionRoles");
            assert!(pass.as_object_mut().expect("a statement").remove("Condition").is_some());
        });
        assert_eq!(
            findings,
            [format!(
                "{label}: allows iam:PassRole without the condition StringEquals iam:PassedToService = \
                 lambda.amazonaws.com"
            )]
        );

        let mut policies = execution_policies();
        statement(&mut policies, "PassFunctionRoles")["Condition"]["StringEquals"]["iam:PassedToService"] =
            json!("cloudformation.amazonaws.com");
        let review = analyse_execution(&policies, &execution_rule());
        assert_eq!(
            messages(&review.findings),
            [format!(
                "{label}: allows iam:PassRole to [cloudformation.amazonaws.com], not only to lambda.amazonaws.com"
            )]
        );
        assert_eq!(review.pass_role_services, ["cloudformation.amazonaws.com"]);

        let findings = execution_findings(|policies| {
            statement(policies, "PassFunctionRoles")["Resource"] = json!("arn:aws:iam::123456789012:role/*");
        });
        assert_eq!(
            findings,
            [format!(
                "{label}: allows iam:PassRole on arn:aws:iam::123456789012:role/*, beyond this environment's stack \
                 roles ({STAGING_ROLES})"
            )]
        );
    }

    #[test]
    fn the_ci_roles_and_the_boundary_must_be_denied() {
        let findings = execution_findings(|policies| without(policies, "DenyChangingCiRoles"));
        assert_eq!(
            findings,
            ["no Deny statement (without a Condition) denies iam:PutRolePolicy, iam:AttachRolePolicy, \
                 iam:UpdateAssumeRolePolicy on the CI roles (arn:aws:iam::123456789012:role/twin-ci-*)"]
        );
        // A Deny on the deploy roles alone leaves the other CI roles open.
        let findings = execution_findings(|policies| {
            statement(policies, "DenyChangingCiRoles")["Resource"] =
                json!("arn:aws:iam::123456789012:role/twin-ci-*-deploy-*");
        });
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert!(findings[0].contains("on the CI roles"), "{findings:#?}");

        let findings = execution_findings(|policies| without(policies, "DenyChangingBoundaries"));
        assert_eq!(
            findings,
            [format!(
                "no Deny statement (without a Condition) denies iam:CreatePolicyVersion, iam:DeletePolicy, \
                 iam:DeletePolicyVersion, iam:SetDefaultPolicyVersion on the permissions boundary ({BOUNDARY})"
            )]
        );
        // A Deny that holds only under a condition does not count.
        let findings = execution_findings(|policies| {
            statement(policies, "DenyChangingBoundaries")["Condition"] =
                json!({"StringEquals": {"aws:RequestedRegion": "eu-west-1"}});
        });
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert!(findings[0].contains("on the permissions boundary"), "{findings:#?}");
    }

    #[test]
    fn a_service_wildcard_in_the_execution_role_fails() {
        let findings = execution_findings(|policies| {
            let list = policies[0].document["Statement"].as_array_mut().expect("statements");
            list.push(json!({"Sid": "Everything", "Effect": "Allow", "Action": "iam:*", "Resource": STAGING_ROLES}));
        });
        assert!(
            findings.contains(
                &"policy manage-twin-stack-resources, statement Everything: wildcard action iam:*".to_owned()
            ),
            "{findings:#?}"
        );
        // iam:* grants every role write and iam:PassRole, unbounded and to any service.
        assert!(
            findings.iter().any(|f| f.starts_with(
                "policy manage-twin-stack-resources, statement Everything: grants \
                 iam:CreateRole, iam:PutRolePolicy, iam:DeleteRolePolicy, iam:AttachRolePolicy"
            )),
            "{findings:#?}"
        );
        assert!(
            findings.iter().any(|f| f.contains("statement Everything: allows iam:PassRole without the condition")),
            "{findings:#?}"
        );
    }

    #[test]
    fn documents_are_url_decoded_when_encoded() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGetObject%22%2C%22Resource%22%3A%22arn%3Aaws%3As3%3A%3A%3Ab%2F%2A%22%7D%5D%7D";
        let document = parse_document(encoded).expect("decoded");
        assert_eq!(document["Statement"][0]["Resource"], "arn:aws:s3:::b/*");
        assert_eq!(parse_document(r#"{"Statement": []}"#).expect("plain"), json!({"Statement": []}));
        assert!(parse_document("%7Bnot").is_err());
    }

    #[test]
    fn names_and_globs() {
        assert_eq!(
            role_name("arn:aws:iam::123456789012:role/service/twin-staging-FunctionRole-X1"),
            "twin-staging-FunctionRole-X1"
        );
        assert_eq!(role_name("twin-staging-FunctionRole-X1"), "twin-staging-FunctionRole-X1");
        assert!(action_matches("s3:*", "s3:PutObject"));
        assert!(action_matches("S3:get*", "s3:GetObject"));
        assert!(action_matches("s3:?etObject", "s3:GetObject"));
        assert!(!action_matches("s3:Get*", "s3:PutObject"));
        assert!(action_matches("*", "kms:Decrypt"));
        assert!(!action_matches("s3:GetObject", "s3:GetObjectVersion"));
        assert!(glob("arn:aws:iam::1:role/twin-ci-*", "arn:aws:iam::1:role/twin-ci-staging-cfn-eu-west-1"));
        assert!(glob("arn:aws:iam::1:role/twin-ci-*", "arn:aws:iam::1:role/twin-ci-*"));
        assert!(glob("a*b", "a*xb"));
        assert!(!glob("arn:aws:iam::1:role/twin-ci-?", "arn:aws:iam::1:role/twin-ci-*"));
        assert!(!glob("arn:aws:iam::1:role/Twin-*", "arn:aws:iam::1:role/twin-ci-x"));
    }
}
