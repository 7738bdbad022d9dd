//! Denormals flushed to zero on the real-time threads: [`ScopedFtz`], held for the whole
//! loop of the audio thread (`super::run::run_device`) and of the stretch worker.
//!
//! A decaying tail (a fade, a stretcher's FFT ringing out, a resampler's filter state)
//! passes through subnormal numbers (below 1.2e-38 for `f32`) on its way to zero, and on
//! x86 every operation on one takes a microcode assist of about a hundred cycles: a period
//! that mixes such a tail costs many times a normal one exactly when nothing is heard.
//! With flush-to-zero (results) and denormals-are-zero (inputs) the FPU treats them as 0,
//! which is inaudible (-750 dBFS) and as fast as any other number.
//!
//! - x86_64: MXCSR bits FTZ (15) and DAZ (6), which govern SSE/AVX arithmetic (all of
//!   Rust's `f32`/`f64` code and the stretcher's C++ on x86_64);
//! - AArch64: FPCR bit FZ (24), which flushes inputs and results of the FP/NEON units;
//! - elsewhere the guard does nothing.
//!
//! The mode belongs to the thread (the kernel saves it with the thread's registers), so the
//! guard changes no other thread; it is restored on drop. Rust assumes the default floating
//! point environment, so compile-time folded maths keeps IEEE subnormals where run-time maths
//! flushes them: harmless for audio, and the reason the guard is scoped to the real-time
//! loops rather than set process-wide.

use core::marker::PhantomData;

/// MXCSR flush-to-zero (bit 15) and denormals-are-zero (bit 6).
#[cfg(target_arch = "x86_64")]
pub const MXCSR_FTZ_DAZ: u32 = 0x8040;
/// FPCR flush-to-zero (bit 24).
#[cfg(target_arch = "aarch64")]
pub const FPCR_FZ: u64 = 1 << 24;

/// Flush-to-zero for the calling thread while it lives; the previous mode comes back on
/// drop. Not `Send`: it must be dropped on the thread that made it. Any thread (the
/// audio thread and the stretch worker hold one around their loops); no allocation, one
/// register read and one write each way.
pub struct ScopedFtz {
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(dead_code)
    )]
    saved: u64,
    _not_send: PhantomData<*const ()>,
}

impl ScopedFtz {
    /// Turns flush-to-zero on for this thread.
    #[inline]
    pub fn enable() -> ScopedFtz {
        let saved = arch::read();
        arch::write(saved | arch::FLUSH_BITS);
        ScopedFtz {
            saved,
            _not_send: PhantomData,
        }
    }

    /// Whether this CPU architecture has a flush-to-zero mode the guard sets.
    pub const fn supported() -> bool {
        cfg!(any(target_arch = "x86_64", target_arch = "aarch64"))
    }
}

impl Drop for ScopedFtz {
    #[inline]
    fn drop(&mut self) {
        arch::write(self.saved);
    }
}

/// Whether flush-to-zero is on for the calling thread now.
pub fn is_flushing() -> bool {
    ScopedFtz::supported() && arch::read() & arch::FLUSH_BITS == arch::FLUSH_BITS
}

#[cfg(target_arch = "x86_64")]
mod arch {
    use core::arch::asm;

    pub const FLUSH_BITS: u64 = super::MXCSR_FTZ_DAZ as u64;

    // Inline `stmxcsr`/`ldmxcsr` rather than `_mm_getcsr`/`_mm_setcsr`, which are
    // deprecated for exactly this reason (changing the mode under the compiler's feet);
    // here that is the point, and it is scoped.
    #[inline]
    pub fn read() -> u64 {
        let mut csr: u32 = 0;
        // SAFETY: stores the 32-bit MXCSR into a local.
        unsafe {
            asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
        }
        csr as u64
    }

    #[inline]
    pub fn write(csr: u64) {
        let csr = csr as u32;
        // SAFETY: loads MXCSR from a local holding a value read from MXCSR with at most the
        // FTZ and DAZ bits added, which every x86_64 CPU accepts.
        unsafe {
            asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags, readonly));
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    use core::arch::asm;

    pub const FLUSH_BITS: u64 = super::FPCR_FZ;

    #[inline]
    pub fn read() -> u64 {
        let fpcr: u64;
        // SAFETY: reads the FP control register of this thread.
        unsafe {
            asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags));
        }
        fpcr
    }

    #[inline]
    pub fn write(fpcr: u64) {
        // SAFETY: writes back a value read from FPCR with at most FZ added.
        unsafe {
            asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack, preserves_flags));
        }
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod arch {
    pub const FLUSH_BITS: u64 = 0;

    pub fn read() -> u64 {
        0
    }

    pub fn write(_: u64) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    /// The smallest normal `f32` halved: a subnormal, unless the FPU flushes it.
    fn halved_min_positive() -> f32 {
        black_box(f32::MIN_POSITIVE) * black_box(0.5f32)
    }

    /// A subnormal operand times one: the operand itself, unless inputs are flushed.
    fn subnormal_times_one() -> f64 {
        black_box(f64::MIN_POSITIVE / 4.0) * black_box(1.0f64)
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn the_guard_flushes_subnormal_results_and_inputs_and_restores_the_mode() {
        // Each test runs on its own thread, which starts in the default mode.
        assert!(!is_flushing());
        assert!(halved_min_positive().is_subnormal());
        assert!(subnormal_times_one().is_subnormal());
        {
            let _ftz = ScopedFtz::enable();
            assert!(is_flushing());
            assert_eq!(halved_min_positive(), 0.0);
            assert_eq!(subnormal_times_one(), 0.0);
            // Normal numbers are untouched.
            assert_eq!(black_box(1.5f32) * black_box(0.5f32), 0.75);
            {
                let _nested = ScopedFtz::enable();
                assert_eq!(halved_min_positive(), 0.0);
            }
            assert!(is_flushing(), "the inner guard restores the outer mode");
        }
        assert!(!is_flushing());
        assert!(halved_min_positive().is_subnormal());
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn a_guard_changes_only_its_own_thread() {
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        // Started before the guard, so it cannot have inherited the mode at clone.
        let other = std::thread::spawn(move || {
            let _ = go_rx.recv();
            (is_flushing(), halved_min_positive().is_subnormal())
        });
        let _ftz = ScopedFtz::enable();
        go_tx.send(()).unwrap();
        let (flushing, subnormal) = other.join().unwrap();
        assert!(
            !flushing && subnormal,
            "the other thread keeps IEEE subnormals"
        );
        assert!(is_flushing());
    }
}
