//! The crate's error type. See the crate docs for the overview.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in gort-trace that a caller can act on.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// [`Tracer::start`](crate::Tracer::start) while a trace is already running (Go's
    /// "tracing is already enabled").
    AlreadyStarted,
    /// [`Tracer::stop`](crate::Tracer::stop) while no trace is running.
    NotStarted,
    /// An environment variable holds a value gort cannot use.
    InvalidEnv {
        /// The variable, e.g. `GORT_TRACE`.
        var: &'static str,
        /// The value found (lossily decoded if it was not UTF-8).
        value: String,
        /// What the variable accepts.
        expected: &'static str,
    },
    /// The trace file could not be created.
    CreateFile {
        /// The path given.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Writing the exported trace failed.
    Write(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyStarted => f.write_str("gort-trace: tracing is already enabled"),
            Self::NotStarted => f.write_str("gort-trace: tracing is not enabled"),
            Self::InvalidEnv {
                var,
                value,
                expected,
            } => write!(f, "invalid {var}={value:?}: expected {expected}"),
            Self::CreateFile { path, source } => {
                write!(
                    f,
                    "gort-trace: cannot create trace file {}: {source}",
                    path.display()
                )
            }
            Self::Write(e) => write!(f, "gort-trace: writing the trace failed: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::CreateFile { source, .. } => Some(source),
            Self::Write(e) => Some(e),
            _ => None,
        }
    }
}
