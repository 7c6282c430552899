//! The command reference in README.md, rendered as Markdown from the clap command tree
//! ([`crate::cli`]): a section per visible command with its about text, its usage line and a table
//! of its arguments and options, in the order they are defined. Global options, and the help and
//! version flags every command has, are listed once, under `twinctl`.
//!
//! Owns: the rendering only. `tests/command_reference.rs` compares it with README.md (and rewrites
//! README.md with `TWINCTL_UPDATE_REFERENCE=1`).
//! Must not: read or write files, read the environment, or talk to AWS: the same definitions
//! render the same text on every machine.

use clap::{Arg, ArgAction, Command, CommandFactory as _};

use crate::cli::Cli;

/// The command reference: a `### twinctl …` section for `twinctl` itself and for every visible
/// subcommand, depth first, each with its about text, its usage and its arguments and options.
pub fn markdown() -> String {
    let mut command = Cli::command();
    // Built, the tree holds what `--help` shows: the help and version flags, and each
    // subcommand's usage name (`twinctl testplans docs`).
    command.build();
    let mut out = String::new();
    section(&mut out, &command, "twinctl", true);
    out
}

fn section(out: &mut String, command: &Command, path: &str, top: bool) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&format!("### {path}\n\n"));
    if let Some(about) = command.get_long_about().or_else(|| command.get_about()) {
        let paragraphs: Vec<String> = about
            .to_string()
            .split("\n\n")
            .map(|paragraph| escape(&words(paragraph), false))
            .filter(|paragraph| !paragraph.is_empty())
            .collect();
        if !paragraphs.is_empty() {
            out.push_str(&paragraphs.join("\n\n"));
            out.push_str("\n\n");
        }
    }
    // A `StyledStr` displays as plain text: its ANSI styling is left out.
    let usage = command.clone().render_usage().to_string();
    let usage = usage.trim();
    out.push_str(&format!("```text\n{}\n```\n", usage.strip_prefix("Usage:").map_or(usage, str::trim_start)));

    let rows: Vec<(String, String)> =
        command.get_arguments().filter(|arg| listed(arg, top)).map(|arg| (name(arg), description(arg))).collect();
    if !rows.is_empty() {
        out.push_str("\n| Argument or option | Description |\n| --- | --- |\n");
        for (name, description) in rows {
            // In a code span already: only the pipes need escaping.
            out.push_str(&format!("| `{}` | {description} |\n", name.replace('|', "\\|")));
        }
    }

    for subcommand in command.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        section(out, subcommand, &format!("{path} {}", subcommand.get_name()), false);
    }
}

/// Global options and the help and version flags are copied into every subcommand when the tree
/// is built; they are listed under the top level only.
fn listed(arg: &Arg, top: bool) -> bool {
    let everywhere = arg.is_global_set()
        || matches!(
            arg.get_action(),
            ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
        );
    !arg.is_hide_set() && (top || !everywhere)
}

/// As `--help` names it: `<ENV>`, `[ID]`, `-q, --quiet`, `--since <DURATION|TIME>`, `-v, --verbose...`.
fn name(arg: &Arg) -> String {
    let values: Vec<String> = match arg.get_value_names() {
        Some(names) => names.iter().map(|name| name.as_str().to_owned()).collect(),
        None => vec![arg.get_id().as_str().to_uppercase()],
    };
    let repeated = matches!(arg.get_action(), ArgAction::Append | ArgAction::Count);
    if arg.is_positional() {
        let values = values.join(" ");
        let name = if arg.is_required_set() { format!("<{values}>") } else { format!("[{values}]") };
        return if repeated { format!("{name}...") } else { name };
    }
    let mut flags = Vec::new();
    if let Some(short) = arg.get_short() {
        flags.push(format!("-{short}"));
    }
    if let Some(long) = arg.get_long() {
        flags.push(format!("--{long}"));
    }
    let mut name = flags.join(", ");
    if arg.get_action().takes_values() {
        for value in &values {
            name.push_str(&format!(" <{value}>"));
        }
    } else if repeated {
        name.push_str("...");
    }
    name
}

/// The help text, then `[default: …]`, `[possible values: …]` and `[env: …]` where they apply.
/// The environment variable is named without its value: the reference must not depend on the
/// environment it is rendered in.
fn description(arg: &Arg) -> String {
    let mut parts = Vec::new();
    if let Some(help) = arg.get_long_help().or_else(|| arg.get_help()) {
        let paragraphs: Vec<String> = help
            .to_string()
            .split("\n\n")
            .map(|paragraph| escape(&words(paragraph), true))
            .filter(|paragraph| !paragraph.is_empty())
            .collect();
        if !paragraphs.is_empty() {
            parts.push(paragraphs.join("<br><br>"));
        }
    }
    // A flag's implied default (`false`, `0`) is not shown, as `--help` does not show it.
    let defaults = arg.get_default_values();
    if arg.get_action().takes_values() && !arg.is_hide_default_value_set() && !defaults.is_empty() {
        let defaults: Vec<String> = defaults.iter().map(|value| value.to_string_lossy().into_owned()).collect();
        parts.push(escape(&format!("[default: {}]", defaults.join(" ")), true));
    }
    if !arg.is_hide_possible_values_set() {
        let possible: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|value| !value.is_hide_set())
            .map(|value| value.get_name().to_owned())
            .collect();
        if !possible.is_empty() {
            parts.push(escape(&format!("[possible values: {}]", possible.join(", ")), true));
        }
    }
    if let Some(env) = arg.get_env().filter(|_| !arg.is_hide_env_set()) {
        parts.push(escape(&format!("[env: {}]", env.to_string_lossy()), true));
    }
    parts.join(" ")
}

/// A paragraph on one line: a Markdown table cell cannot hold a line break.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Help text as Markdown shows it: outside code spans `<` would open an HTML tag and hide
/// `target/twin/<arch>`; in a table (`pipes`) an unescaped `|` would end the cell, even inside
/// a code span.
fn escape(text: &str, pipes: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut code = false;
    for c in text.chars() {
        match c {
            '`' => {
                code = !code;
                out.push(c);
            }
            '<' if !code => out.push_str("&lt;"),
            '|' if pipes => out.push_str("\\|"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_options_are_listed_once_under_twinctl() {
        let text = markdown();
        assert_eq!(text.matches("| `--config <CONFIG>` |").count(), 1, "{text}");
        assert_eq!(text.matches("| `-h, --help` |").count(), 1, "{text}");
        let (top, rest) = text.split_once("\n### twinctl build\n").expect("a build section");
        assert!(top.contains("| `-q, --quiet` | Print only results and warnings [env: TWINCTL_QUIET] |"), "{top}");
        assert!(!rest.contains("--quiet"), "{rest}");
    }

    #[test]
    fn arguments_show_their_defaults_values_and_variables() {
        let text = markdown();
        assert!(!text.contains('\u{1b}'), "no ANSI styling");
        assert!(text.contains("| `<ENV>` | Environment name from the configuration |"), "{text}");
        let serve = "| `[ENV]` | Environment to serve (only `local` is served from the emulator) [default: local] |";
        assert!(text.contains(serve), "{text}");
        assert!(text.contains("[default: text] [possible values: text, json] [env: TWINCTL_OUTPUT]"), "{text}");
        assert!(text.contains("| `--since <DURATION\\|TIME>` |"), "{text}");
        assert!(text.contains("```text\ntwinctl deploy [OPTIONS] <ENV>\n```"), "{text}");
        assert!(text.contains("### twinctl testplans docs\n"), "{text}");
        assert!(text.contains("target/twin/&lt;arch>"), "{text}");
    }

    #[test]
    fn escaping_keeps_code_spans() {
        assert_eq!(escape("a <b> `<c>` d|e", true), "a &lt;b> `<c>` d\\|e");
        assert_eq!(escape("a|b", false), "a|b");
    }
}
