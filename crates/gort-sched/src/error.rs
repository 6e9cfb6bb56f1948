//! The crate's error type.

/// What can go wrong in the scheduler's fallible entry points.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// An environment variable holds a value the runtime cannot use.
    InvalidEnv {
        /// The variable, e.g. `GORT_MAXPROCS`.
        var: &'static str,
        /// The value found.
        value: String,
        /// What the variable accepts.
        expected: &'static str,
    },
    /// A goroutine stack could not be allocated.
    Stack(gort_stack::Error),
    /// The call needs a running scheduler (inside `run`), and there is none on this thread.
    NoRuntime,
    /// `run` was called on a thread that is already running a scheduler.
    NestedRun,
    /// An OS thread for a new M could not be created.
    ThreadSpawn(std::io::ErrorKind),
    /// The execution tracer failed (its file could not be created or written).
    Trace(gort_trace::Error),
    /// `stop_the_world` was called by a thread that already holds a stopped world.
    NestedStopTheWorld,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::InvalidEnv {
                var,
                value,
                expected,
            } => {
                write!(f, "invalid {var}={value:?}: expected {expected}")
            }
            Error::Stack(e) => write!(f, "cannot allocate a goroutine stack: {e}"),
            Error::NoRuntime => {
                f.write_str("no gort runtime on this thread (call this inside gort::run)")
            }
            Error::NestedRun => f.write_str("gort::run called inside a running gort runtime"),
            Error::ThreadSpawn(k) => write!(f, "cannot create an OS thread: {k:?}"),
            Error::Trace(e) => write!(f, "execution trace: {e}"),
            Error::NestedStopTheWorld => {
                f.write_str("stop_the_world called while this thread holds a stopped world")
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<gort_stack::Error> for Error {
    fn from(e: gort_stack::Error) -> Self {
        Error::Stack(e)
    }
}

impl From<gort_trace::Error> for Error {
    /// A bad `GORT_TRACE` becomes [`Error::InvalidEnv`], like the other variables.
    fn from(e: gort_trace::Error) -> Self {
        match e {
            gort_trace::Error::InvalidEnv {
                var,
                value,
                expected,
            } => Error::InvalidEnv {
                var,
                value,
                expected,
            },
            e => Error::Trace(e),
        }
    }
}
