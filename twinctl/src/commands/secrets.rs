//! `twinctl secrets set|status <env>`: the model's API key in the environment's secret (the
//! stack's `SecretArn` output). The key comes from standard input or a hidden prompt, never
//! from argv; what is printed names the secret and its version, never the key. Before an
//! environment's first deploy, `set` makes its data stack (where the secret lives) first.

use serde::Serialize;

use crate::aws::secrets;
use crate::cli::{SecretsAction, SecretsArgs};
use crate::context::Context;
use crate::deploy;
use crate::error::{Error, Result};
use crate::target::Target;

/// Bumped on any incompatible change of the documents below.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
struct Stored {
    schema_version: u32,
    environment: String,
    #[serde(flatten)]
    stored: secrets::KeyStored,
}

#[derive(Debug, Serialize)]
struct Status {
    schema_version: u32,
    environment: String,
    #[serde(flatten)]
    status: secrets::KeyStatus,
}

pub async fn run(ctx: &Context, args: &SecretsArgs) -> Result<()> {
    match &args.action {
        SecretsAction::Set(env) => {
            let mut target = ctx.target(&env.env).await?;
            // The key is read first: nothing is created for a key that is refused.
            let key = secrets::api_key(&crate::output::read_secret(&format!("API key for {} (hidden): ", env.env))?)?;
            // Before the first deploy there is no secret yet: its data stack is made now, so the
            // first deploy's smoke test finds the key.
            deploy::ensure_data_stack(ctx, &mut target).await?;
            let secret_id = secret_arn(&target)?;
            let stored = secrets::put_api_key(&target.aws.secretsmanager(), &secret_id, &key).await?;
            let result = Stored { schema_version: SCHEMA_VERSION, environment: env.env.clone(), stored };
            ctx.printer.result(&result, || {
                format!(
                    "{}: API key stored in {} (version {}); running functions pick it up within the key cache's TTL (one hour) or at once when the model rejects the old key",
                    result.environment, result.stored.secret, result.stored.version_id
                )
            });
        }
        SecretsAction::Status(env) => {
            let target = ctx.target(&env.env).await?;
            let secret_id = secret_arn(&target)?;
            let status = secrets::api_key_status(&target.aws.secretsmanager(), &secret_id).await?;
            let result = Status { schema_version: SCHEMA_VERSION, environment: env.env.clone(), status };
            ctx.printer.result(&result, || {
                let when = result.status.last_changed.as_deref().unwrap_or("never");
                match result.status.key_set {
                    true => {
                        format!("{}: API key set in {} (last changed {when})", result.environment, result.status.secret)
                    }
                    false => format!(
                        "{}: no API key in {} (last changed {when}); set one with `twinctl secrets set {}`",
                        result.environment, result.status.secret, result.environment
                    ),
                }
            });
        }
    }
    Ok(())
}

/// The model key's secret: the data stack's output (there before the first deploy when `secrets
/// set` made the data stack), else the stack's.
fn secret_arn(target: &Target) -> Result<String> {
    match target.data_outputs.get("DataSecretArn") {
        Some(arn) => Ok(arn.clone()),
        None => target.output("SecretArn").map(str::to_owned).map_err(|_| {
            Error::user_with_hint(
                format!("{} has no secret yet", target.name),
                format!("`twinctl secrets set {}` makes it", target.name),
            )
        }),
    }
}
