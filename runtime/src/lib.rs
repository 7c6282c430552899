//! twin-runtime: the digital twin's chat API.
//!
//! One axum `Router` ([`app`]) over an [`AppState`]; `main.rs` serves it on AWS Lambda (API
//! Gateway HTTP API, payload v2) or as a local HTTP server. Every module says what it owns.

pub mod api;
pub mod config;
pub mod deadline;
pub mod error;
pub mod model;
pub mod origin;
pub mod permissions;
pub mod persona;
pub mod prompt;
pub mod secrets;
pub mod state;
pub mod store;
pub mod telemetry;

pub use api::app;
pub use config::Config;
pub use state::{AppParts, AppState, Limits};
