//! The artifacts bucket: where it is (the bootstrap stack's output) and its key layout —
//! `functions/<sha256>.zip`, `templates/<sha256>.yaml`, `locks/<env>.json`,
//! `releases/<env>/<id>.json`, `releases/<env>/current.json` and `releases/<env>/writing` (present
//! while a deploy or rollback writes to the site, see `release::Writing`).
//! Must not: read or write objects (the modules that own each kind of object do).

use std::collections::BTreeMap;

use base64::Engine as _;

use crate::error::{Error, Result};

pub const BUCKET_OUTPUT: &str = "ArtifactsBucketName";

/// The bucket named by the bootstrap stack's outputs.
pub fn bucket_from_outputs(bootstrap_stack: &str, outputs: &BTreeMap<String, String>) -> Result<String> {
    outputs.get(BUCKET_OUTPUT).cloned().ok_or_else(|| {
        Error::user(format!(
            "the bootstrap stack {bootstrap_stack} has no {BUCKET_OUTPUT} output; rerun `twinctl bootstrap`"
        ))
    })
}

/// A function zip by its hex sha256.
pub fn function_key(sha256_hex: &str) -> String {
    format!("functions/{sha256_hex}.zip")
}

/// A function zip by Lambda's base64 CodeSha256.
pub fn function_key_for_code(code_sha256: &str) -> Result<String> {
    let digest = base64::engine::general_purpose::STANDARD
        .decode(code_sha256)
        .map_err(|e| Error::Internal(anyhow::anyhow!("CodeSha256 {code_sha256:?} is not base64: {e}")))?;
    Ok(function_key(&hex::encode(digest)))
}

pub fn template_key(sha256_hex: &str) -> String {
    format!("templates/{sha256_hex}.yaml")
}

pub fn lock_key(environment: &str) -> String {
    format!("locks/{environment}.json")
}

pub fn releases_prefix(environment: &str) -> String {
    format!("releases/{environment}/")
}

pub fn release_key(environment: &str, id: &str) -> String {
    format!("releases/{environment}/{id}.json")
}

pub fn current_release_key(environment: &str) -> String {
    format!("releases/{environment}/current.json")
}

/// Not `.json`: listings of manifests skip it.
pub fn writing_marker_key(environment: &str) -> String {
    format!("releases/{environment}/writing")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_sha256_maps_to_the_hex_key() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(hex).expect("hex"));
        assert_eq!(function_key_for_code(&b64).expect("key"), format!("functions/{hex}.zip"));
        assert!(function_key_for_code("not base64!").is_err());
    }
}
