//! Where a running `twinctl serve` answers: its plain-HTTP, HTTPS and redirect URLs and the local
//! CA, written to `.twin/serve/<env>.json` when it starts (removed when it stops) so that
//! `twinctl verify local` tests what is being served.
//!
//! Must not: start or stop anything.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};

const STATE_DIR: &str = ".twin/serve";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Urls {
    pub http: String,
    pub https: String,
    pub redirect: String,
    pub ca: PathBuf,
}

pub fn state_file(config: &Config, environment: &str) -> PathBuf {
    config.resolve(Path::new(STATE_DIR)).join(format!("{environment}.json"))
}

pub fn write(path: &Path, urls: &Urls) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(urls).context("failed to describe the served URLs")?;
    std::fs::write(path, text + "\n").with_context(|| format!("failed to write {}", path.display()))?;
    Ok(())
}

/// The URLs of the running `serve` of `environment`, or how to start one.
pub fn read(config: &Config, environment: &str) -> Result<Urls> {
    let path = state_file(config, environment);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        Error::user_with_hint(
            format!("nothing serves {environment}: {} does not exist", path.display()),
            format!("start `twinctl serve {environment}` (scripts/twin-up does) and run verify again"),
        )
    })?;
    serde_json::from_str(&text).map_err(|e| Error::user(format!("{}: {e}", path.display())))
}
