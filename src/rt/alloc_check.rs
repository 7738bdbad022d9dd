//! The no-allocation check on what really runs: the audio thread's loop and the stretch
//! worker's loop each run inside [`no_alloc`], so in debug builds (the binary `cargo test`
//! builds and the end-to-end tests drive) every played period is also a proof of the first
//! rule of `crate::rt`. As in nih-plug's wrapper, the real call is checked, not a copy.
//!
//! Two checkers see a region:
//! - [`RtAllocChecker`], the `#[global_allocator]` of the `stembox` binary in debug builds:
//!   an allocation, reallocation or free inside a region writes one line naming the region,
//!   the thread and the size, then a backtrace to the allocating call, and aborts. A run
//!   that allocates on the audio thread therefore dies with SIGABRT, and the test driving
//!   it fails with the culprit on stderr. A panic inside a region is let through: its
//!   message is the report, and the thread unwinds as in a release build. (Why not
//!   `assert_no_alloc`'s own `AllocDisabler`: it aborts through `handle_alloc_error`,
//!   whose "memory allocation of 24 bytes failed" reads like an out-of-memory and names
//!   nothing, and its crates.io release has no backtrace feature.)
//! - `assert_no_alloc::AllocDisabler`, which test binaries that check by hand install
//!   (`tests/rt_loop_no_alloc.rs` and the others): [`no_alloc`] enters
//!   `assert_no_alloc` too, so those binaries check the same regions.
//!
//! Release builds pay nothing: [`no_alloc`] is the plain call and the binary keeps the
//! system allocator. Set-up that allocates (opening and mapping the device, building the
//! engine and the stretcher, reopening after a device loss, the error text) stays outside
//! the regions, on the control thread or before the loop.

/// Runs `f` as the no-allocation region `region` (a short name, e.g. `"audio loop"`): in
/// debug builds any allocation or free on this thread inside it aborts the process (see
/// the module doc); in release builds it is just `f()`. Regions nest. Any thread; called
/// once around a real-time thread's whole loop.
#[inline(always)]
pub fn no_alloc<T>(region: &'static str, f: impl FnOnce() -> T) -> T {
    #[cfg(debug_assertions)]
    {
        let _restore = checked::enter(region);
        assert_no_alloc::assert_no_alloc(f)
    }
    #[cfg(not(debug_assertions))]
    {
        let _ = region;
        f()
    }
}

/// The region this thread is in, if any (debug builds; `None` in release builds).
pub fn current_region() -> Option<&'static str> {
    #[cfg(debug_assertions)]
    {
        checked::REGION.with(|r| r.get())
    }
    #[cfg(not(debug_assertions))]
    {
        None
    }
}

#[cfg(debug_assertions)]
pub use checked::RtAllocChecker;

#[cfg(debug_assertions)]
mod checked {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        // `const` and `Copy`: no lazy initialisation and no destructor, so reading it from
        // inside the allocator never allocates.
        pub(super) static REGION: Cell<Option<&'static str>> = const { Cell::new(None) };
    }

    /// Puts the previous region back when a region ends (also on unwinding).
    pub(super) struct Restore(Option<&'static str>);

    pub(super) fn enter(region: &'static str) -> Restore {
        Restore(REGION.with(|r| r.replace(Some(region))))
    }

    impl Drop for Restore {
        fn drop(&mut self) {
            REGION.with(|r| r.set(self.0));
        }
    }

    /// The system allocator, which aborts with a message on any call made inside a
    /// [`super::no_alloc`] region. The `stembox` binary's global allocator in debug builds;
    /// a test binary may install it as well.
    pub struct RtAllocChecker;

    impl RtAllocChecker {
        #[inline]
        fn check(&self, what: &str, layout: Layout) {
            // `try_with`: during thread exit the slot may be gone; nothing checks there.
            let region = REGION.try_with(|r| r.get()).ok().flatten();
            // A panic allocates its message and payload, and unwinding frees: the panic is
            // the failure to report then, with its own message, as in a release build.
            if let Some(region) = region {
                if !std::thread::panicking() {
                    violation(region, what, layout.size());
                }
            }
        }
    }

    /// Reports the violation and aborts. The region is left first, so the report itself
    /// may allocate (the process ends anyway); it is written with `write(2)` to stderr,
    /// outside the stderr lock the thread might hold.
    #[cold]
    #[inline(never)]
    fn violation(region: &str, what: &str, bytes: usize) -> ! {
        REGION.with(|r| r.set(None));
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("?");
        let backtrace = std::backtrace::Backtrace::force_capture();
        let msg = format!(
            "stembox: {what} {bytes} bytes on thread \"{name}\" inside the no-allocation \
             region \"{region}\" (rt::alloc_check): this breaks the real-time rules; \
             aborting.\n{backtrace}\n"
        );
        write_stderr(msg.as_bytes());
        std::process::abort()
    }

    fn write_stderr(mut bytes: &[u8]) {
        while !bytes.is_empty() {
            // SAFETY: writes from a valid slice to fd 2.
            let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
            if n <= 0 {
                return;
            }
            bytes = &bytes[n as usize..];
        }
    }

    // SAFETY: every call goes to `System` unchanged after the check; the check only reads
    // a thread-local or ends the process.
    unsafe impl GlobalAlloc for RtAllocChecker {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            self.check("allocated", layout);
            System.alloc(layout)
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // calloc, as without the checker: its big blocks are fresh zero pages that are
            // not touched (and so not resident) until written.
            self.check("allocated", layout);
            System.alloc_zeroed(layout)
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            self.check("freed", layout);
            System.dealloc(ptr, layout)
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            self.check("reallocated", layout);
            System.realloc(ptr, layout, new_size)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_nest_and_end() {
        assert_eq!(current_region(), None);
        // The lib's test binary keeps the system allocator: nothing aborts here, this
        // checks only the bookkeeping the allocator reads.
        let seen = no_alloc("outer", || {
            let outer = current_region();
            let inner = no_alloc("inner", current_region);
            (outer, inner, current_region())
        });
        if cfg!(debug_assertions) {
            assert_eq!(seen, (Some("outer"), Some("inner"), Some("outer")));
        } else {
            assert_eq!(seen, (None, None, None));
        }
        assert_eq!(current_region(), None);
    }

    #[test]
    fn a_region_ends_when_its_closure_unwinds() {
        let r = std::panic::catch_unwind(|| no_alloc("unwinds", || panic!("boom")));
        assert!(r.is_err());
        assert_eq!(current_region(), None);
    }
}
