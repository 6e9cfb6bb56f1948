//! The `GORT_TRACE=FILE` convention, parsed for the facade. See the crate docs.

use std::ffi::OsStr;
use std::path::PathBuf;

use crate::error::Error;

/// The environment variable that turns tracing on for a whole run (the facade reads it
/// at `gort::run`, as `go test -trace=FILE` does for Go).
pub const TRACE_ENV: &str = "GORT_TRACE";

/// What [`TRACE_ENV`] accepts, for error messages.
const EXPECTED: &str = "a file path to write the Perfetto/Chrome trace JSON to";

/// Parses a value of `GORT_TRACE`: `None` (unset) means no tracing; a non-empty path
/// means trace to that file. An empty or all-blank value, or one that is not valid
/// UTF-8, is an [`Error::InvalidEnv`] naming the variable.
pub fn parse_trace_env(value: Option<&OsStr>) -> Result<Option<PathBuf>, Error> {
    let Some(value) = value else {
        return Ok(None);
    };
    let invalid = || Error::InvalidEnv {
        var: TRACE_ENV,
        value: value.to_string_lossy().into_owned(),
        expected: EXPECTED,
    };
    let text = value.to_str().ok_or_else(invalid)?;
    if text.trim().is_empty() {
        return Err(invalid());
    }
    Ok(Some(PathBuf::from(text)))
}

/// Reads and parses `GORT_TRACE` from this process's environment (see
/// [`parse_trace_env`]).
pub fn trace_path_from_env() -> Result<Option<PathBuf>, Error> {
    parse_trace_env(std::env::var_os(TRACE_ENV).as_deref())
}
