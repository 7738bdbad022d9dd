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
//! # Pitch: time stretch, then resample
//! Signalsmith's own transposition places a shifted tone by its FFT bins, which leaves it
//! off by up to ~7 cents (measured on sines at 440 Hz with the 120 ms block; 5 cents even
//! with a 240 ms block). Tuning a song for a singer must be exact, so the worker does what
//! Rubber Band does: Signalsmith only stretches time (which keeps a frequency to 0.01
//! cent), by `ratio / speed`, and a windowed-sinc resampler ([`PitchResampler`]) reads that
//! at `ratio` frames per output frame, which moves every frequency by exactly `ratio` and
//! brings the length back to `1 / speed`.
//!
//! It polls its rings (sleeping a fraction of the lead between polls) rather than being
//! woken by the audio thread, so the audio thread makes no system call for it; it runs
//! real-time just below the audio thread ([`WorkerPriority::BelowAudio`]), so that a loaded
//! machine cannot keep it from its next poll.

// The protocol is all the worker knows of the audio side; `channel` makes the ring pair
// (the audio thread's `StretchPipe` and the worker's ends) in one go.
use crate::rt::stretch::protocol::{
    self, InlineStretcher, StretchConfig, StretcherLatency, WorkerEnds, WorkerMsg,
};
use crate::rt::stretch::{channel, StretchPipe};
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
    resampler: PitchResampler,
    /// Stretched frames before resampling.
    mid: Box<[f32]>,
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

impl InlineStretcher for StretchWorker {
    fn run_pending(&mut self) {
        StretchWorker::run_pending(self);
    }
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
            output_frames: stretcher.output_latency() + HALF_TAPS,
        };
        // A chunk's stretched frames: its output times the largest pitch ratio, plus the
        // resampler's look-ahead.
        let max_pitch_ratio = 2f64.powf(protocol::MAX_PITCH_ST as f64 / 12.0);
        let max_mid = (config.max_chunk_output_frames() as f64 * max_pitch_ratio).ceil() as usize
            + 4 * HALF_TAPS;
        let (pipe, ends) = channel(config, latency);
        // Poll often enough that a quarter of the lead is the longest the worker sleeps
        // while the audio thread drains the output ring.
        let lead_s = config.lead_frames as f64 / config.rate_hz as f64;
        let poll = Duration::from_secs_f64((lead_s / 4.0).clamp(0.000_2, 0.002));
        let mut worker = StretchWorker {
            stretcher,
            resampler: PitchResampler::new(config.channels, max_mid),
            mid: vec![0.0; max_mid * config.channels].into_boxed_slice(),
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
        worker.warm_up(config.block_frames * 2);
        (pipe, worker)
    }

    /// Runs the stretcher and the resampler over `frames` of a quiet tone and resets them,
    /// so that their first real call takes no page faults on freshly allocated buffers
    /// (that first call measured ~4 ms instead of ~0.6 ms on x86).
    fn warm_up(&mut self, frames: usize) {
        let ch = self.channels;
        let chunk = (self.input.len() / ch).min(self.output.len() / ch);
        let mut done = 0;
        while done < frames {
            let n = chunk.min(frames - done);
            for (f, frame) in self.input[..n * ch].chunks_exact_mut(ch).enumerate() {
                let t = (done + f) as f32 / 100.0;
                frame.fill(0.01 * t.sin());
            }
            let n_mid = self.resampler.frames_needed(n);
            self.stretcher
                .process(&self.input[..n * ch], &mut self.mid[..n_mid * ch]);
            self.resampler.write(&self.mid[..n_mid * ch]);
            self.resampler.read(&mut self.output[..n * ch]);
            done += n;
        }
        self.stretcher.reset();
        self.resampler.reset();
    }

    /// Stretches every chunk the audio thread has pushed, as far as the output ring has
    /// room, and returns what it did. Worker thread (or the test's only thread).
    pub fn run_pending(&mut self) -> WorkerProgress {
        let mut progress = WorkerProgress::default();
        while let Ok(msg) = self.ends.msgs.peek().copied() {
            match msg {
                WorkerMsg::Reset => {
                    self.stretcher.reset();
                    self.resampler.reset();
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
                        self.resampler.set_ratio(2f64.powf(pitch_st as f64 / 12.0));
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
                    let n_mid = self.resampler.frames_needed(n_out);
                    self.stretcher
                        .process(&self.input[..n_in * ch], &mut self.mid[..n_mid * ch]);
                    self.resampler.write(&self.mid[..n_mid * ch]);
                    self.resampler.read(&mut self.output[..n_out * ch]);
                    let took = started.elapsed();
                    self.worst_call = self.worst_call.max(took);
                    self.busy += took;

                    if let Ok(out) = self.ends.output.write_chunk_uninit(n_out * ch) {
                        // rtrb's safe fill: copies and commits what it wrote.
                        out.fill_from_iter(self.output[..n_out * ch].iter().copied());
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

    /// Starts the worker on its own thread, named `stembox-stretch`, at the priority it was
    /// started with. Control thread. The returned handle stops and joins it when dropped.
    pub fn spawn(self) -> std::io::Result<StretchWorkerHandle> {
        self.spawn_with(WorkerPriority::Inherit)
    }

    /// Starts the worker on its own thread, named `stembox-stretch`, scheduled as `priority` asks
    /// (see [`WorkerPriority::BelowAudio`]: what the appliance uses), and waits until the
    /// thread has set it. Control thread. The returned handle stops and joins it when
    /// dropped, and says what scheduling the thread got.
    pub fn spawn_with(mut self, priority: WorkerPriority) -> std::io::Result<StretchWorkerHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let (got_tx, got_rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("stembox-stretch".into())
            .spawn(move || {
                let _ = got_tx.send(priority.apply_to_current_thread());
                // Denormals flushed, and (debug builds) no allocation after `new`.
                let _ftz = crate::rt::denormal::ScopedFtz::enable();
                crate::rt::alloc_check::no_alloc("stretch worker loop", || {
                    while !stop_flag.load(Ordering::Acquire) {
                        let done = self.run_pending();
                        if done.chunks == 0 {
                            std::thread::sleep(self.poll);
                        }
                    }
                });
                self
            })?;
        let scheduling = got_rx.recv().unwrap_or(WorkerScheduling::Inherited);
        Ok(StretchWorkerHandle {
            stop,
            thread: Some(thread),
            scheduling,
        })
    }
}

/// How the worker thread is to be scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerPriority {
    /// As the spawning thread (tests, tools).
    Inherit,
    /// Real-time just below the audio thread: SCHED_FIFO at `audio_priority - 1` where the
    /// system allows it, else nice -10, else as started. Why: the worker polls and sleeps,
    /// and at normal priority a loaded machine (two cores busy with other work) kept it
    /// off the CPU for 5-270 ms, longer than any lead (issue 19); below the audio thread
    /// it can never delay a period, and its bursts (one FFT block per hop) are short.
    BelowAudio { audio_priority: u32 },
}

/// What scheduling the worker thread got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerScheduling {
    /// SCHED_FIFO at this priority.
    Fifo(u32),
    /// SCHED_OTHER at this nice value (real-time was refused).
    Nice(i32),
    /// Left as started (not asked, or the system refused both).
    Inherited,
}

impl WorkerPriority {
    /// Sets the calling thread's scheduling; what it got. Worker thread.
    fn apply_to_current_thread(self) -> WorkerScheduling {
        let WorkerPriority::BelowAudio { audio_priority } = self else {
            return WorkerScheduling::Inherited;
        };
        let fifo = audio_priority.saturating_sub(1).max(1);
        let param = libc::sched_param {
            sched_priority: fifo as i32,
        };
        // SAFETY: pthread_self is always valid for the calling thread.
        let r =
            unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
        if r == 0 {
            return WorkerScheduling::Fifo(fifo);
        }
        // Not permitted (no CAP_SYS_NICE or RLIMIT_RTPRIO): a high nice value still wins
        // against ordinary load. setpriority on a thread id sets that thread alone.
        // SAFETY: gettid and setpriority take no pointers.
        let ok = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, WORKER_NICE) == 0
        };
        if ok {
            WorkerScheduling::Nice(WORKER_NICE)
        } else {
            WorkerScheduling::Inherited
        }
    }
}

/// The nice value the worker asks for when real-time is refused.
const WORKER_NICE: i32 = -10;

/// A running worker thread. Dropping it stops and joins the thread.
pub struct StretchWorkerHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<StretchWorker>>,
    scheduling: WorkerScheduling,
}

impl StretchWorkerHandle {
    /// What scheduling the thread got (for a start-up line or a warning).
    pub fn scheduling(&self) -> WorkerScheduling {
        self.scheduling
    }

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

/// Taps on each side of the resampler's kernel; also its latency in stretched frames.
pub const HALF_TAPS: usize = 16;
/// Kernel phases tabulated between two frames (linearly interpolated between).
const PHASES: usize = 256;

/// Reads a stream at `ratio` input frames per output frame through a windowed-sinc
/// kernel (Blackman window, 32 taps), so every frequency is multiplied by `ratio`
/// exactly. The kernel's cutoff follows the ratio (below the new Nyquist when reading
/// faster), and is rebuilt only when the ratio changes. All buffers are made in `new`.
pub struct PitchResampler {
    channels: usize,
    ratio: f64,
    /// `(PHASES + 1) * 2 * HALF_TAPS` weights; row `p` is for a fraction `p / PHASES`.
    table: Box<[f32]>,
    ring: Box<[f32]>,
    ring_frames: usize,
    /// Frames written since the reset (counting `HALF_TAPS` leading zeros).
    written: u64,
    /// Position of the next output frame, in written frames.
    pos: f64,
}

impl PitchResampler {
    /// A resampler at ratio 1 for chunks of up to `max_chunk_frames` input frames.
    pub fn new(channels: usize, max_chunk_frames: usize) -> Self {
        let ring_frames = max_chunk_frames + 4 * HALF_TAPS;
        let mut r = PitchResampler {
            channels,
            ratio: 0.0,
            table: vec![0.0; (PHASES + 1) * 2 * HALF_TAPS].into_boxed_slice(),
            ring: vec![0.0; ring_frames * channels].into_boxed_slice(),
            ring_frames,
            written: 0,
            pos: 0.0,
        };
        r.set_ratio(1.0);
        r.reset();
        r
    }

    /// Forgets the stream: `HALF_TAPS` frames of silence, then what is written next.
    pub fn reset(&mut self) {
        self.ring.fill(0.0);
        self.written = HALF_TAPS as u64;
        self.pos = HALF_TAPS as f64;
    }

    /// Sets the read rate (input frames per output frame) for the following frames.
    pub fn set_ratio(&mut self, ratio: f64) {
        if ratio == self.ratio {
            return;
        }
        self.ratio = ratio;
        // Reading faster than 1 needs a low-pass below the output's Nyquist.
        let cutoff = if ratio <= 1.0 { 1.0 } else { 0.97 / ratio };
        let half = HALF_TAPS as f64;
        for p in 0..=PHASES {
            let frac = p as f64 / PHASES as f64;
            let row = &mut self.table[p * 2 * HALF_TAPS..(p + 1) * 2 * HALF_TAPS];
            let mut sum = 0.0;
            for (t, w) in row.iter_mut().enumerate() {
                // Tap t reads frame floor(pos) - (HALF_TAPS - 1) + t.
                let x = t as f64 - (half - 1.0) - frac;
                let sinc = if x == 0.0 {
                    1.0
                } else {
                    let a = std::f64::consts::PI * cutoff * x;
                    a.sin() / a
                };
                let phase = std::f64::consts::PI * x / half;
                let window = if x.abs() >= half {
                    0.0
                } else {
                    0.42 + 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos()
                };
                let v = cutoff * sinc * window;
                *w = v as f32;
                sum += v;
            }
            // Unity gain at DC for every phase: no level change, no ripple.
            for w in row.iter_mut() {
                *w = (*w as f64 / sum) as f32;
            }
        }
    }

    /// Input frames to write before `output_frames` frames can be read.
    pub fn frames_needed(&self, output_frames: usize) -> usize {
        if output_frames == 0 {
            return 0;
        }
        let last = self.pos + (output_frames - 1) as f64 * self.ratio;
        let needed = last.floor() as u64 + HALF_TAPS as u64 + 1;
        needed.saturating_sub(self.written) as usize
    }

    /// Appends interleaved frames.
    pub fn write(&mut self, frames: &[f32]) {
        let ch = self.channels;
        for frame in frames.chunks_exact(ch) {
            let at = (self.written % self.ring_frames as u64) as usize * ch;
            self.ring[at..at + ch].copy_from_slice(frame);
            self.written += 1;
        }
    }

    /// Fills `out` (interleaved) from the written frames; `frames_needed` must have been
    /// written first.
    pub fn read(&mut self, out: &mut [f32]) {
        let ch = self.channels;
        let taps = 2 * HALF_TAPS;
        for frame in out.chunks_exact_mut(ch) {
            let base = self.pos.floor();
            let phase = (self.pos - base) * PHASES as f64;
            let p = (phase as usize).min(PHASES - 1);
            let blend = (phase - p as f64) as f32;
            let (row0, row1) = (
                &self.table[p * taps..(p + 1) * taps],
                &self.table[(p + 1) * taps..(p + 2) * taps],
            );
            frame.fill(0.0);
            let first = base as u64 + 1 - HALF_TAPS as u64;
            for t in 0..taps {
                let w = row0[t] + (row1[t] - row0[t]) * blend;
                let at = ((first + t as u64) % self.ring_frames as u64) as usize * ch;
                for (o, s) in frame.iter_mut().zip(&self.ring[at..at + ch]) {
                    *o += w * s;
                }
            }
            self.pos += self.ratio;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (0.5 * (std::f64::consts::TAU * freq * i as f64 / 48_000.0).sin()) as f32)
            .collect()
    }

    fn run(r: &mut PitchResampler, input: &[f32], out_frames: usize) -> Vec<f32> {
        let mut out = vec![0.0; out_frames];
        let mut fed = 0;
        for chunk in out.chunks_mut(100) {
            let n = r.frames_needed(chunk.len());
            r.write(&input[fed..fed + n]);
            fed += n;
            r.read(chunk);
        }
        out
    }

    #[test]
    fn at_ratio_one_the_resampler_is_a_pure_delay() {
        let input = sine(440.0, 4000);
        let mut r = PitchResampler::new(1, 200);
        let out = run(&mut r, &input, 3000);
        // The latency is HALF_TAPS frames of look-ahead, taken from the input, not the
        // output: output frame i is input frame i.
        for (i, (o, x)) in out.iter().zip(&input).enumerate() {
            assert!((o - x).abs() < 1e-6, "frame {i}: {o} vs {x}");
        }
    }

    #[test]
    fn a_ratio_moves_the_frequency_and_keeps_the_level() {
        for ratio in [0.5, 0.75, 1.19, 2.0] {
            let input = sine(1000.0, 48_000 * 2 + 1000);
            let mut r = PitchResampler::new(1, 400);
            r.set_ratio(ratio);
            let out = run(&mut r, &input, 40_000);
            let steady = &out[1000..];
            // Period count by zero crossings.
            let ups: Vec<f64> = steady
                .windows(2)
                .enumerate()
                .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
                .map(|(i, w)| i as f64 + (w[0] / (w[0] - w[1])) as f64)
                .collect();
            let f = (ups.len() - 1) as f64 * 48_000.0 / (ups[ups.len() - 1] - ups[0]);
            let cents = 1200.0 * (f / (1000.0 * ratio)).log2();
            assert!(cents.abs() < 0.05, "ratio {ratio}: {cents} cents");
            let peak = steady.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!((peak - 0.5).abs() < 0.005, "ratio {ratio}: peak {peak}");
        }
    }

    #[test]
    fn it_needs_exactly_the_frames_it_reads() {
        let mut r = PitchResampler::new(2, 400);
        r.set_ratio(1.5);
        let mut total = 0;
        for _ in 0..100 {
            let n = r.frames_needed(64);
            r.write(&vec![0.1; n * 2]);
            total += n;
            let mut out = [0.0; 128];
            r.read(&mut out);
        }
        // 6400 output frames at 1.5 read 9600 frames, plus the look-ahead.
        assert!(
            (total as i64 - 9600 - HALF_TAPS as i64).abs() <= 1,
            "{total}"
        );
    }
}
