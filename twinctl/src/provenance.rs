//! Who and what is deploying, as recorded in locks and releases: the host, the process, the
//! commit. Portable: the host name comes from the OS (`gethostname`), never from Linux-only files.

/// This machine's host name.
pub fn hostname() -> String {
    let name = gethostname::gethostname().to_string_lossy().trim().to_owned();
    if name.is_empty() { "unknown-host".to_owned() } else { name }
}

/// Whether a process of this host still runs. Only Linux can tell without unsafe code (its
/// `/proc`); elsewhere the answer is None and a lock is left to expire.
pub fn process_alive(pid: u32) -> Option<bool> {
    if cfg!(target_os = "linux") { Some(std::path::Path::new(&format!("/proc/{pid}")).exists()) } else { None }
}

/// The commit being deployed: CI's variable, else `git rev-parse HEAD`.
pub fn git_sha() -> Option<String> {
    if let Ok(sha) = std::env::var("GITHUB_SHA") {
        return Some(sha);
    }
    let output = std::process::Command::new("git").args(["rev-parse", "HEAD"]).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
