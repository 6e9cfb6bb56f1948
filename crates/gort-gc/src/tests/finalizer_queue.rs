//! The finalizer queue: a batch appended while the finalizer goroutine retires the head is not lost.

use crate::finalizer::FinQueue;

/// Retires the head of a one-batch queue with `push` appended before, between the two
/// steps of, or after the retirement; the appended batch must end up alone on the list
/// and be retired by `run` in turn.
fn retire_with_push_at(point: usize) {
    let q = FinQueue::new();
    q.push_batch(&[]);
    let a = q.head_for_test();
    assert!(!a.is_null());
    if point == 0 {
        q.push_batch(&[]);
    }
    q.retire(a, || {
        if point == 1 {
            q.push_batch(&[]);
        }
    });
    if point == 2 {
        q.push_batch(&[]);
    }
    assert_eq!(
        q.len_for_test(),
        1,
        "push at step {point}: the new batch was lost"
    );
    q.run();
    assert_eq!(q.len_for_test(), 0);
    assert!(q.head_for_test().is_null());
    // The queue still works afterwards.
    q.push_batch(&[]);
    assert_eq!(q.len_for_test(), 1);
    q.run();
    assert!(q.head_for_test().is_null());
    assert_eq!(q.pending(), 0);
}

#[test]
fn push_before_retire_links_behind_the_head() {
    retire_with_push_at(0);
}

#[test]
fn push_between_seal_and_unlink_becomes_the_head() {
    retire_with_push_at(1);
}

#[test]
fn push_after_retire_starts_a_new_list() {
    retire_with_push_at(2);
}
