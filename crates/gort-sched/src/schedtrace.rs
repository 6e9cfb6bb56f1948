//! `GORT_DEBUG=schedtrace=MS[,scheddetail=1]`: a line of scheduler state every MS
//! milliseconds in Go's format (Go: proc.go `schedtrace`), printed by a monitor thread
//! (sysmon prints it in Go; gort's sysmon is a later issue).

use core::fmt::Write as _;
use std::io::Write as _;

use gort_stack::{GuardPolicy, guard_policy};

use crate::g::GStatus;
use crate::sched::Sched;
use crate::sync::Arc;
use crate::sync::atomic::Ordering;

/// Formats one schedtrace report (one `SCHED` line, plus detail lines with `detail`).
pub(crate) fn format(sched: &Sched, detail: bool) -> String {
    let mut s = String::new();
    let procs = sched.gomaxprocs();
    let threads = sched.lock().mcount;
    let _ = write!(
        s,
        "SCHED {}ms: gomaxprocs={} idleprocs={} threads={} spinningthreads={} needspinning=0 idlethreads={} runqueue={}",
        sched.start.elapsed().as_millis(),
        procs,
        sched.npidle(),
        threads,
        sched.nmspinning(),
        sched.nmidle(),
        sched.runq_len()
    );
    if detail {
        let l = sched.lock();
        let _ = writeln!(
            s,
            " gcwaiting=false nmidlelocked={} stopwait=0 sysmonwait=false",
            l.nmidlelocked
        );
        drop(l);
        for i in 0..procs as usize {
            if let Some(p) = sched.p(i) {
                let m = p.m_id.load(Ordering::Relaxed);
                let m = if m == u32::MAX { -1 } else { i64::from(m) };
                let _ = writeln!(
                    s,
                    "  P{}: status={} schedtick={} syscalltick=0 m={} runqsize={} gfreecnt={} timerslen=0",
                    i,
                    p.status() as u32,
                    p.schedtick.load(Ordering::Relaxed),
                    m,
                    p.runq.len(),
                    p.gfree_len.load(Ordering::Relaxed)
                );
            }
        }
        // Not in Go's output: how goroutine stacks are guarded (gort-stack's policy), so an
        // old kernel's fallback is visible where a Go programmer looks at scheduler state.
        let _ = writeln!(s, "  stacks: guard={}", guard_policy_name(guard_policy()));
        for g in sched.allg() {
            // SAFETY: G structs live as long as their scheduler.
            let gr = unsafe { &*g.0 };
            let st = gr.status();
            if st == GStatus::Dead || st == GStatus::Idle {
                continue;
            }
            let reason = gr.wait_reason().map(|r| r.as_str()).unwrap_or("");
            let _ = writeln!(
                s,
                "  G{}: status={}({}) m=-1 lockedm=-1",
                gr.goid(),
                st as u32,
                reason
            );
        }
    } else {
        s.push_str(" [");
        for i in 0..procs as usize {
            if i > 0 {
                s.push(' ');
            }
            let n = sched.p(i).map_or(0, |p| p.runq.len());
            let _ = write!(s, "{n}");
        }
        s.push_str("]\n");
    }
    s
}

/// A short name for a guard policy in the scheddetail output.
fn guard_policy_name(policy: GuardPolicy) -> String {
    match policy {
        GuardPolicy::MadviseGuard => "madvise".to_string(),
        GuardPolicy::Mprotect { budget } => format!("mprotect(budget={budget})"),
        GuardPolicy::Canary => "canary".to_string(),
        other => format!("{other:?}"),
    }
}

/// The monitor thread printing schedtrace lines.
#[derive(Debug)]
pub(crate) struct Monitor {
    stop: Arc<crate::sync::Mutex<bool>>,
    cv: Arc<crate::sync::Condvar>,
    handle: Option<crate::sync::thread::JoinHandle<()>>,
}

/// Starts printing every `ms` milliseconds.
pub(crate) fn start(sched: Arc<Sched>, ms: u64, detail: bool) -> Monitor {
    let stop = Arc::new(crate::sync::Mutex::new(false));
    let cv = Arc::new(crate::sync::Condvar::new());
    let (stop2, cv2) = (Arc::clone(&stop), Arc::clone(&cv));
    let handle = crate::sync::thread::Builder::new()
        .name("gort-schedtrace".into())
        .spawn(move || {
            let period = std::time::Duration::from_millis(ms);
            let mut stopped = stop2.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                let (g, _) = cv2
                    .wait_timeout(stopped, period)
                    .unwrap_or_else(|e| e.into_inner());
                stopped = g;
                if *stopped {
                    return;
                }
                let line = format(&sched, detail);
                let mut out = std::io::stderr().lock();
                let _ = out.write_all(line.as_bytes());
            }
        })
        .ok();
    Monitor { stop, cv, handle }
}

impl Monitor {
    /// Stops the thread and waits for it.
    pub(crate) fn stop(mut self) {
        *self.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
