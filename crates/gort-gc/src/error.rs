//! The crate's error type.

use core::fmt;

/// What can go wrong in gort-gc's fallible calls.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// An environment variable has a value the collector cannot use.
    BadEnv {
        /// The variable (`GORT_GC`, `GORT_MEMLIMIT`).
        var: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        want: &'static str,
    },
    /// A host is already installed.
    HostInstalled,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadEnv { var, value, want } => {
                write!(f, "invalid {var}={value:?}: want {want}")
            }
            Error::HostInstalled => write!(f, "a collector host is already installed"),
        }
    }
}

impl std::error::Error for Error {}
