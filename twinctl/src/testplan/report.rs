//! The result of `twinctl verify`: one [`StepResult`] per step, in plan order, and the three ways
//! it is shown — the text table, the versioned JSON document, and JUnit XML (quick-junit: one
//! `<testsuite>` per plan, one `<testcase>` per step; `failure` for a failed expectation,
//! `error` for a step that could not run, `skipped` with its reason).
//!
//! Must not: run anything, or show a secret (reasons are redacted before they get here).

use std::time::Duration;

use serde::Serialize;

/// Bumped on any incompatible change of [`VerifyReport`].
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    /// An expectation or a finding failed.
    Fail,
    /// A `severity: warn` step failed, or a kind warned (e.g. TLS 1.0 on CloudFront's default certificate).
    Warn,
    /// Not run: `skip:`, or not for this environment; the reason says which.
    Skip,
    /// Could not run (an AWS call failed, a template variable had no value).
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Warn => "warn",
            Outcome::Skip => "skip",
            Outcome::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub plan: String,
    pub step: String,
    pub kind: String,
    /// `file:line:column` of the step in its plan (or fragment).
    pub at: String,
    pub outcome: Outcome,
    pub duration_ms: u64,
    /// Every failed expectation and finding, or the skip reason; empty when it passed.
    pub reasons: Vec<String>,
    /// The design's Properties this step evidences.
    pub properties: Vec<u8>,
    pub attempts: u32,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub warned: usize,
    pub skipped: usize,
    pub errored: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub schema_version: u32,
    pub environment: String,
    pub run_id: String,
    pub plans: Vec<String>,
    pub steps: Vec<StepResult>,
    pub summary: Summary,
    pub duration_ms: u64,
}

impl VerifyReport {
    pub fn new(environment: &str, run_id: &str, plans: Vec<String>, steps: Vec<StepResult>, took: Duration) -> Self {
        let mut summary = Summary::default();
        for step in &steps {
            match step.outcome {
                Outcome::Pass => summary.passed += 1,
                Outcome::Fail => summary.failed += 1,
                Outcome::Warn => summary.warned += 1,
                Outcome::Skip => summary.skipped += 1,
                Outcome::Error => summary.errored += 1,
            }
        }
        Self {
            schema_version: SCHEMA_VERSION,
            environment: environment.to_owned(),
            run_id: run_id.to_owned(),
            plans,
            steps,
            summary,
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// A failed or errored step fails the run; warnings and skips do not.
    pub fn failed(&self) -> bool {
        self.summary.failed + self.summary.errored > 0
    }

    /// The table: plan, step, outcome, duration, reason.
    pub fn table(&self) -> String {
        let plan_width = self.steps.iter().map(|s| s.plan.len()).max().unwrap_or(4).max(4);
        let step_width = self.steps.iter().map(|s| s.step.chars().count()).max().unwrap_or(4).clamp(4, 72);
        let mut text = format!("{:<plan_width$}  {:<step_width$}  {:<5}  {:>7}  reason\n", "plan", "step", "", "ms");
        for step in &self.steps {
            let name: String = step.step.chars().take(step_width).collect();
            let reason = step.reasons.join("; ");
            text.push_str(&format!(
                "{:<plan_width$}  {:<step_width$}  {:<5}  {:>7}  {reason}\n",
                step.plan,
                name,
                step.outcome.as_str(),
                step.duration_ms
            ));
        }
        let s = &self.summary;
        text.push_str(&format!(
            "{}: {} passed, {} failed, {} warned, {} skipped, {} errored in {:.1} s\n",
            self.environment,
            s.passed,
            s.failed,
            s.warned,
            s.skipped,
            s.errored,
            self.duration_ms as f64 / 1000.0
        ));
        text
    }

    /// JUnit XML: one suite per plan, one case per step.
    pub fn junit(&self) -> Result<String, quick_junit::SerializeError> {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
        let mut report = Report::new(format!("twinctl verify {}", self.environment));
        report.set_time(Duration::from_millis(self.duration_ms));
        for plan in &self.plans {
            let mut suite = TestSuite::new(plan.as_str());
            for step in self.steps.iter().filter(|s| &s.plan == plan) {
                let reason = step.reasons.join("\n");
                let status = match step.outcome {
                    Outcome::Pass | Outcome::Warn => TestCaseStatus::success(),
                    Outcome::Fail => {
                        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        status.set_message(reason.clone());
                        status
                    }
                    Outcome::Error => {
                        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                        status.set_message(reason.clone());
                        status
                    }
                    Outcome::Skip => {
                        let mut status = TestCaseStatus::skipped();
                        status.set_message(reason.clone());
                        status
                    }
                };
                let mut case = TestCase::new(step.step.as_str(), status);
                case.set_classname(format!("{}.{}", plan, step.kind));
                case.set_time(Duration::from_millis(step.duration_ms));
                if step.outcome == Outcome::Warn {
                    case.set_system_out(format!("warning: {reason}"));
                }
                suite.add_test_case(case);
            }
            report.add_test_suite(suite);
        }
        report.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(plan: &str, name: &str, outcome: Outcome, reason: &str) -> StepResult {
        StepResult {
            plan: plan.to_owned(),
            step: name.to_owned(),
            kind: "http".to_owned(),
            at: "testplans/a.yaml:3:5".to_owned(),
            outcome,
            duration_ms: 12,
            reasons: if reason.is_empty() { Vec::new() } else { vec![reason.to_owned()] },
            properties: vec![1],
            attempts: 1,
        }
    }

    fn report() -> VerifyReport {
        VerifyReport::new(
            "local",
            "r1",
            vec!["a".to_owned(), "b".to_owned()],
            vec![
                step("a", "ok", Outcome::Pass, ""),
                step("a", "broken", Outcome::Fail, "status: expected to equal 200, got 500"),
                step("b", "later", Outcome::Skip, "not for local"),
                step("b", "unreachable", Outcome::Error, "connection refused"),
                step("b", "loose", Outcome::Warn, "TLS 1.0 accepted"),
            ],
            Duration::from_millis(1500),
        )
    }

    #[test]
    fn the_summary_counts_each_outcome_and_failures_fail_the_run() {
        let report = report();
        assert_eq!(report.summary, Summary { passed: 1, failed: 1, warned: 1, skipped: 1, errored: 1 });
        assert!(report.failed());
        let quiet = VerifyReport::new(
            "local",
            "r",
            vec!["a".to_owned()],
            vec![step("a", "w", Outcome::Warn, "w")],
            Duration::ZERO,
        );
        assert!(!quiet.failed(), "a warning does not fail the run");
    }

    #[test]
    fn junit_has_a_case_per_step_with_failure_error_and_skipped() {
        let xml = report().junit().expect("serializes");
        assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 5, "{xml}");
        assert!(xml.contains("<failure message=\"status: expected to equal 200, got 500\""), "{xml}");
        assert!(xml.contains("<error message=\"connection refused\""), "{xml}");
        assert!(xml.contains("<skipped message=\"not for local\""), "{xml}");
    }

    #[test]
    fn the_table_names_every_step_and_the_totals() {
        let table = report().table();
        assert!(table.contains("broken") && table.contains("fail") && table.contains("got 500"), "{table}");
        assert!(table.contains("local: 1 passed, 1 failed, 1 warned, 1 skipped, 1 errored in 1.5 s"), "{table}");
    }
}
