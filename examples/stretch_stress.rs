//! The stretch worker under load (issue 19): the threaded worker at the appliance's
//! scheduling (the paced "audio thread" SCHED_FIFO, the worker just below it) for 60 s at
//! 80 % with a speed change every 0.5 s, while `stress-ng --cpu 2` loads both cores;
//! prints the underruns (the goal is 0) and the worker's worst call.
//!
//! `cargo run --release --example stretch_stress [-- SECONDS]`;
//! `STRETCH_STRESS_INHERIT=1` runs the worker at normal priority, as it was before.

#[path = "../tests/stretch_music/mod.rs"]
mod stretch_music;

fn main() {
    let seconds = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(60.0);
    let (underruns, scheduling, stretched) = stretch_music::paced_session_under_load(seconds);
    println!("worker scheduling {scheduling}; {stretched} periods stretched; stretch_underruns={underruns}");
    if underruns > 0 {
        std::process::exit(1);
    }
}
