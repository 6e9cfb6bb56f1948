//! Loom models of the timer sleeper handshake: a timer published while an idle M
//! becomes (or stops being) the timer sleeper is never left without an M to wake for it.

use core::ptr::NonNull;

use crate::m::M;
use crate::park::Parker;
use crate::sync::{Arc, thread};
use crate::time::timers::{Fire, SchedTimers, Timers, WakeFor};

/// The earliest `when` of two heaps (`sleep_until` over two Ps).
fn earliest(a: &Timers, b: &Timers) -> u64 {
    a.next_when().min(b.next_when())
}

/// An idle M becomes the sleeper for the timer at 10 while a running goroutine arms one
/// at 5 on another P: either the sleeper's deadline covers 5, or the publisher is told
/// to notify it.
#[test]
fn loom_timer_new_earlier_timer_reaches_the_sleeper() {
    loom::model(|| {
        let a = Arc::new(Timers::new());
        let b = Arc::new(Timers::new());
        a.push(10, Fire::Wake(Parker::current()));
        let st = Arc::new(SchedTimers::new());
        let me = NonNull::<M>::dangling().as_ptr();

        let publisher = {
            let (b, st) = (Arc::clone(&b), Arc::clone(&st));
            thread::spawn(move || {
                b.push(5, Fire::Wake(Parker::current()));
                st.wake_for(5)
            })
        };
        let next = earliest(&a, &b);
        let deadline = st.become_sleeper(me, next, || earliest(&a, &b));
        let action = publisher.join().unwrap();
        let d = deadline.expect("the only M becomes the sleeper");
        assert!(
            d <= 5 || action == WakeFor::Notify(me),
            "timer at 5 lost: sleeper until {d}, publisher saw {action:?}"
        );
    });
}

/// The sleeper leaves the slot (its timeout passed) while a timer is armed past its old
/// deadline: either the publisher sees no sleeper (and starts an M) or is told to notify,
/// or the leaving sleeper's re-read sees the new timer.
#[test]
fn loom_timer_leaving_sleeper_sees_or_is_told() {
    loom::model(|| {
        let a = Arc::new(Timers::new());
        let b = Arc::new(Timers::new());
        a.push(10, Fire::Wake(Parker::current()));
        let st = Arc::new(SchedTimers::new());
        let me = NonNull::<M>::dangling().as_ptr();
        let d = st.become_sleeper(me, 10, || earliest(&a, &b));
        assert_eq!(d, Some(10));

        let publisher = {
            let (b, st) = (Arc::clone(&b), Arc::clone(&st));
            thread::spawn(move || {
                b.push(20, Fire::Wake(Parker::current()));
                st.wake_for(20)
            })
        };
        // Timeout at 10: run that timer (drop it from the model's view) and leave.
        st.leave();
        let reread = b.next_when();
        let action = publisher.join().unwrap();
        assert!(
            action != WakeFor::InTime || reread == 20,
            "timer at 20 lost: publisher saw a sleeper in time, re-read {reread}"
        );
    });
}
