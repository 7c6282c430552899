//! Snapshots of what users read first: `twinctl --help` and every subcommand's `--help`, from
//! the real binary. A changed flag or wording shows up here as a reviewed diff, never by accident.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_twinctl"));
    command.args(args).arg("--help");
    // `[env: NAME=value]` would show a caller's settings.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TWINCTL_") {
            command.env_remove(name);
        }
    }
    let output = command.output().expect("run twinctl");
    assert!(output.status.success(), "twinctl {args:?} --help failed");
    String::from_utf8(output.stdout).expect("utf-8 help")
}

#[test]
fn help_of_every_command_is_stable() {
    let mut text = help(&[]);
    let commands = [
        "build",
        "bootstrap",
        "diff",
        "deploy",
        "status",
        "releases",
        "rollback",
        "cost",
        "serve",
        "secrets",
        "logs",
        "verify",
        "testplans",
        "destroy",
        "completions",
    ];
    for name in commands {
        text.push_str(&format!("\n===== twinctl {name} --help =====\n"));
        text.push_str(&help(&[name]));
    }
    // Every listed command is covered: a new one must be added above (and so snapshotted).
    let listed: Vec<&str> = text
        .lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert_eq!(listed, commands, "the snapshot covers every command");
    insta::assert_snapshot!(text);
}
