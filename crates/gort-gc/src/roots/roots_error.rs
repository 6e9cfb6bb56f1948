//! Why roots could not be enumerated. See `roots/mod.rs` for the overview.

use core::fmt;
use core::time::Duration;

/// Why [`Roots`](super::Roots) could not prepare or stop the threads.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootsError {
    /// Thread `tid` did not answer the suspend signal within `waited` (it may block
    /// `SIGPWR`, or be stopped by a debugger). No thread stays stopped.
    ThreadDidNotStop {
        /// The kernel thread id (see `/proc/self/task/<tid>/comm` for its name).
        tid: u32,
        /// How long the stopper waited.
        waited: Duration,
    },
    /// A system call failed.
    Os {
        /// What was being done.
        what: &'static str,
        /// The errno.
        errno: i32,
    },
    /// Threads or mappings kept appearing faster than the buffers grew.
    KeptGrowing {
        /// Attempts made.
        tries: usize,
    },
}

impl fmt::Display for RootsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootsError::ThreadDidNotStop { tid, waited } => write!(
                f,
                "thread {tid} did not answer the GC's suspend signal (SIGPWR) within {waited:?}"
            ),
            RootsError::Os { what, errno } => write!(f, "{what}: errno {errno}"),
            RootsError::KeptGrowing { tries } => write!(
                f,
                "threads or mappings kept appearing while stopping the world ({tries} tries)"
            ),
        }
    }
}

impl std::error::Error for RootsError {}
