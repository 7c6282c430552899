//! What every command receives: the configuration, the printer and the global flags, and the
//! one place an AWS `SdkConfig` is made (region, profile and endpoint from flags, then the
//! environment's configuration). Clients are built from it, never from the process
//! environment deep inside a command.

use anyhow::Context as _;
use aws_config::{BehaviorVersion, Region};

use crate::cli::Global;
use crate::config::{Config, Environment};
use crate::error::{Error, Result};
use crate::output::Printer;

#[derive(Debug)]
pub struct Context {
    pub config: Config,
    pub printer: Printer,
    pub global: Global,
}

/// The AWS clients of one environment.
#[derive(Debug, Clone)]
pub struct Aws {
    pub sdk: aws_config::SdkConfig,
    pub region: String,
    pub endpoint_url: Option<String>,
}

impl Aws {
    pub fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.sdk)
    }

    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.sdk)
    }

    pub fn cloudfront(&self) -> aws_sdk_cloudfront::Client {
        aws_sdk_cloudfront::Client::new(&self.sdk)
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.sdk)
    }

    /// Path-style addressing against an endpoint override: `bucket.127.0.0.1` does not resolve.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk).force_path_style(self.endpoint_url.is_some()).build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

impl Context {
    pub async fn aws(&self, environment: &Environment) -> Result<Aws> {
        let region = self.global.region.clone().unwrap_or_else(|| environment.region.clone());
        let endpoint_url = self.global.endpoint_url.clone().or_else(|| environment.endpoint_url.clone());
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.clone()));
        if let Some(profile) = &self.global.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &endpoint_url {
            loader = loader.endpoint_url(url);
            // The emulator accepts any credentials; a machine without any should still work.
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && self.global.profile.is_none() {
                loader = loader.credentials_provider(aws_sdk_sts::config::Credentials::new(
                    "emulator",
                    "emulator",
                    None,
                    None,
                    "twinctl-emulator",
                ));
            }
        }
        Ok(Aws { sdk: loader.load().await, region, endpoint_url })
    }

    /// Who is deploying, as STS sees it; a clear message when there are no credentials.
    pub async fn caller(&self, aws: &Aws) -> Result<Caller> {
        let identity = aws.sts().get_caller_identity().send().await.map_err(|e| {
            let text = aws_sdk_sts::error::DisplayErrorContext(&e).to_string();
            // The SDK reports a missing credential chain as a dispatch failure; only its text tells.
            if text.contains("CredentialsNotLoaded") || text.contains("no providers in chain provided credentials") {
                Error::user_with_hint(
                    "no AWS credentials found",
                    "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or pass --profile",
                )
            } else {
                Error::Internal(anyhow::anyhow!("failed to get the caller identity from STS: {text}"))
            }
        })?;
        Ok(Caller {
            account: identity.account().context("STS answered without an account").map_err(Error::Internal)?.to_owned(),
            arn: identity.arn().unwrap_or_default().to_owned(),
        })
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Caller {
    pub account: String,
    pub arn: String,
}
