//! Test plans (`testplans/*.yaml`): what `twinctl verify` runs against an environment, as data.
//!
//! Owns: the plan format — its typed model (`model`), loading and validating the files with the
//! place of every error (`load`), captures, matchers, templates and redaction over what a step
//! observed (`expect`), and the generated `testplans/README.md` (`docs`). Each step kind's
//! executor lives in `kinds/`, the runner in `run`, what a run reports in `report`.
//! Must not: reach AWS or the network outside `kinds/`.

pub mod docs;
pub mod expect;
pub mod kinds;
pub mod load;
pub mod model;
pub mod observation;
pub mod report;
pub mod run;

pub use docs::render;
pub use expect::{
    REDACTED, Vars, capture, evaluate, evaluate_with, redact, render_expect, render_json, render_template, render_text,
    render_variables, template_names,
};
pub use load::{PlanError, load_dir, load_file, load_str};
pub use model::{
    BUILT_INS, Capture, CaptureSource, Covers, Expect, HttpBody, HttpSpec, HttpsLiveSpec, IamSpec, JsonQuery, KINDS,
    Location, LogQuery, MATCHERS, Matcher, MonitoringSpec, PROPERTY_COUNT, PathRule, Pattern, PlainHttp, Plan, Retry,
    RoleName, S3Spec, Severity, Step, StepKind, Text, Variable, selects,
};
pub use observation::{Finding, FindingSeverity, Observation};
