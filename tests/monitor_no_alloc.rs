//! The audio thread's side of the latency monitor never allocates: `MonitorRt::wake`,
//! `committed`, `recovered` and the `LoopObserver` hooks, with real clock reads, run inside
//! `assert_no_alloc`.
//! Lives in its own test binary because the allocator hook is process-wide; an allocation
//! inside the closure aborts the test binary (assert_no_alloc's default in debug builds).
//! assert_no_alloc disables itself in release builds (its default `disable_release`
//! feature removes `AllocDisabler`), so this file is empty there.
#![cfg(debug_assertions)]

use assert_no_alloc::{assert_no_alloc, AllocDisabler};
use std::sync::Arc;
use stembox::rt::monitor::{now_ns, MonitorRt, MonitorShared};
use stembox::rt::run::LoopObserver;

#[global_allocator]
static A: AllocDisabler = AllocDisabler;

#[test]
fn monitor_rt_does_not_allocate() {
    let shared = Arc::new(MonitorShared::new());
    let mut rt = MonitorRt::new(shared.clone(), 64, 48_000);
    let base = shared.reset_window();
    assert_no_alloc(|| {
        for i in 0..10_000u64 {
            rt.wake(now_ns(), 64 + (i % 3));
            rt.committed(now_ns());
            if i % 1000 == 999 {
                let t = now_ns();
                rt.recovered(now_ns() - t);
                // The same through the audio loop's hooks.
                LoopObserver::wake(&mut rt, 64);
                LoopObserver::committed(&mut rt);
                rt.recovery_begin();
                rt.recovery_end();
            }
        }
    });
    let w = shared.snapshot().since(&base);
    assert_eq!(w.periods(), 10_010);
    assert_eq!(w.wakes(), 10_010);
    assert_eq!(w.recoveries(), 20);
}
