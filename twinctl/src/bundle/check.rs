//! Checks a function zip before it is uploaded, for what Lambda's `provided.al2023` runtime will
//! do with it: run the file `bootstrap` at the zip's root, as an executable, on the function's
//! architecture, against the runtime's glibc (2.34 on Amazon Linux 2023 — a binary needing a
//! newer symbol version fails at cold start with "version `GLIBC_2.38' not found", as
//! aws/aws-lambda-rust-runtime#932 shows). Lambda's "Building a custom runtime" page names the
//! `bootstrap` file and its executable permission.
//!
//! Owns: reading the zip and the ELF headers (the `object` crate), and saying every problem at once.
//! Must not: touch AWS.

use std::io::Read as _;
use std::path::Path;

use object::read::elf::{ElfFile64, FileHeader as _};
use object::{Endianness, elf};

use crate::error::{Error, Result};

/// What the environment will run the zip on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirements {
    /// `arm64` or `x86_64` (the Lambda `Architectures` label).
    pub architecture: &'static str,
    /// The newest `GLIBC_x.y` symbol version the runtime provides; None when it runs here.
    pub max_glibc: Option<(u32, u32)>,
    /// A `#!` script may stand in for the binary (the local environment runs the zip here).
    pub scripts_allowed: bool,
}

/// The glibc of Lambda's `provided.al2023` runtime (Amazon Linux 2023).
pub const AL2023_GLIBC: (u32, u32) = (2, 34);

impl Requirements {
    /// An AWS environment's: its architecture, AL2023's glibc, a binary only.
    pub fn lambda(architecture: &'static str) -> Self {
        Self { architecture, max_glibc: Some(AL2023_GLIBC), scripts_allowed: false }
    }

    /// The emulator environment's: the function runs on this machine.
    pub fn here(architecture: &'static str) -> Self {
        Self { architecture, max_glibc: None, scripts_allowed: true }
    }
}

/// Every problem of the zip at `path` against `requirements`, in one error.
pub fn function_zip(path: &Path, requirements: Requirements) -> Result<()> {
    let problems = problems(path, requirements)?;
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::user(format!("{} cannot run on Lambda: {}", path.display(), problems.join("; "))))
}

fn problems(path: &Path, requirements: Requirements) -> Result<Vec<String>> {
    let file = std::fs::File::open(path).map_err(|e| Error::user(format!("cannot read {}: {e}", path.display())))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| Error::user(format!("{} is not a zip: {e}", path.display())))?;
    let count = archive.file_names().filter(|name| matches!(name.as_deref(), Ok("bootstrap"))).count();
    match count {
        0 => return Ok(vec!["it has no `bootstrap` at its root".to_owned()]),
        1 => {}
        n => return Ok(vec![format!("it has {n} entries named `bootstrap`")]),
    }
    let mut entry = archive
        .by_name("bootstrap")
        .map_err(|e| Error::user(format!("{}: cannot read bootstrap: {e}", path.display())))?;
    let mut problems = Vec::new();
    match entry.unix_mode() {
        Some(mode) if mode & 0o555 == 0o555 && mode & 0o022 == 0 => {}
        Some(mode) => problems.push(format!("bootstrap has mode {:04o}; Lambda needs 0755", mode & 0o7777)),
        None => problems.push("bootstrap carries no Unix mode; Lambda needs 0755".to_owned()),
    }
    let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or_default());
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| Error::user(format!("{}: cannot read bootstrap: {e}", path.display())))?;
    problems.extend(executable_problems(&bytes, requirements));
    Ok(problems)
}

/// What is wrong with `bytes` as the runtime's `bootstrap` executable.
pub fn executable_problems(bytes: &[u8], requirements: Requirements) -> Vec<String> {
    if bytes.starts_with(b"#!") {
        return if requirements.scripts_allowed {
            Vec::new()
        } else {
            vec!["bootstrap is a script; the environment runs the compiled binary".to_owned()]
        };
    }
    let elf = match ElfFile64::<Endianness>::parse(bytes) {
        Ok(elf) => elf,
        Err(e) => return vec![format!("bootstrap is not a 64-bit ELF executable ({e})")],
    };
    let mut problems = Vec::new();
    let machine = elf.elf_header().e_machine(elf.endian());
    let found = match machine {
        elf::EM_AARCH64 => "arm64",
        elf::EM_X86_64 => "x86_64",
        _ => "another architecture",
    };
    if found != requirements.architecture {
        problems.push(format!(
            "bootstrap is built for {found} (ELF machine {machine}); the function runs on {}",
            requirements.architecture
        ));
    }
    if let Some(max) = requirements.max_glibc {
        match newest_glibc(&elf) {
            Ok(Some(needed)) if needed > max => problems.push(format!(
                "bootstrap needs GLIBC_{}.{}; the runtime has {}.{} (build with cargo-lambda/zig for the target, \
                 or link statically)",
                needed.0, needed.1, max.0, max.1
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!("bootstrap's symbol versions cannot be read: {e}")),
        }
    }
    problems
}

/// The newest `GLIBC_x.y` version the binary requires; None for a static binary.
fn newest_glibc(elf: &ElfFile64<'_, Endianness>) -> object::Result<Option<(u32, u32)>> {
    let endian = elf.endian();
    let sections = elf.elf_section_table();
    let Some((mut needs, link)) = sections.gnu_verneed(endian, elf.data())? else { return Ok(None) };
    let strings = sections.strings(endian, elf.data(), link)?;
    let mut newest = None;
    while let Some((_, mut versions)) = needs.next()? {
        while let Some(version) = versions.next()? {
            if let Some(parsed) = glibc_version(version.name(endian, strings)?) {
                newest = newest.max(Some(parsed));
            }
        }
    }
    Ok(newest)
}

/// `GLIBC_2.34` → (2, 34); `GLIBC_2.2.5` → (2, 2); anything else (GLIBC_PRIVATE) → None.
fn glibc_version(name: &[u8]) -> Option<(u32, u32)> {
    let text = std::str::from_utf8(name).ok()?.strip_prefix("GLIBC_")?;
    let mut parts = text.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_versions_compare_numerically() {
        assert_eq!(glibc_version(b"GLIBC_2.34"), Some((2, 34)));
        assert_eq!(glibc_version(b"GLIBC_2.2.5"), Some((2, 2)));
        assert_eq!(glibc_version(b"GLIBC_PRIVATE"), None);
        assert_eq!(glibc_version(b"GCC_3.0"), None);
        assert!(Some((2, 38)) > Some(AL2023_GLIBC) && Some((2, 4)) < Some(AL2023_GLIBC));
    }

    #[test]
    fn scripts_pass_only_where_the_function_runs_here() {
        let script = b"#!/bin/sh\nexec true\n";
        assert!(executable_problems(script, Requirements::here("x86_64")).is_empty());
        let problems = executable_problems(script, Requirements::lambda("arm64"));
        assert!(problems[0].contains("is a script"), "{problems:?}");
        let problems = executable_problems(b"\0\0\0\0not elf", Requirements::lambda("arm64"));
        assert!(problems[0].contains("not a 64-bit ELF"), "{problems:?}");
    }
}
