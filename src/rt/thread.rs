//! Real-time set-up for the audio thread: signals blocked, SCHED_FIFO, CPU pinning, locked
//! memory. Called once before the audio loop starts; where the system refuses, the caller
//! prints one clear warning and stembox goes on at normal priority.

/// Blocks every signal on the calling thread, so the kernel delivers them to another
/// thread: a handler never runs on the audio thread (it may allocate or lock and would
/// take the time of a period), and no call here ends early with EINTR. SIGKILL and SIGSTOP
/// cannot be blocked (the kernel ignores them in the mask). Audio thread, first thing.
pub fn block_all_signals() -> Result<(), String> {
    // SAFETY: `set` is a local sigset_t initialised by sigfillset before use.
    let r = unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, core::ptr::null_mut())
    };
    if r == 0 {
        Ok(())
    } else {
        Err(format!(
            "cannot block signals on the audio thread (pthread_sigmask: {})",
            std::io::Error::from_raw_os_error(r)
        ))
    }
}

/// The signals blocked on the calling thread, for tests and reports.
pub fn blocked_signals() -> libc::sigset_t {
    // SAFETY: a null new set only reads the mask into the local `old`.
    unsafe {
        let mut old: libc::sigset_t = core::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, core::ptr::null(), &mut old);
        old
    }
}

/// Locks memory so the audio path never page-faults, without locking more than is used.
/// Main thread, before the other threads start; `Err` is a warning to print.
///
/// `MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT` (Linux >= 4.4): what is mapped now (code,
/// libraries, the heap so far) and every later mapping stay in RAM, but a page is locked
/// when it is first touched, not when it is mapped. Plain `MCL_FUTURE` populates every new
/// mapping in full at once: each thread's 8 MB stack, glibc's 64 MB malloc arenas, and a
/// buffer reserved from a file header that claims more than it holds; on a 1-2 GB board a
/// big decode then becomes an OOM kill. With `MCL_ONFAULT` only what the process really
/// writes is resident and locked, which is what it would use anyway; what the audio thread
/// reads (the loop's buffers, built before it starts, and the songs, written by the loader
/// before they are handed over) has been touched before the audio thread needs it, so it
/// does not fault there. Locking only the audio thread's own ranges was the alternative;
/// it would leave the song buffers (the bulk, allocated by the loader) to be tracked one
/// by one, for nothing: without swap, anonymous pages stay in RAM anyway, and the locked
/// file-backed pages (our code and alsa-lib's) are what eviction under memory pressure
/// would otherwise take. `tests/page_faults.rs` counts the audio thread's faults.
///
/// On a kernel without `MCL_ONFAULT` (EINVAL) only the current pages are locked (with a
/// warning): locking every future mapping up front is the failure this avoids.
pub fn lock_memory() -> Result<(), String> {
    // SAFETY: plain syscall wrapper with constant flags.
    let r = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT) };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::EINVAL) {
        return Err(format!(
            "cannot lock memory (mlockall: {e}); raise LimitMEMLOCK / `ulimit -l`, or run as root"
        ));
    }
    // SAFETY: as above.
    let r = unsafe { libc::mlockall(libc::MCL_CURRENT) };
    if r == 0 {
        Err(
            "this kernel has no MCL_ONFAULT (Linux < 4.4): locked the current pages only; \
             songs loaded later are not locked"
                .into(),
        )
    } else {
        Err(format!(
            "cannot lock memory (mlockall: {}); raise LimitMEMLOCK / `ulimit -l`, or run as root",
            std::io::Error::last_os_error()
        ))
    }
}

/// Makes the calling thread SCHED_FIFO at `priority` and, if given, pins it to `cpu`.
/// Returns the warnings for what the system refused.
pub fn make_current_thread_realtime(priority: u32, cpu: Option<usize>) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(cpu) = cpu {
        // SAFETY: cpu_set_t is plain data; CPU_SET bounds-checks against its size.
        unsafe {
            let mut set: libc::cpu_set_t = core::mem::zeroed();
            if cpu < libc::CPU_SETSIZE as usize {
                libc::CPU_SET(cpu, &mut set);
            }
            if libc::sched_setaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                warnings.push(format!(
                    "cannot pin the audio thread to CPU {cpu} (rt.cpu): {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
    }
    let param = libc::sched_param {
        sched_priority: priority as i32,
    };
    // SAFETY: pthread_self is always valid for the calling thread.
    let r = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if r != 0 {
        warnings.push(format!(
            "cannot run the audio thread SCHED_FIFO at priority {priority} (rt.priority): {}; \
             going on at normal priority (grant LimitRTPRIO or CAP_SYS_NICE)",
            std::io::Error::from_raw_os_error(r)
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_blocked(set: &libc::sigset_t, sig: i32) -> bool {
        // SAFETY: reads a valid sigset_t.
        unsafe { libc::sigismember(set, sig) == 1 }
    }

    #[test]
    fn block_all_signals_blocks_every_catchable_signal_on_this_thread_only() {
        let before = blocked_signals();
        assert!(
            !is_blocked(&before, libc::SIGTERM),
            "test thread starts unblocked"
        );
        let blocked = std::thread::spawn(|| {
            block_all_signals().unwrap();
            blocked_signals()
        })
        .join()
        .unwrap();
        for sig in 1..libc::SIGRTMAX() {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP || (32..libc::SIGRTMIN()).contains(&sig)
            {
                continue;
            }
            assert!(is_blocked(&blocked, sig), "signal {sig} not blocked");
        }
        assert!(
            !is_blocked(&blocked_signals(), libc::SIGTERM),
            "other threads keep theirs"
        );
    }
}
