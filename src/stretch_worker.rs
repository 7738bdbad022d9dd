//! The stretch worker: the thread that runs Signalsmith Stretch for the audio thread's
//! [`StretchPipe`] (see `crate::rt::stretch` for the whole pipeline).
//!
//! The stretcher's cost is bursty (one FFT block analysis and synthesis per
//! `interval_frames` of output), so it runs here and stays `lead_frames` ahead of the
//! audio thread, which only copies samples. The worker allocates only in
//! [`StretchWorker::new`]: the stretcher's buffers are sized by its `configure`, and
//! Signalsmith's `process` only resizes its scratch within the capacity reserved there,
//! so the worker can run at a modest real-time priority.
//!
//! It polls its rings (sleeping a fraction of the lead between polls) rather than being
//! woken by the audio thread, so the audio thread makes no system call for it.

use crate::rt::stretch::{
    self, StretchConfig, StretchPipe, StretcherLatency, WorkerEnds, WorkerMsg,
};
use signalsmith_stretch::Stretch;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The stretcher and the worker's ends of the rings. Made on any thread with
/// [`StretchWorker::new`]; then either [`StretchWorker::spawn`]ed on its own thread, or
/// driven by hand with [`StretchWorker::run_pending`] (tests, benchmarks, offline render).
pub struct StretchWorker {
    stretcher: Stretch,
    ends: WorkerEnds,
    channels: usize,
    input: Box<[f32]>,
    output: Box<[f32]>,
    pitch_st: f32,
    poll: Duration,
    /// Longest single `process` call so far.
    worst_call: Duration,
    /// Total time spent in `process` calls.
    busy: Duration,
    /// Output frames produced.
    produced_frames: u64,
}

/// What [`StretchWorker::run_pending`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerProgress {
    /// Chunks stretched.
    pub chunks: usize,
    /// Output frames pushed.
    pub output_frames: usize,
}

impl StretchWorker {
    /// Configures the stretcher and makes the pipe for the audio thread and this worker.
    /// Allocates everything; control thread.
    pub fn new(config: StretchConfig) -> (StretchPipe, StretchWorker) {
        let stretcher = Stretch::new(
            config.channels as u32,
            config.block_frames,
            config.interval_frames,
        );
        let latency = StretcherLatency {
            input_frames: stretcher.input_latency(),
            output_frames: stretcher.output_latency(),
        };
        let (pipe, ends) = stretch::channel(config, latency);
        // Poll often enough that a quarter of the lead is the longest the worker sleeps
        // while the audio thread drains the output ring.
        let lead_s = config.lead_frames as f64 / config.rate_hz as f64;
        let poll = Duration::from_secs_f64((lead_s / 4.0).clamp(0.000_2, 0.002));
        let worker = StretchWorker {
            stretcher,
            ends,
            channels: config.channels,
            input: vec![0.0; config.max_chunk_frames() * config.channels].into_boxed_slice(),
            output: vec![0.0; config.max_chunk_output_frames() * config.channels]
                .into_boxed_slice(),
            pitch_st: 0.0,
            poll,
            worst_call: Duration::ZERO,
            busy: Duration::ZERO,
            produced_frames: 0,
        };
        (pipe, worker)
    }

    /// Stretches every chunk the audio thread has pushed, as far as the output ring has
    /// room, and returns what it did. Worker thread (or the test's only thread).
    pub fn run_pending(&mut self) -> WorkerProgress {
        let mut progress = WorkerProgress::default();
        loop {
            let Ok(msg) = self.ends.msgs.peek().copied() else {
                break;
            };
            match msg {
                WorkerMsg::Reset => {
                    self.stretcher.reset();
                }
                WorkerMsg::Chunk {
                    input_frames,
                    output_frames,
                    pitch_st,
                } => {
                    let (n_in, n_out) = (input_frames as usize, output_frames as usize);
                    let ch = self.channels;
                    if self.ends.output.slots() < n_out * ch {
                        // The audio thread is behind (or stalled): try again later.
                        break;
                    }
                    if pitch_st != self.pitch_st {
                        self.stretcher
                            .set_transpose_factor_semitones(pitch_st, None);
                        self.pitch_st = pitch_st;
                    }
                    // The samples were pushed before the message.
                    let Ok(chunk) = self.ends.input.read_chunk(n_in * ch) else {
                        break;
                    };
                    let (a, b) = chunk.as_slices();
                    self.input[..a.len()].copy_from_slice(a);
                    self.input[a.len()..a.len() + b.len()].copy_from_slice(b);
                    chunk.commit_all();

                    let started = Instant::now();
                    self.stretcher
                        .process(&self.input[..n_in * ch], &mut self.output[..n_out * ch]);
                    let took = started.elapsed();
                    self.worst_call = self.worst_call.max(took);
                    self.busy += took;

                    if let Ok(mut out) = self.ends.output.write_chunk_uninit(n_out * ch) {
                        let (a, b) = out.as_mut_slices();
                        let (src_a, src_b) = self.output[..n_out * ch].split_at(a.len());
                        for (d, s) in a.iter_mut().zip(src_a) {
                            d.write(*s);
                        }
                        for (d, s) in b.iter_mut().zip(src_b) {
                            d.write(*s);
                        }
                        // SAFETY: both slices were written in full just above.
                        unsafe { out.commit_all() };
                    }
                    self.produced_frames += n_out as u64;
                    progress.chunks += 1;
                    progress.output_frames += n_out;
                }
            }
            let _ = self.ends.msgs.pop();
        }
        progress
    }

    /// Longest single stretcher call so far.
    pub fn worst_call(&self) -> Duration {
        self.worst_call
    }

    /// Time spent stretching so far, and the output frames it produced.
    pub fn busy(&self) -> (Duration, u64) {
        (self.busy, self.produced_frames)
    }

    /// Starts the worker on its own thread, named `stretch`. Control thread. The returned
    /// handle stops and joins it when dropped.
    pub fn spawn(mut self) -> std::io::Result<StretchWorkerHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("stretch".into())
            .spawn(move || {
                while !stop_flag.load(Ordering::Acquire) {
                    let done = self.run_pending();
                    if done.chunks == 0 {
                        std::thread::sleep(self.poll);
                    }
                }
                self
            })?;
        Ok(StretchWorkerHandle {
            stop,
            thread: Some(thread),
        })
    }
}

/// A running worker thread. Dropping it stops and joins the thread.
pub struct StretchWorkerHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<StretchWorker>>,
}

impl StretchWorkerHandle {
    /// Stops the thread and hands the worker back (with its timing counters).
    pub fn stop(mut self) -> Option<StretchWorker> {
        self.stop.store(true, Ordering::Release);
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for StretchWorkerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
