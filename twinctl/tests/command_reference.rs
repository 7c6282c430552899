//! README.md's command reference is what twinctl's clap definitions render
//! ([`twinctl::reference::markdown`]): a changed flag or wording fails here until the README is
//! regenerated; `TWINCTL_UPDATE_REFERENCE=1` rewrites the text between the markers instead.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use clap::CommandFactory as _;
use twinctl::cli::Cli;

const START: &str = "<!-- command-reference:start -->";
const END: &str = "<!-- command-reference:end -->";
const REGENERATE: &str = "TWINCTL_UPDATE_REFERENCE=1 cargo test --test command_reference";

fn readme() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("README.md")
}

/// The README around its generated text: up to and including the start marker, the text between
/// the markers, and from the end marker on.
fn split(text: &str) -> (&str, &str, &str) {
    let start = text.find(START).expect("README.md has a `<!-- command-reference:start -->` line") + START.len();
    let end =
        start + text[start..].find(END).expect("README.md has a `<!-- command-reference:end -->` line after the start");
    (&text[..start], &text[start..end], &text[end..])
}

#[test]
fn the_readme_reference_is_current() {
    let path = readme();
    let text = std::fs::read_to_string(&path).unwrap();
    let (before, committed, after) = split(&text);
    let generated = twinctl::reference::markdown();
    if std::env::var("TWINCTL_UPDATE_REFERENCE").as_deref() == Ok("1") {
        let updated = format!("{before}\n\n{}\n\n{after}", generated.trim());
        if updated != text {
            std::fs::write(&path, updated).unwrap();
        }
        return;
    }
    let committed: Vec<&str> = committed.trim().lines().collect();
    let generated: Vec<&str> = generated.trim().lines().collect();
    if committed == generated {
        return;
    }
    let line =
        committed.iter().zip(&generated).position(|(a, b)| a != b).unwrap_or(committed.len().min(generated.len()));
    panic!(
        "the command reference in {} is stale; regenerate it with `{REGENERATE}`\n\
         first difference, line {} of the reference:\n  README.md: {}\n  generated: {}",
        path.display(),
        line + 1,
        committed.get(line).unwrap_or(&"(nothing: the README's reference ends here)"),
        generated.get(line).unwrap_or(&"(nothing: the generated reference ends here)"),
    );
}

#[test]
fn every_command_has_a_section() {
    fn headings(command: &clap::Command, path: &str, into: &mut Vec<String>) {
        for subcommand in command.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            let path = format!("{path} {}", subcommand.get_name());
            into.push(format!("### {path}"));
            headings(subcommand, &path, into);
        }
    }
    let mut expected = vec!["### twinctl".to_owned()];
    headings(&Cli::command(), "twinctl", &mut expected);
    assert!(expected.len() > 10, "the command tree has its commands: {expected:?}");

    let generated = twinctl::reference::markdown();
    let rendered: Vec<&str> = generated.lines().filter(|line| line.starts_with("### ")).collect();
    for heading in &expected {
        assert!(rendered.contains(&heading.as_str()), "no `{heading}` section in the reference:\n{generated}");
    }
}
