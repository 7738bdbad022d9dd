//! Real-time scheduling for the audio thread: SCHED_FIFO, CPU pinning, locked memory.
//! Called once before the audio loop starts; where the system refuses, the caller prints
//! one clear warning and stembox goes on at normal priority.

/// Locks all current and future pages in RAM so the audio path never page-faults
/// (songs are decoded into RAM ahead of time; this keeps them there). Main thread.
pub fn lock_memory() -> Result<(), String> {
    // SAFETY: plain syscall wrapper with constant flags.
    let r = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if r == 0 {
        Ok(())
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

/// The scheduling policy and priority of the calling thread, for reports and tests.
pub fn current_thread_policy() -> (i32, i32) {
    let mut policy = 0;
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: out-pointers to locals.
    unsafe { libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) };
    (policy, param.sched_priority)
}
