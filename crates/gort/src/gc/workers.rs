//! The collector's mark worker threads: started before the world stops, exempt from the
//! thread handshake, fed one `work` closure per cycle. See `gc/mod.rs` for the overview.

use std::sync::{Condvar, Mutex, MutexGuard}; // tidy: allow(std-sync) the facade has no loom facade; these are plain-thread locks the workers and the collector share

/// A type-erased pointer to the current cycle's `work` closure.
#[derive(Clone, Copy)]
struct Job(*const (dyn Fn(usize) + Sync + 'static));

// SAFETY: the closure is `Sync` and `run` keeps it alive until every worker is done
// with it; the pointer is only dereferenced inside that window.
unsafe impl Send for Job {}

/// What the workers share with the collector. Protected by `Pool::state`.
struct State {
    /// The job of the current round, `None` between rounds.
    job: Option<Job>,
    /// Bumped for every round, so a worker runs each round once.
    round: u64,
    /// The next index of `0..n` to hand out.
    next: usize,
    /// Indices in this round.
    n: usize,
    /// Workers (not the caller) still inside the current round.
    busy: usize,
    /// Kernel thread ids of the workers (for the handshake's `exempt`).
    tids: Vec<u32>,
}

/// A fixed set of worker threads, grown on demand (never while the world is stopped).
pub(crate) struct Pool {
    state: Mutex<State>,
    /// Workers wait here for a round.
    start: Condvar,
    /// The collector waits here for the workers to finish a round.
    done: Condvar,
}

impl core::fmt::Debug for Pool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

impl Pool {
    pub(crate) const fn new() -> Pool {
        Pool {
            state: Mutex::new(State {
                job: None,
                round: 0,
                next: 0,
                n: 0,
                busy: 0,
                tids: Vec::new(),
            }),
            start: Condvar::new(),
            done: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes sure `count` workers exist (spawning the missing ones; allocates, so call it
    /// before stopping the world) and copies their thread ids into `tids`. Returns how
    /// many exist (fewer if a thread could not be spawned).
    pub(crate) fn ensure(&'static self, count: usize, tids: &mut Vec<u32>) -> usize {
        let have = self.lock().tids.len();
        for i in have..count {
            let (tx, rx) = std::sync::mpsc::channel(); // tidy: allow(std-sync) one-shot startup handshake
            let spawned = std::thread::Builder::new()
                .name(format!("gort-gc-worker-{i}"))
                .spawn(move || {
                    let _ = tx.send(gort_gc::roots::current_tid());
                    self.worker_loop();
                });
            if spawned.is_err() {
                break;
            }
            if let Ok(tid) = rx.recv() {
                self.lock().tids.push(tid);
            }
        }
        let st = self.lock();
        tids.clear();
        tids.extend_from_slice(&st.tids);
        st.tids.len()
    }

    /// Runs `work(i)` for every `i` in `0..n`: the caller and the workers claim indices
    /// until none is left; returns when every call has returned. Allocates nothing.
    pub(crate) fn run(&self, n: usize, work: &(dyn Fn(usize) + Sync)) {
        if n == 0 {
            return;
        }
        // SAFETY: only the lifetime is erased; this function does not return before
        // `busy` is 0 and `job` is cleared, so no worker uses the pointer afterwards.
        let job = Job(unsafe {
            core::mem::transmute::<
                *const (dyn Fn(usize) + Sync + '_),
                *const (dyn Fn(usize) + Sync + 'static),
            >(work)
        });
        {
            let mut st = self.lock();
            st.job = Some(job);
            st.round += 1;
            st.next = 0;
            st.n = n;
            st.busy = st.tids.len();
        }
        self.start.notify_all();
        loop {
            let i = {
                let mut st = self.lock();
                let i = st.next;
                st.next += 1;
                i
            };
            if i >= n {
                break;
            }
            work(i);
        }
        let mut st = self.lock();
        while st.busy != 0 {
            st = self.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.job = None;
    }

    /// A worker: waits for each round, claims indices, reports when it is done.
    fn worker_loop(&self) {
        let mut seen = 0u64;
        loop {
            let job = {
                let mut st = self.lock();
                while st.round == seen || st.job.is_none() {
                    st = self.start.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                seen = st.round;
                st.job
            };
            if let Some(Job(f)) = job {
                loop {
                    let i = {
                        let mut st = self.lock();
                        let i = st.next;
                        st.next += 1;
                        (i < st.n).then_some(i)
                    };
                    let Some(i) = i else { break };
                    // SAFETY: `run` keeps the closure alive until `busy` drops to 0,
                    // which happens only after this call returns.
                    unsafe { (*f)(i) };
                }
            }
            let mut st = self.lock();
            st.busy -= 1;
            if st.busy == 0 {
                self.done.notify_all();
            }
        }
    }
}
