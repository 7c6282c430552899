//! The AWS layer: the one place clients are made, SDK errors get their context, and errors are
//! classified; per-service helpers below it (`stack`, `lambda`, `s3`, `cdn`).
//!
//! Must not: know about environments, bundles or releases; it takes names and returns facts.

pub mod cdn;
pub mod error;
pub mod lambda;
pub mod permissions;
pub mod requests;
pub mod s3;
pub mod secrets;
pub mod stack;

use aws_config::{BehaviorVersion, Region};

use crate::error::{Error, Result};
pub use error::{SdkContext, is_not_found, is_precondition_failed, is_throttling};

/// The AWS clients of one environment: one `SdkConfig`, clients made from it.
#[derive(Debug, Clone)]
pub struct Aws {
    pub sdk: aws_config::SdkConfig,
    pub region: String,
    /// An emulator's endpoint; None on AWS.
    pub endpoint_url: Option<String>,
    /// Every request its clients sent, by service.
    pub requests: requests::RequestCount,
}

/// Where to connect: flags first, then the environment's configuration.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub region: String,
    pub endpoint_url: Option<String>,
    pub profile: Option<String>,
}

impl Aws {
    pub async fn connect(connection: Connection) -> Self {
        let Connection { region, endpoint_url, profile } = connection;
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.clone()));
        if let Some(profile) = &profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &endpoint_url {
            loader = loader.endpoint_url(url);
            // The emulator accepts any credentials; a machine without any should still work.
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && profile.is_none() {
                loader = loader.credentials_provider(aws_sdk_sts::config::Credentials::new(
                    "emulator",
                    "emulator",
                    None,
                    None,
                    "twinctl-emulator",
                ));
            }
        }
        Aws { sdk: loader.load().await, region, endpoint_url, requests: requests::RequestCount::default() }
    }

    /// True against the local emulator, which answers at once and runs no code.
    pub fn is_emulator(&self) -> bool {
        self.endpoint_url.is_some()
    }

    pub fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        let config = aws_sdk_cloudformation::config::Builder::from(&self.sdk)
            .interceptor(self.requests.interceptor("cloudformation"))
            .build();
        aws_sdk_cloudformation::Client::from_conf(config)
    }

    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        let config =
            aws_sdk_lambda::config::Builder::from(&self.sdk).interceptor(self.requests.interceptor("lambda")).build();
        aws_sdk_lambda::Client::from_conf(config)
    }

    pub fn cloudfront(&self) -> aws_sdk_cloudfront::Client {
        let config = aws_sdk_cloudfront::config::Builder::from(&self.sdk)
            .interceptor(self.requests.interceptor("cloudfront"))
            .build();
        aws_sdk_cloudfront::Client::from_conf(config)
    }

    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        let config = aws_sdk_cloudwatch::config::Builder::from(&self.sdk)
            .interceptor(self.requests.interceptor("cloudwatch"))
            .build();
        aws_sdk_cloudwatch::Client::from_conf(config)
    }

    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        let config = aws_sdk_cloudwatchlogs::config::Builder::from(&self.sdk)
            .interceptor(self.requests.interceptor("logs"))
            .build();
        aws_sdk_cloudwatchlogs::Client::from_conf(config)
    }

    /// CloudWatch Logs as a function's execution role: a locally run version's log lines are
    /// written with its role's session, as the Lambda service writes them, never with the
    /// deployer's credentials. Its requests are recorded (the emulator tests check them against
    /// `permissions::ON_BEHALF_OF_THE_FUNCTION`) but not counted as twinctl's own.
    pub fn logs_as(&self, credentials: aws_sdk_cloudwatchlogs::config::Credentials) -> aws_sdk_cloudwatchlogs::Client {
        let config = aws_sdk_cloudwatchlogs::config::Builder::from(&self.sdk)
            .credentials_provider(credentials)
            .interceptor(requests::RequestCount::default().interceptor("logs"))
            .build();
        aws_sdk_cloudwatchlogs::Client::from_conf(config)
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        let config =
            aws_sdk_iam::config::Builder::from(&self.sdk).interceptor(self.requests.interceptor("iam")).build();
        aws_sdk_iam::Client::from_conf(config)
    }

    pub fn kms(&self) -> aws_sdk_kms::Client {
        let config =
            aws_sdk_kms::config::Builder::from(&self.sdk).interceptor(self.requests.interceptor("kms")).build();
        aws_sdk_kms::Client::from_conf(config)
    }

    pub fn secretsmanager(&self) -> aws_sdk_secretsmanager::Client {
        let config = aws_sdk_secretsmanager::config::Builder::from(&self.sdk)
            .interceptor(self.requests.interceptor("secretsmanager"))
            .build();
        aws_sdk_secretsmanager::Client::from_conf(config)
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        let config =
            aws_sdk_sts::config::Builder::from(&self.sdk).interceptor(self.requests.interceptor("sts")).build();
        aws_sdk_sts::Client::from_conf(config)
    }

    /// Path-style addressing against an endpoint override: `bucket.127.0.0.1` does not resolve.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(self.endpoint_url.is_some())
            .interceptor(self.requests.interceptor("s3"))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Who is calling, as STS sees it; a clear message when there are no credentials.
    pub async fn caller(&self) -> Result<Caller> {
        let identity = self
            .sts()
            .get_caller_identity()
            .send()
            .await
            .sdk_context(|| "failed to get the caller identity from STS".to_owned())?;
        let account = identity
            .account()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("STS answered without an account")))?
            .to_owned();
        Ok(Caller { account, arn: identity.arn().unwrap_or_default().to_owned() })
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Caller {
    pub account: String,
    pub arn: String,
}
