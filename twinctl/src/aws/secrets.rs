//! The one secret twinctl reads: the value CloudFront sends the API origin as
//! `X-Origin-Verify`, so that the smoke test and canary probes, which invoke the function
//! directly, carry it as CloudFront would (outside local the runtime refuses requests without it).
//! Must not: print, log or serialize the value.

use crate::aws::SdkContext;
use crate::error::{Error, Result};

/// The header CloudFront adds (the runtime's `origin::HEADER`).
pub const ORIGIN_HEADER: &str = "x-origin-verify";

/// The header's value; its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct OriginSecret(String);

impl OriginSecret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn value(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for OriginSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OriginSecret(..)")
    }
}

/// The current value of the origin secret `secret_id` (the stack's OriginVerifySecretArn).
pub async fn origin_secret(client: &aws_sdk_secretsmanager::Client, secret_id: &str) -> Result<OriginSecret> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .sdk_context(|| format!("failed to read the origin secret {secret_id}"))?;
    output
        .secret_string()
        .map(|value| OriginSecret::new(value.trim().to_owned()))
        .filter(|secret| !secret.value().is_empty())
        .ok_or_else(|| Error::user(format!("the origin secret {secret_id} has no string value")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_value() {
        assert_eq!(format!("{:?}", OriginSecret::new("s3cr3t".into())), "OriginSecret(..)");
    }
}
