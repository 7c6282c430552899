//! One environment, resolved once when a command starts: its configuration, its AWS clients,
//! its stack and bootstrap stack names, and what exists now — the artifacts bucket, the stack
//! and its outputs, the live version. Every command takes a [`Target`]; nobody looks the
//! environment up again.
//!
//! Fields that may not exist yet are `Option`s: bootstrap runs before the artifacts bucket
//! exists, a first deploy before the stack has outputs or the function an alias.
//! Must not: change anything in AWS.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::types::Stack;

use crate::artifacts;
use crate::aws::{self, Aws, Connection};
use crate::config::{AccessScope, Architecture, Environment};
use crate::context::Context;
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub environment: Environment,
    pub architecture: Architecture,
    pub aws: Aws,
    pub stack_name: String,
    /// The stack of the environment's data (`{stack}-data`), kept by `twinctl destroy`.
    pub data_stack_name: String,
    pub bootstrap_stack_name: String,
    /// The environment's CI roles (`{project}-ci-{environment}`; every preview shares
    /// `{project}-ci-{prefix}`).
    pub access_stack_name: String,
    /// What the access stack covers: this environment, or every preview (its parameters).
    pub access_scope: AccessScope,
    /// None until `twinctl bootstrap` has run.
    pub artifacts_bucket: Option<String>,
    /// The access stack's outputs (ExecutionRoleArn, FunctionBoundaryArn, DeployRoleArn); empty
    /// until `twinctl bootstrap` has run.
    pub access: BTreeMap<String, String>,
    /// None before the first deploy (a REVIEW_IN_PROGRESS shell counts as none).
    pub stack: Option<Stack>,
    pub outputs: BTreeMap<String, String>,
    /// None before the first deploy, and after `destroy --delete-data`.
    pub data_stack: Option<Stack>,
    /// The data stack's outputs, each passed to the stack's parameter of the same name.
    pub data_outputs: BTreeMap<String, String>,
    /// The version the `live` alias points to; None before the first smoke-tested version.
    pub live_version: Option<String>,
    /// The release a deploy is making, before it is recorded: what `deploy --verify` tests, so the
    /// `lambda` step compares the live alias with it rather than with the release it replaces.
    pub release_under_test: Option<crate::release::Release>,
}

impl Context {
    /// Resolves environment `name`: reads the bootstrap stack, the stack and the alias.
    pub async fn target(&self, name: &str) -> Result<Target> {
        let environment = self.config.environment(name)?;
        let connection = Connection {
            region: self.global.region.clone().unwrap_or_else(|| environment.region.clone()),
            endpoint_url: self.global.endpoint_url.clone().or_else(|| environment.endpoint_url.clone()),
            profile: self.global.profile.clone(),
        };
        let aws = Aws::connect(connection).await;
        let stack_name = self.config.stack_name(name, &environment);
        let data_stack_name = self.config.data_stack_name(name, &environment);
        let bootstrap_stack_name = self.config.bootstrap_stack_name(&environment);
        let cfn = aws.cloudformation();
        let artifacts_bucket = match aws::stack::describe(&cfn, &bootstrap_stack_name).await? {
            Some(bootstrap) if aws::stack::state(Some(&bootstrap)) != aws::stack::StackState::Missing => {
                Some(artifacts::bucket_from_outputs(&bootstrap_stack_name, &aws::stack::outputs(&bootstrap))?)
            }
            _ => None,
        };
        let access_stack_name = self.config.access_stack_name(name);
        let access_scope = self.config.access_scope(name, &environment);
        let access = match aws::stack::describe(&cfn, &access_stack_name).await? {
            Some(access) if aws::stack::state(Some(&access)) != aws::stack::StackState::Missing => {
                aws::stack::outputs(&access)
            }
            _ => BTreeMap::new(),
        };
        let (stack, outputs, live_version) = current_state(&aws, &stack_name).await?;
        let data_stack = existing(&aws, &data_stack_name).await?;
        let data_outputs = data_stack.as_ref().map(aws::stack::outputs).unwrap_or_default();
        Ok(Target {
            name: name.to_owned(),
            architecture: self.config.architecture(&environment),
            environment,
            aws,
            stack_name,
            data_stack_name,
            bootstrap_stack_name,
            access_stack_name,
            access_scope,
            artifacts_bucket,
            access,
            stack,
            outputs,
            data_stack,
            data_outputs,
            live_version,
            release_under_test: None,
        })
    }
}

/// A stack, unless missing (a REVIEW_IN_PROGRESS shell counts as none).
async fn existing(aws: &Aws, stack_name: &str) -> Result<Option<Stack>> {
    Ok(aws::stack::describe(&aws.cloudformation(), stack_name)
        .await?
        .filter(|s| aws::stack::state(Some(s)) != aws::stack::StackState::Missing))
}

/// The stack, its outputs and the live version.
async fn current_state(
    aws: &Aws,
    stack_name: &str,
) -> Result<(Option<Stack>, BTreeMap<String, String>, Option<String>)> {
    let stack = existing(aws, stack_name).await?;
    let outputs = stack.as_ref().map(aws::stack::outputs).unwrap_or_default();
    let live_version = match outputs.get("FunctionName") {
        Some(function) => aws::lambda::alias_version(&aws.lambda(), function).await?,
        None => None,
    };
    Ok((stack, outputs, live_version))
}

impl Target {
    /// Reads the stack and the live version again: what a command decides under the lock
    /// must not rest on what it read before (another command may have finished meanwhile).
    pub async fn refresh(&mut self) -> Result<()> {
        let (stack, outputs, live_version) = current_state(&self.aws, &self.stack_name).await?;
        (self.stack, self.outputs, self.live_version) = (stack, outputs, live_version);
        let data_stack = existing(&self.aws, &self.data_stack_name).await?;
        self.set_data_stack(data_stack);
        Ok(())
    }

    /// The artifacts bucket, or how to create it.
    pub fn artifacts_bucket(&self) -> Result<&str> {
        self.artifacts_bucket.as_deref().ok_or_else(|| {
            Error::user_with_hint(
                format!("the bootstrap stack {} does not exist in {}", self.bootstrap_stack_name, self.aws.region),
                format!("run `twinctl bootstrap {}` first", self.name),
            )
        })
    }

    /// The role CloudFormation acts with for this environment's stack (every change set's
    /// RoleARN), or how to create it.
    pub fn execution_role(&self) -> Result<&str> {
        self.access_output("ExecutionRoleArn")
    }

    /// A change set for the environment's stack: every one runs as its execution role.
    pub fn stack_change<'a>(
        &'a self,
        template: &'a aws::stack::TemplateSource,
        parameters: &'a BTreeMap<String, String>,
    ) -> Result<aws::stack::Proposal<'a>> {
        Ok(aws::stack::Proposal::new(template, parameters).as_role(Some(self.execution_role()?)))
    }

    /// The permissions boundary every role of the environment's stack must carry.
    pub fn permissions_boundary(&self) -> Result<&str> {
        self.access_output("FunctionBoundaryArn")
    }

    fn access_output(&self, key: &str) -> Result<&str> {
        self.access.get(key).map(String::as_str).ok_or_else(|| {
            Error::user_with_hint(
                format!(
                    "the access stack {} (the environment's CloudFormation role) has no {key} output in {}",
                    self.access_stack_name, self.aws.region
                ),
                format!("run `twinctl bootstrap {}` first", self.name),
            )
        })
    }

    /// CloudFront's origin header value, read from the stack's secret (None for a stack from
    /// before the header existed): direct invocations carry it as CloudFront would.
    pub async fn origin_secret(&self) -> Result<Option<aws::secrets::OriginSecret>> {
        match self.outputs.get("OriginVerifySecretArn") {
            Some(arn) => Ok(Some(aws::secrets::origin_secret(&self.aws.secretsmanager(), arn).await?)),
            None => Ok(None),
        }
    }

    /// A stack output of a deployed environment, or how to deploy it.
    pub fn output(&self, key: &str) -> Result<&str> {
        self.outputs.get(key).map(String::as_str).ok_or_else(|| {
            Error::user_with_hint(
                format!("{} is not deployed (its stack has no {key} output)", self.stack_name),
                format!("run `twinctl deploy {}` first", self.name),
            )
        })
    }

    /// Refreshes the data stack and its outputs after it changed (None: deleted).
    pub fn set_data_stack(&mut self, stack: Option<Stack>) {
        self.data_outputs = stack.as_ref().map(aws::stack::outputs).unwrap_or_default();
        self.data_stack = stack;
    }

    /// Refreshes the stack and its outputs after the stack changed.
    pub fn set_stack(&mut self, stack: Stack) {
        self.outputs = aws::stack::outputs(&stack);
        self.stack = Some(stack);
    }
}
