//! twinctl's error type and exit codes.
//!
//! Owns: the split between what the user can fix (exit 1: bad configuration, a failed check, a
//! held lock) and what went wrong around them (exit 2: AWS, the network, a bug). `diff` adds
//! exit 3 for "there are changes", which is an outcome, not an error.

use std::fmt;

/// Exit status of a finished command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    User = 1,
    Internal = 2,
    Changes = 3,
}

#[derive(Debug)]
pub enum Error {
    /// The user can act on the message alone.
    User { message: String, hint: Option<String> },
    /// An AWS, I/O or internal failure, with its chain of causes.
    Internal(anyhow::Error),
}

impl Error {
    pub fn user(message: impl Into<String>) -> Self {
        Error::User { message: message.into(), hint: None }
    }

    pub fn user_with_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::User { message: message.into(), hint: Some(hint.into()) }
    }

    pub fn exit(&self) -> Exit {
        match self {
            Error::User { .. } => Exit::User,
            Error::Internal(_) => Exit::Internal,
        }
    }

    /// A short machine-readable kind for `--output json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::User { .. } => "user",
            Error::Internal(_) => "internal",
        }
    }

    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::User { hint, .. } => hint.as_deref(),
            Error::Internal(_) => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::User { message, .. } => f.write_str(message),
            // `{:#}` prints the whole chain: "failed to X: because Y: because Z".
            Error::Internal(error) => write!(f, "{error:#}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<anyhow::Error> for Error {
    fn from(error: anyhow::Error) -> Self {
        // A user error wrapped in context stays a user error.
        match error.downcast::<Error>() {
            Ok(inner) => inner,
            Err(error) => Error::Internal(error),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::Internal(error.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
