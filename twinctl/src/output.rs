//! Everything twinctl prints.
//!
//! Owns: the rule that results go to stdout (text, or one JSON document with `--output json`)
//! and everything else — progress, notes, warnings — to stderr; progress bars and spinners
//! (indicatif) draw only on a terminal and never under `-q`.
//! Must not: decide what a command does; commands hand it finished values.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Printer {
    pub format: OutputFormat,
    quiet: bool,
    verbose: u8,
}

impl Printer {
    pub fn new(format: OutputFormat, quiet: bool, verbose: u8) -> Self {
        Self { format, quiet, verbose }
    }

    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// The command's result: `value` as JSON, or `text()` as text.
    pub fn result<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        let mut stdout = std::io::stdout().lock();
        let written = match self.format {
            OutputFormat::Json => serde_json::to_writer_pretty(&mut stdout, value)
                .map_err(std::io::Error::other)
                .and_then(|()| writeln!(stdout)),
            OutputFormat::Text => {
                let text = text();
                if text.is_empty() { Ok(()) } else { writeln!(stdout, "{}", text.trim_end()) }
            }
        };
        // A closed pipe (`twinctl status | head`) is not an error worth a panic.
        let _ = written;
    }

    /// One line of a streamed result (`logs`: an event as text, or as one JSON document per
    /// line), flushed at once so a follower sees it. An error means stdout is gone
    /// (`twinctl logs … | head`), and the caller stops.
    pub fn line(&self, line: &str) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")?;
        stdout.flush()
    }

    /// A note on stderr (suppressed by -q).
    pub fn note(&self, message: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", message.as_ref());
        }
    }

    /// Detail on stderr, only with -v.
    pub fn detail(&self, message: impl AsRef<str>) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("  {}", message.as_ref());
        }
    }

    /// A warning on stderr, even under -q.
    pub fn warn(&self, message: impl AsRef<str>) {
        eprintln!("warning: {}", message.as_ref());
    }

    fn draw_target(&self) -> ProgressDrawTarget {
        if self.quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        }
    }

    /// A spinner for a phase; `finish` records its duration.
    pub fn phase(&self, name: &'static str) -> Phase {
        let bar = ProgressBar::with_draw_target(None, self.draw_target());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(name);
        bar.enable_steady_tick(Duration::from_millis(120));
        Phase { name, bar, started: Instant::now(), printer: self.clone() }
    }

    /// A counting bar (uploads, files).
    pub fn bar(&self, length: u64, message: &'static str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(length), self.draw_target());
        bar.set_style(
            ProgressStyle::with_template("  {msg} [{bar:30}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message);
        bar
    }
}

/// Asks on the terminal before an action on an approval-gated environment; `yes` (from
/// `--yes` / `TWINCTL_YES`) answers for CI, and without a terminal there is no one to ask.
/// A secret typed or piped in: from a hidden prompt on a terminal, else all of standard input.
/// Nothing of it is echoed.
pub fn read_secret(prompt: &str) -> crate::error::Result<String> {
    if std::io::stdin().is_terminal() {
        let terminal = console::Term::stderr();
        terminal.write_str(prompt).map_err(|e| anyhow::anyhow!("failed to prompt: {e}"))?;
        return Ok(terminal.read_secure_line().map_err(|e| anyhow::anyhow!("failed to read the prompt: {e}"))?);
    }
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)
        .map_err(|e| anyhow::anyhow!("failed to read standard input: {e}"))?;
    Ok(input)
}

pub fn confirm(yes: bool, environment: &str, question: &str, action: &str) -> crate::error::Result<()> {
    let hint = format!("pass --yes (or set TWINCTL_YES=true) once the {action} is approved");
    ask(yes, environment, question, action, &hint)
}

/// Asks before a deploy that broadens IAM access on an approval-gated environment (as CDK's
/// `--require-approval broadening`); `--yes` does not answer this one.
pub fn confirm_iam_broadening(approved: bool, environment: &str) -> crate::error::Result<()> {
    let hint = "review the grants above (or `twinctl diff`) and pass --approve-iam-broadening".to_owned();
    ask(approved, environment, "IAM access broadens as listed above. Deploy anyway?", "IAM-broadening deploy", &hint)
}

/// Asks on the terminal to type `expected` (a name, a phrase) before something irreversible, as
/// GitHub does before deleting a repository; `yes` answers for scripts, and without a terminal
/// there is no one to ask.
pub fn confirm_by_typing(yes: bool, expected: &str, prompt: &str, action: &str) -> crate::error::Result<()> {
    use crate::error::Error;
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::user_with_hint(
            format!("{action} needs confirmation and there is no terminal to ask"),
            "pass --yes (or set TWINCTL_YES=true)",
        ));
    }
    eprint!("{prompt}\nType {expected:?} to confirm: ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::Internal(anyhow::anyhow!("failed to read the answer: {e}")))?;
    if answer.trim() == expected {
        Ok(())
    } else {
        Err(Error::user(format!("{action} cancelled: {:?} is not {expected:?}", answer.trim())))
    }
}

fn ask(answered: bool, environment: &str, question: &str, action: &str, hint: &str) -> crate::error::Result<()> {
    use crate::error::Error;
    if answered {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::user_with_hint(
            format!("environment {environment} requires approval of the {action} and there is no terminal to ask"),
            hint.to_owned(),
        ));
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::Internal(anyhow::anyhow!("failed to read the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Error::user(format!("{action} to {environment} cancelled")))
    }
}

/// One named phase of a command, timed.
#[derive(Debug)]
pub struct Phase {
    pub name: &'static str,
    bar: ProgressBar,
    started: Instant,
    printer: Printer,
}

impl Phase {
    pub fn message(&self, message: impl Into<String>) {
        self.bar.set_message(message.into());
    }

    /// Prints a line above the spinner (or plainly, without a terminal).
    pub fn println(&self, line: impl AsRef<str>) {
        if self.bar.is_hidden() {
            self.printer.note(line);
        } else {
            self.bar.println(line.as_ref());
        }
    }

    /// Ends the phase with a one-line outcome; returns how long it took.
    pub fn finish(self, outcome: impl AsRef<str>) -> Duration {
        let elapsed = self.started.elapsed();
        self.bar.finish_and_clear();
        self.printer.note(format!("✓ {:<10} {} ({:.1}s)", self.name, outcome.as_ref(), elapsed.as_secs_f64()));
        elapsed
    }

    pub fn fail(self, outcome: impl AsRef<str>) {
        self.bar.finish_and_clear();
        self.printer.note(format!("✗ {:<10} {}", self.name, outcome.as_ref()));
    }
}
