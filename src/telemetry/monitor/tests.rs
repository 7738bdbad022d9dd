//! Monitor maths against known inputs, driven with a fake clock.

use super::*;
use crate::rt::monitor::GRID_BLOCK_PERIODS;
use std::sync::Arc;

const RATE: u32 = 48_000;
const PERIOD: u32 = 64;
/// 64 frames at 48 kHz.
const P_NS: u64 = 1_333_333;

fn monitor() -> (Arc<MonitorShared>, MonitorRt) {
    let shared = Arc::new(MonitorShared::new());
    let rt = MonitorRt::new(shared.clone(), PERIOD, RATE);
    (shared, rt)
}

/// Runs one period on the fake clock: wakes `lateness_ns` after boundary `k`, works `work_ns`.
fn period(rt: &mut MonitorRt, k: u64, lateness_ns: u64, work_ns: u64) {
    let t = 1_000_000_000 + k * P_NS + lateness_ns;
    rt.wake(t, PERIOD as u64);
    rt.committed(t + work_ns);
}

#[test]
fn now_ns_is_monotonic_and_fine() {
    let a = now_ns();
    let b = now_ns();
    assert!(a > 0 && b >= a);
    std::thread::sleep(std::time::Duration::from_millis(2));
    let c = now_ns();
    assert!(c - b >= 2_000_000 && c - b < 1_000_000_000, "{}", c - b);
}

#[test]
fn work_percentiles_exact_in_linear_part() {
    let (shared, mut rt) = monitor();
    let base = shared.snapshot();
    // Work times 1..=1000 µs, each once, in a scrambled order.
    for i in 0..1000u64 {
        let us = (i * 389) % 1000 + 1;
        period(&mut rt, i, 0, us * 1000 + 999); // sub-µs part is truncated
    }
    let w = shared.snapshot().since(&base);
    assert_eq!(w.periods(), 1000);
    assert_eq!(w.wakes(), 1000);
    assert_eq!(w.work_percentile_us(50.0), Some(500));
    assert_eq!(w.work_percentile_us(99.0), Some(990));
    assert_eq!(w.work_percentile_us(99.9), Some(999));
    assert_eq!(w.work_percentile_us(100.0), Some(1000));
    assert_eq!(w.work_max_us(), 1000);
}

#[test]
fn empty_window_has_no_percentiles() {
    let (shared, _rt) = monitor();
    let w = shared.snapshot().since(&shared.snapshot());
    assert_eq!(w.periods(), 0);
    assert_eq!(w.work_percentile_us(50.0), None);
    assert_eq!(w.wake_percentile_us(99.0), None);
    assert_eq!(w.work_max_us(), 0);
    assert_eq!(w.load_avg_pct(), 0.0);
    assert_eq!(w.load_max_pct(), 0.0);
    assert!((w.period_us() - 1333.333).abs() < 0.001);
}

#[test]
fn percentile_error_is_bounded_above_linear_part() {
    let (shared, mut rt) = monitor();
    let base = shared.snapshot();
    // 990 short periods, then 10 long ones spread over 1.1..100 ms.
    for k in 0..990 {
        period(&mut rt, k, 0, 20_000);
    }
    let long_us = [
        1100u64, 1500, 2222, 3333, 5000, 9999, 12_345, 40_000, 77_777, 100_000,
    ];
    for (i, us) in long_us.iter().enumerate() {
        period(&mut rt, 990 + i as u64, 0, us * 1000);
    }
    let w = shared.snapshot().since(&base);
    assert_eq!(w.work_percentile_us(50.0), Some(20));
    assert_eq!(w.work_percentile_us(99.0), Some(20));
    for (i, &truth) in long_us.iter().enumerate() {
        // Rank 991 + i of 1000 is long_us[i].
        let p = (991 + i) as f64 / 10.0;
        let got = w.work_percentile_us(p).unwrap();
        assert!(got >= truth, "p{p}: {got} < {truth}");
        assert!(
            (got - truth) * 64 <= truth,
            "p{p}: {got} too far above {truth}"
        );
    }
    // The top percentile is clamped to the exact maximum.
    assert_eq!(w.work_percentile_us(100.0), Some(100_000));
    assert_eq!(w.work_max_us(), 100_000);
}

#[test]
fn late_periods_are_those_over_80_percent() {
    let (shared, mut rt) = monitor();
    let base = shared.snapshot();
    let budget = P_NS * 8 / 10; // 1_066_666 ns
    period(&mut rt, 0, 0, budget - 1);
    period(&mut rt, 1, 0, budget);
    period(&mut rt, 2, 0, budget + 1);
    period(&mut rt, 3, 0, 2 * P_NS);
    period(&mut rt, 4, 0, 10_000);
    let w = shared.snapshot().since(&base);
    assert_eq!(w.periods(), 5);
    assert_eq!(w.late(), 2);
}

#[test]
fn load_average_and_max() {
    let (shared, mut rt) = monitor();
    let base = shared.snapshot();
    // 10 % for three periods, 40 % for one: average 17.5 %, max 40 %.
    for k in 0..3 {
        period(&mut rt, k, 0, P_NS / 10);
    }
    period(&mut rt, 3, 0, P_NS * 4 / 10);
    let w = shared.snapshot().since(&base);
    assert!(
        (w.load_avg_pct() - 17.5).abs() < 0.01,
        "{}",
        w.load_avg_pct()
    );
    assert!(
        (w.load_max_pct() - 40.0).abs() < 0.01,
        "{}",
        w.load_max_pct()
    );
}

#[test]
fn reset_starts_a_new_window_for_counts_and_maxima() {
    let (shared, mut rt) = monitor();
    let start = shared.reset_window();
    // Late, and woke 24 frames (500 µs) after the boundary by the device's pointer.
    rt.wake(1_000_500_000, PERIOD as u64 + 24);
    rt.committed(1_001_700_000);
    period(&mut rt, 1, 0, 50_000);
    let first = shared.snapshot().since(&start);
    assert_eq!(first.periods(), 2);
    assert_eq!(first.late(), 1);
    assert_eq!(first.work_max_us(), 1200);
    assert_eq!(first.wake_max_us(), 500);

    let base = shared.reset_window();
    period(&mut rt, 2, 0, 30_000);
    period(&mut rt, 3, 0, 40_000);
    let second = shared.snapshot().since(&base);
    assert_eq!(second.periods(), 2);
    assert_eq!(second.late(), 0);
    assert_eq!(second.work_max_us(), 40);
    assert_eq!(second.work_percentile_us(50.0), Some(30));
    assert_eq!(second.wake_max_us(), 0);
    assert!((second.load_avg_pct() - 35_000.0 * 100.0 / P_NS as f64).abs() < 1e-9);

    // A stats line without a reset keeps counting from the old baseline.
    let no_reset = shared.snapshot().since(&start);
    assert_eq!(no_reset.periods(), 4);
    assert_eq!(no_reset.late(), 1);
}

#[test]
fn commit_without_wake_records_nothing() {
    let (shared, mut rt) = monitor();
    let base = shared.snapshot();
    rt.committed(5_000_000);
    rt.wake(10_000_000, PERIOD as u64);
    rt.committed(10_050_000);
    rt.committed(10_060_000);
    let w = shared.snapshot().since(&base);
    assert_eq!(w.periods(), 1);
    assert_eq!(w.work_max_us(), 50);
}

#[test]
fn wake_lateness_from_a_fine_device_pointer() {
    let (shared, mut rt) = monitor();
    let base = shared.snapshot();
    // 48 frames past the boundary at 48 kHz: 1 ms late, on the very first wake.
    rt.wake(50_000_000, PERIOD as u64 + 48);
    let w = shared.snapshot().since(&base);
    assert_eq!(w.wake_max_us(), 1000);
    // A stall of three periods is seen as two periods late.
    let t = 50_000_000 - 1_000_000 + 3 * P_NS;
    rt.wake(t, 3 * PERIOD as u64);
    let w = shared.snapshot().since(&base);
    assert_eq!(w.wake_max_us(), 2666);
}

#[test]
fn wake_lateness_from_a_coarse_pointer_uses_the_clock_grid() {
    // A jack-like device: avail always reads exactly one period, so only the clock can tell.
    let (shared, mut rt) = monitor();
    let base = shared.snapshot();
    period(&mut rt, 0, 5_000, 10_000); // anchors the grid
    period(&mut rt, 1, 5_000, 10_000); // same delay: on time
    period(&mut rt, 2, 205_000, 10_000); // 200 µs later than usual
    period(&mut rt, 3, 5_000, 10_000);
    let w = shared.snapshot().since(&base);
    assert_eq!(w.wakes(), 4);
    assert_eq!(w.wake_max_us(), 199); // 200 µs less at most one creep step (0.33 µs)
    assert_eq!(w.wake_percentile_us(50.0), Some(0));
    // An earlier wake than the grid expects moves the grid earlier (never negative lateness).
    period(&mut rt, 4, 0, 10_000);
    period(&mut rt, 5, 100_000, 10_000);
    let w = shared.snapshot().since(&base);
    assert_eq!(w.wake_percentile_us(100.0), Some(199));
    let b2 = shared.reset_window();
    period(&mut rt, 6, 100_000, 10_000);
    let w = shared.snapshot().since(&b2);
    assert_eq!(w.wake_max_us(), 99);
}

#[test]
fn wake_grid_follows_a_slow_device_clock() {
    // The device's periods are 100 ppm longer than the CPU clock says; with a constant
    // 10 µs delay the measured lateness must stay near zero, not grow by 0.13 µs a period.
    let (shared, mut rt) = monitor();
    let base = shared.snapshot();
    let dev_p = P_NS as f64 * 1.0001;
    for k in 0..100_000u64 {
        let t = 1_000_000_000 + (k as f64 * dev_p) as u64 + 10_000;
        rt.wake(t, PERIOD as u64);
        rt.committed(t + 5_000);
    }
    let w = shared.snapshot().since(&base);
    assert!(w.wake_max_us() <= 10, "{}", w.wake_max_us());
    assert_eq!(w.wake_percentile_us(99.9), Some(0));
}

#[test]
fn wake_grid_follows_a_device_whose_phase_slips() {
    // A jack-like device that once runs a third of a period late and stays on that phase
    // (jackd's dummy driver does under load): reported for at most one grid block, then the
    // grid has moved and on-time wakes read 0 again.
    let (shared, mut rt) = monitor();
    let block = GRID_BLOCK_PERIODS as u64;
    let slip = P_NS / 3;
    for k in 0..1000u64 {
        let t = 1_000_000_000 + k * P_NS + if k >= 100 { slip } else { 0 };
        rt.wake(t, PERIOD as u64);
        rt.committed(t + 5_000);
    }
    let base = shared.reset_window();
    for k in 1000..1100u64 {
        period(&mut rt, k, slip, 5_000);
    }
    let w = shared.snapshot().since(&base);
    assert_eq!(
        w.wake_max_us(),
        0,
        "the slip still counts after {block} periods"
    );
    // And it did count while it was new, in at most two blocks' worth of wakes.
    let fresh = Arc::new(MonitorShared::new());
    let mut rt = MonitorRt::new(fresh.clone(), PERIOD, RATE);
    for k in 0..400u64 {
        let t = 1_000_000_000 + k * P_NS + if k >= 100 { slip } else { 0 };
        rt.wake(t, PERIOD as u64);
    }
    let w = fresh.snapshot().since(&MonitorShared::new().snapshot());
    assert!(
        (440..=444).contains(&w.wake_max_us()),
        "{}",
        w.wake_max_us()
    );
    // At most 2 blocks of the 400 wakes read more than 0.
    let p = 100.0 * (400 - 2 * block) as f64 / 400.0;
    assert_eq!(w.wake_percentile_us(p), Some(0));
}

#[test]
fn recovery_restarts_the_grid_and_keeps_the_worst_time() {
    let (shared, mut rt) = monitor();
    let base = shared.snapshot();
    period(&mut rt, 0, 0, 10_000);
    rt.wake(1_000_000_000 + P_NS, PERIOD as u64);
    rt.recovered(2_500_000);
    rt.recovered(700_000);
    rt.committed(1_000_000_000 + 10 * P_NS); // the recovery's prefill: not a period
                                             // Phase of the new stream is unrelated to the old grid: no lateness from the old one.
    period(&mut rt, 20, 600_000, 10_000);
    period(&mut rt, 21, 600_000, 10_000);
    let w = shared.snapshot().since(&base);
    assert_eq!(w.recoveries(), 2);
    assert_eq!(w.recovery_max_us(), 2500);
    assert_eq!(w.periods(), 3);
    assert_eq!(w.wake_max_us(), 0);
}

#[test]
fn loop_observer_hooks_use_the_real_clock() {
    use crate::rt::run::LoopObserver;
    let (shared, mut rt) = monitor();
    let base = shared.reset_window();
    LoopObserver::wake(&mut rt, PERIOD as u64);
    std::thread::sleep(std::time::Duration::from_millis(3));
    LoopObserver::committed(&mut rt);
    rt.recovery_begin();
    std::thread::sleep(std::time::Duration::from_millis(2));
    rt.recovery_end();
    rt.recovery_end(); // no recovery in progress: nothing
    let w = shared.snapshot().since(&base);
    assert_eq!(w.periods(), 1);
    assert_eq!(w.late(), 1); // 3 ms of work in a 1.33 ms period
    assert!(
        (3000..1_000_000).contains(&w.work_max_us()),
        "{}",
        w.work_max_us()
    );
    assert_eq!(w.recoveries(), 1);
    assert!((2000..1_000_000).contains(&w.recovery_max_us()));
}
