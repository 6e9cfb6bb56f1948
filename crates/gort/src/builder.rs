//! `Builder`: a goroutine with a name and a stack size (as `std::thread::Builder`).

use gort_sched::Error;

/// Configures a goroutine before starting it.
///
/// ```
/// gort::run(|| {
///     let done = gort::chan::Chan::new(1);
///     let d = done.clone();
///     gort::Builder::new().name("worker").stack_size(256 * 1024).spawn(move || d.send(1)).unwrap();
///     assert_eq!(done.recv(), Some(1));
/// });
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a Builder does nothing until spawn is called"]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with the scheduler's defaults.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the goroutine (shown in panic reports).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Usable stack size in bytes (pages are committed only when touched).
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the goroutine; returns its id.
    pub fn spawn<F: FnOnce() + Send + 'static>(self, f: F) -> Result<u64, Error> {
        gort_sched::spawn_with(self.name, self.stack_size, f)
    }
}
