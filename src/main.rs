//! `stembox`: parse arguments, hand over to the app, exit with its code.

/// Debug builds (the binary the end-to-end tests run) abort on any allocation inside the
/// real-time loops (`stembox::rt::alloc_check`); release builds keep the system allocator.
#[cfg(debug_assertions)]
#[global_allocator]
static ALLOC: stembox::rt::alloc_check::RtAllocChecker = stembox::rt::alloc_check::RtAllocChecker;

fn main() {
    tune_allocator();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match stembox::cli::parse(&args) {
        Ok(args) => stembox::control::main_with(args),
        Err(e) => {
            eprintln!("stembox: {e}");
            2
        }
    };
    std::process::exit(code);
}

/// Song buffers are large (megabytes a stem) and come and go with every song change. With
/// glibc's defaults the mmap threshold rises to the size of the last big block freed, so
/// later song buffers come from the heap instead, and the heap keeps the pages after they
/// are freed: the soak saw RSS grow by 100 MB in two minutes of song changes. A fixed
/// threshold (every block of 1 MiB or more is its own mapping, returned to the kernel when
/// freed) and two arenas (the decode threads come and go; each new one would otherwise
/// get an arena of its own that keeps its pages) keep RSS at what the songs hold. Called
/// before any other thread exists. (glibc only: other C libraries have other allocators.)
#[cfg(target_env = "gnu")]
fn tune_allocator() {
    // SAFETY: mallopt only sets allocator parameters; no other thread runs yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(target_env = "gnu"))]
fn tune_allocator() {}
