//! Speed and pitch on the audio thread: the [`StretchPipe`], the audio thread's end of the
//! time-stretch pipeline (issue 10).
//!
//! # Where the stretcher runs, and why
//! On the summed mix (after stem gains, pan, mute/solo), not per stem: 16 stems would cost
//! 16 stretchers, which a Pi 4 cannot afford. The engine keeps mixing in song time exactly
//! as without stretching; at speed `s` it mixes about `period * s` song frames per period
//! and hands them to this pipe.
//!
//! # Why a worker thread
//! The stretcher (Signalsmith Stretch) works in FFT blocks: most calls are cheap and one in
//! every `interval_frames` of output does a whole block's analysis and synthesis. That
//! burst must never land on the audio thread. So the pipe only moves samples:
//! - `push`: the song frames the engine mixed go into the input ring, each chunk tagged
//!   ([`WorkerMsg::Chunk`]) with its frame counts in and out and the pitch in force, so a
//!   speed change at a loop wrap lands exactly on the wrap (push two chunks);
//! - the worker (`crate::stretch`) pops chunks, runs the stretcher, pushes the
//!   stretched frames into the output ring;
//! - `pull`: the audio thread pops exactly one period from the output ring. The worker
//!   stays `lead_frames` ahead; if frames are missing the period fades out over 2 ms into
//!   silence for them (and fades back in when the worker is back) and an underrun is
//!   counted ([`StretchPipe::underrun_counter`]); the late frames are dropped when they
//!   come, so the latency stays fixed. The audio thread never waits.
//!
//! The pipe decides every chunk's output length itself (input frames / speed, with the
//! fraction carried), so it always knows how many output frames are in flight and can say
//! how many song frames the engine must mix ([`StretchPipe::input_frames_wanted`]).
//!
//! # Bypass, and switching in and out without a gap
//! At speed 1 and pitch 0 the pipe is bypassed ([`StretchPipe::is_bypassed`]): the engine
//! mixes straight into the period as before, bit for bit, and the pipe is not touched.
//! The stretched path lags the mix head by the pipeline latency `L1` (stretcher latency
//! plus lead, at speed 1), the direct path does not; so switching needs the engine to get
//! `L1` song frames ahead of what is heard. The pipe keeps a *direct line* (a FIFO of song
//! frames mixed but not yet heard unstretched):
//! 1. `Priming`: the engine mixes up to `CATCHUP_PERIODS + 1` periods' worth per period; the
//!    direct line plays them unstretched at speed 1 while it fills to `L1`, and the
//!    stretcher is fed the same frames at ratio 1 and pitch 0.
//! 2. `FadeIn`: both paths now play the same song frame; an equal-gain crossfade
//!    (`crossfade_frames`) moves from the direct line to the stretcher.
//! 3. `Stretching`: the target speed and pitch go to the stretcher (it handles continuous
//!    change); the direct line keeps the last `L1` song frames as a delay line.
//! 4. `Settling` (target back to 100 %/0): the stretcher is fed at ratio 1, pitch 0, until
//!    what it outputs is aligned with the direct line again.
//! 5. `FadeOut`: crossfade from the stretcher to the direct line, which is first lined up
//!    with the stretcher's phase (a lag of at most 10 ms; see `Alignment`).
//! 6. `Draining`: the stretcher is reset and no longer fed; the engine mixes less than a
//!    period per period until the direct line is empty, then the pipe is bypassed again.
//!
//! # Real-time contract
//! Every method of [`StretchPipe`] may be called on the audio thread: no allocation after
//! [`channel`], no locks, no system calls. All buffers are sized from [`StretchConfig`].

pub mod protocol;

use rtrb::{Consumer, Producer, RingBuffer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use protocol::*;

/// Where the pipe stands; see the module doc for the sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StretchState {
    /// Not used: the engine mixes straight into the period.
    Bypassed,
    /// Direct line audible and filling; stretcher fed at speed 1 to align with it.
    Priming,
    /// Crossfading from the direct line to the stretcher.
    FadeIn,
    /// Stretcher audible at the target speed and pitch.
    Stretching,
    /// Target is 100 %/0 again; stretcher fed at speed 1 until aligned with the direct line.
    Settling,
    /// Crossfading from the stretcher to the direct line.
    FadeOut,
    /// Direct line audible and emptying; then `Bypassed`.
    Draining,
}

/// Counters the stats line can show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StretchStats {
    /// Periods in which the stretcher was audible and the worker had not delivered in time.
    pub underruns: u64,
    /// Audible frames replaced by silence because of those underruns.
    pub missing_frames: u64,
    /// Chunks dropped because the input ring was full (the worker had stalled).
    pub dropped_chunks: u64,
}

/// Why the fade back to the direct line needs a lag (issue 19: a held tone fell to 10 %
/// of its level in that crossfade): a phase vocoder keeps every partial's frequency, not
/// its phase. After a while at another speed or pitch, the stretcher's output at speed 1
/// is the song at the right time with every partial at a phase of its own, so an
/// equal-gain crossfade to the direct line cancels a partial that came out near 180 degrees
/// off. Before fading out, the pipe finds the lag (within `max_lag_frames`, half a period
/// of 50 Hz) at which the direct line best matches the last `window_frames` the stretcher
/// played (normalised cross-correlation of the channel sums, coarse on 4-frame sums, then
/// to the frame), and the direct line goes on from there: the crossfade then mixes two
/// signals in phase, and the heard position moves by that lag (at most 10 ms, once).
struct Alignment {
    window_frames: usize,
    max_lag_frames: usize,
    /// The last `window_frames` stretcher frames played (channel sums), a ring.
    recent: Box<[f32]>,
    /// Next write index in `recent`, and how many frames it holds.
    at: usize,
    filled: usize,
    /// The direct line's history, copied out for the search (channel sums).
    direct: Box<[f32]>,
    /// `recent` in time order, and both decimated for the coarse search.
    reference: Box<[f32]>,
    coarse_ref: Box<[f32]>,
    coarse_direct: Box<[f32]>,
}

/// Frames summed into one for the coarse search.
const ALIGN_COARSE: usize = 4;

impl Alignment {
    fn new(rate_hz: u32, _max_period_frames: usize) -> Self {
        let window_frames = (rate_hz as usize / 50).next_multiple_of(ALIGN_COARSE);
        let max_lag_frames = (rate_hz as usize / 100).next_multiple_of(ALIGN_COARSE);
        Alignment {
            window_frames,
            max_lag_frames,
            recent: vec![0.0; window_frames].into_boxed_slice(),
            at: 0,
            filled: 0,
            direct: vec![0.0; window_frames + 2 * max_lag_frames].into_boxed_slice(),
            reference: vec![0.0; window_frames].into_boxed_slice(),
            coarse_ref: vec![0.0; window_frames / ALIGN_COARSE].into_boxed_slice(),
            coarse_direct: vec![0.0; (window_frames + 2 * max_lag_frames) / ALIGN_COARSE]
                .into_boxed_slice(),
        }
    }

    fn forget(&mut self) {
        self.at = 0;
        self.filled = 0;
    }

    /// Remembers the stretcher frames just played.
    fn remember(&mut self, out: &[f32], channels: usize) {
        for frame in out.chunks_exact(channels) {
            self.recent[self.at] = frame.iter().sum();
            self.at = (self.at + 1) % self.window_frames;
        }
        self.filled = (self.filled + out.len() / channels).min(self.window_frames);
    }

    /// The lag (frames; positive: the direct line must skip ahead) at which the direct
    /// line, whose oldest `history` frames precede the next frame to be heard, best matches
    /// the remembered window. 0 when the window is not full (the stretcher has played at
    /// speed 1 since its reset, so it is in phase) or the direct line is too short.
    fn best_lag(&mut self, direct: &FrameFifo, history: usize) -> i64 {
        let (w, d) = (self.window_frames, self.max_lag_frames);
        if self.filled < w || history < w + d || direct.len < history + d {
            return 0;
        }
        // Direct frames from `w + d` before the next heard frame to `d` after it.
        let ch = direct.channels;
        let cap = direct.capacity();
        let first = history - w - d;
        for (i, v) in self.direct.iter_mut().enumerate() {
            let at = (direct.head + first + i) % cap * ch;
            *v = direct.buf[at..at + ch].iter().sum();
        }
        // The remembered window in time order; nothing to line up with in silence.
        for (i, v) in self.reference.iter_mut().enumerate() {
            *v = self.recent[(self.at + i) % w];
        }
        if self.reference.iter().map(|v| v * v).sum::<f32>() < 1e-9 {
            return 0;
        }
        // Coarse: on sums of ALIGN_COARSE frames, every ALIGN_COARSE frames of lag.
        for (c, chunk) in self
            .coarse_ref
            .iter_mut()
            .zip(self.reference.chunks_exact(ALIGN_COARSE))
        {
            *c = chunk.iter().sum();
        }
        for (c, chunk) in self
            .coarse_direct
            .iter_mut()
            .zip(self.direct.chunks_exact(ALIGN_COARSE))
        {
            *c = chunk.iter().sum();
        }
        // A periodic signal matches as well one period further: the coarse search takes
        // the nearer (and lag 0 on a tie) by a slight preference, the fine one none.
        let nearness = |lag: usize| 1.0 - 0.02 * (lag as f32 - d as f32).abs() / d as f32;
        let score = |reference: &[f32], direct: &[f32]| -> f32 {
            let (mut dot, mut energy) = (0.0f32, 1e-20f32);
            for (r, x) in reference.iter().zip(direct) {
                dot += r * x;
                energy += x * x;
            }
            dot / energy.sqrt()
        };
        let (cw, cd) = (w / ALIGN_COARSE, d / ALIGN_COARSE);
        let mut best = (d, f32::MIN);
        for lag_c in 0..=2 * cd {
            let lag = lag_c * ALIGN_COARSE;
            let sc =
                score(&self.coarse_ref, &self.coarse_direct[lag_c..lag_c + cw]) * nearness(lag);
            if sc > best.1 || (sc == best.1 && lag == d) {
                best = (lag, sc);
            }
        }
        // Fine: every frame around the coarse best.
        let (lo, hi) = (
            best.0.saturating_sub(2 * ALIGN_COARSE),
            (best.0 + 2 * ALIGN_COARSE).min(2 * d),
        );
        let mut fine = (best.0, f32::MIN);
        for lag in lo..=hi {
            let sc = score(&self.reference, &self.direct[lag..lag + w]);
            if sc > fine.1 {
                fine = (lag, sc);
            }
        }
        fine.0 as i64 - d as i64
    }
}

/// Where each chunk in flight ends, in output frames and in song frames fed (both counted
/// since the pipe was made): the piecewise-linear map from the stretcher's output back to
/// its input, at the speed each chunk was pushed with. Why (issue 19: a stretched loop's
/// wrap was heard 4-8 ms away from where the clicks put it): after a speed change the
/// frames in flight still play at the old speed, so a latency taken at the new speed is
/// off by (output latency + lead) x the change until they have played.
struct ChunkMap {
    ring: Box<[(u64, u64)]>,
    /// Next write index, and how many entries are valid.
    at: usize,
    len: usize,
}

/// Chunk ends remembered: a latency's worth of chunks at the smallest periods.
const CHUNK_MAP_ENTRIES: usize = 4096;

impl ChunkMap {
    fn new() -> Self {
        ChunkMap {
            ring: vec![(0, 0); CHUNK_MAP_ENTRIES].into_boxed_slice(),
            at: 0,
            len: 0,
        }
    }
    fn clear(&mut self) {
        self.len = 0;
    }
    fn push(&mut self, out_end: u64, in_end: u64) {
        self.ring[self.at] = (out_end, in_end);
        self.at = (self.at + 1) % self.ring.len();
        self.len = (self.len + 1).min(self.ring.len());
    }
    /// The `k`-th newest entry.
    fn newest(&self, k: usize) -> (f64, f64) {
        let n = self.ring.len();
        let (o, i) = self.ring[(self.at + n - 1 - k) % n];
        (o as f64, i as f64)
    }
    /// Song frames fed at output position `o`, or `None` without two entries. Outside the
    /// remembered chunks it goes on at the nearest chunk's speed.
    fn input_at(&self, o: f64) -> Option<f64> {
        if self.len < 2 {
            return None;
        }
        let mut b = self.newest(0);
        for k in 1..self.len {
            let a = self.newest(k);
            if a.0 <= o || k == self.len - 1 {
                let slope = (b.1 - a.1) / (b.0 - a.0).max(1.0);
                return Some(a.1 + (o - a.0) * slope);
            }
            b = a;
        }
        None
    }
}

/// Fixed-capacity FIFO of interleaved frames (the direct line). Allocated once.
struct FrameFifo {
    buf: Box<[f32]>,
    channels: usize,
    /// Index of the oldest frame.
    head: usize,
    len: usize,
}

impl FrameFifo {
    fn new(frames: usize, channels: usize) -> Self {
        FrameFifo {
            buf: vec![0.0; frames * channels].into_boxed_slice(),
            channels,
            head: 0,
            len: 0,
        }
    }
    fn capacity(&self) -> usize {
        self.buf.len() / self.channels
    }
    /// Appends frames, dropping the oldest beyond capacity.
    fn push(&mut self, frames: &[f32]) {
        let cap = self.capacity();
        for frame in frames.chunks_exact(self.channels) {
            if self.len == cap {
                self.head = (self.head + 1) % cap;
                self.len -= 1;
            }
            let at = (self.head + self.len) % cap * self.channels;
            self.buf[at..at + self.channels].copy_from_slice(frame);
            self.len += 1;
        }
    }
    /// Drops the oldest frames until at most `frames` are left.
    fn keep_newest(&mut self, frames: usize) {
        while self.len > frames {
            self.head = (self.head + 1) % self.capacity();
            self.len -= 1;
        }
    }
    /// Pops `out.len() / channels` frames (zeros past the end; never happens by design).
    fn pop(&mut self, out: &mut [f32]) {
        let cap = self.capacity();
        for frame in out.chunks_exact_mut(self.channels) {
            if self.len == 0 {
                frame.fill(0.0);
                continue;
            }
            let at = self.head * self.channels;
            frame.copy_from_slice(&self.buf[at..at + self.channels]);
            self.head = (self.head + 1) % cap;
            self.len -= 1;
        }
    }
}

/// The audio thread's end of the stretch pipeline. Made by [`channel`] (or
/// `crate::stretch::StretchWorker::new`, which also makes the stretcher).
///
/// Per period the engine does:
/// ```text
/// pipe.set_target(speed, pitch_st);              // whenever a command changes them
/// if pipe.is_bypassed() {
///     engine.mix(out);                            // as today, bit-exact
/// } else {
///     loop {
///         let n = pipe.input_frames_wanted(period_frames);
///         if n == 0 { break }
///         // mix n song frames (fewer if a loop wrap changes the speed: then
///         // set_target and go round again)
///         let m = engine.mix_song(&mut pipe.input_buffer(n)[..]);
///         pipe.commit_input(m);
///     }
///     pipe.pull(out);                              // exactly one period
/// }
/// heard_song_frame = mix_head - pipe.latency_song_frames();
/// ```
pub struct StretchPipe {
    config: StretchConfig,
    msgs: Producer<WorkerMsg>,
    input: Producer<f32>,
    output: Consumer<f32>,
    /// Song frames the engine mixed, waiting to be committed.
    staging: Box<[f32]>,
    /// One period of stretcher output while crossfading.
    fade_buf: Box<[f32]>,
    direct: FrameFifo,
    state: StretchState,
    target_speed: f64,
    target_pitch_st: f32,
    /// Speed in force for the chunks now being pushed.
    push_speed: f64,
    push_pitch_st: f32,
    /// Output frames assigned to pushed chunks, as a real number (fraction carried).
    out_assigned: f64,
    /// Output frames assigned to pushed chunks (integer, what the worker produces).
    out_pushed: u64,
    /// Output frames taken from the output ring (played, discarded, or owed).
    out_taken: u64,
    /// Frames owed: taken but not yet in the ring; dropped when they arrive.
    debt: u64,
    /// `L1`: pipeline latency at speed 1 (stretcher in + out + lead).
    latency_1: usize,
    stretcher: StretcherLatency,
    /// Song frames fed to the stretcher since its last reset.
    fed_since_reset: u64,
    /// Output frames produced at speed 1 since `Settling` began.
    settled_frames: usize,
    /// Frames of the crossfade done.
    fade_pos: usize,
    stats: StretchStats,
    /// `stats.underruns`, shared with whoever shows it (see [`StretchPipe::underrun_counter`]).
    underrun_counter: Arc<AtomicU64>,
    /// Length of the fades around a gap the worker left.
    underrun_fade_frames: usize,
    /// Frames of fade-in still to apply after a gap.
    fade_in_left: usize,
    /// The last stretcher frame played (a gap at the start of a period decays from it).
    last_frame: Box<[f32]>,
    /// Lines the direct line up with the stretcher's phase before fading out.
    align: Alignment,
    /// Frames the direct line keeps after each fade-out period: `L1` less the lag.
    fade_out_keep: usize,
    /// Song frames fed to the stretcher since the pipe was made.
    fed_total: u64,
    /// The chunks in flight, for the heard position after a speed change.
    chunk_map: ChunkMap,
}

/// Makes the audio thread's pipe and the worker's ring ends. Allocates everything; call it
/// off the audio thread. `stretcher` is what the configured stretcher reports.
pub fn channel(config: StretchConfig, stretcher: StretcherLatency) -> (StretchPipe, WorkerEnds) {
    assert!(config.channels >= 1 && config.max_period_frames >= 1);
    let (msgs_tx, msgs_rx) = RingBuffer::new(config.input_ring_samples() / config.channels + 4);
    let (in_tx, in_rx) = RingBuffer::new(config.input_ring_samples());
    let (out_tx, out_rx) = RingBuffer::new(config.output_ring_samples());
    let (mut msgs_tx, mut msgs_rx) = (msgs_tx, msgs_rx);
    let (mut in_tx, mut in_rx) = (in_tx, in_rx);
    let (mut out_tx, mut out_rx) = (out_tx, out_rx);
    // Touch every page of the rings now, so the first periods take no page faults.
    prefault(&mut in_tx, &mut in_rx, 0.0);
    prefault(&mut out_tx, &mut out_rx, 0.0);
    prefault(&mut msgs_tx, &mut msgs_rx, WorkerMsg::Reset);
    let latency_1 = stretcher.input_frames + stretcher.output_frames + config.lead_frames;
    let align = Alignment::new(config.rate_hz, config.max_period_frames);
    let pipe = StretchPipe {
        config,
        msgs: msgs_tx,
        input: in_tx,
        output: out_rx,
        staging: vec![0.0; config.max_chunk_frames() * config.channels].into_boxed_slice(),
        fade_buf: vec![0.0; config.max_period_frames * config.channels].into_boxed_slice(),
        direct: FrameFifo::new(
            latency_1
                + config.max_chunk_frames()
                + config.max_period_frames
                + align.window_frames
                + align.max_lag_frames,
            config.channels,
        ),
        state: StretchState::Bypassed,
        target_speed: 1.0,
        target_pitch_st: 0.0,
        push_speed: 1.0,
        push_pitch_st: 0.0,
        out_assigned: 0.0,
        out_pushed: 0,
        out_taken: 0,
        debt: 0,
        latency_1,
        stretcher,
        fed_since_reset: 0,
        settled_frames: 0,
        fade_pos: 0,
        stats: StretchStats::default(),
        underrun_counter: Arc::new(AtomicU64::new(0)),
        underrun_fade_frames: (config.rate_hz as usize * UNDERRUN_FADE_US as usize)
            .div_ceil(1_000_000),
        fade_in_left: 0,
        last_frame: vec![0.0; config.channels].into_boxed_slice(),
        align,
        fade_out_keep: latency_1,
        fed_total: 0,
        chunk_map: ChunkMap::new(),
    };
    let ends = WorkerEnds {
        msgs: msgs_rx,
        input: in_rx,
        output: out_tx,
    };
    (pipe, ends)
}

/// Fills a new ring to capacity and empties it again.
fn prefault<T: Copy>(tx: &mut Producer<T>, rx: &mut Consumer<T>, value: T) {
    while tx.push(value).is_ok() {}
    while rx.pop().is_ok() {}
}

impl StretchPipe {
    /// Sets the speed (factor, clamped to 0.5..=1.5) and pitch (semitones, clamped to
    /// -12..=12) for the chunks pushed from now on. Exactly 1 and 0 mean "bypass".
    /// Audio thread.
    pub fn set_target(&mut self, speed: f64, pitch_st: f32) {
        let speed = if speed.is_finite() {
            speed.clamp(MIN_SPEED, MAX_SPEED)
        } else {
            1.0
        };
        let pitch_st = if pitch_st.is_finite() {
            pitch_st.clamp(MIN_PITCH_ST, MAX_PITCH_ST)
        } else {
            0.0
        };
        self.target_speed = speed;
        self.target_pitch_st = pitch_st;
        let plain = self.target_is_plain();
        self.state = match self.state {
            StretchState::Bypassed if !plain => {
                self.reset_stretcher();
                StretchState::Priming
            }
            StretchState::Priming if plain => self.start_draining(),
            StretchState::Settling if !plain => StretchState::Stretching,
            StretchState::Stretching if plain => {
                self.settled_frames = 0;
                self.align.forget();
                StretchState::Settling
            }
            StretchState::Draining if !plain => {
                self.reset_stretcher();
                StretchState::Priming
            }
            // FadeIn and FadeOut finish first; the next state looks at the target.
            s => s,
        };
        self.update_push_params();
    }

    /// True when the engine must mix straight into the period and not touch the pipe.
    /// Audio thread.
    pub fn is_bypassed(&self) -> bool {
        self.state == StretchState::Bypassed
    }

    /// Where the pipe stands. Any thread that owns the pipe.
    pub fn state(&self) -> StretchState {
        self.state
    }

    /// Underrun and drop counters.
    pub fn stats(&self) -> StretchStats {
        self.stats
    }

    /// The underrun count (`stats().underruns`: periods in which the stretcher was audible
    /// and the worker had not delivered in time), as a counter any thread can read while
    /// the audio thread owns the pipe: for `stretch_underruns=` on the stats line. Take it
    /// before the pipe goes to the audio thread (it clones an `Arc`).
    pub fn underrun_counter(&self) -> Arc<AtomicU64> {
        self.underrun_counter.clone()
    }

    /// The speed and pitch last asked for (after clamping).
    pub fn target(&self) -> (f64, f32) {
        (self.target_speed, self.target_pitch_st)
    }

    /// Pipeline latency at speed 1, in frames: stretcher input + output latency + lead.
    /// The direct line runs this far behind the mix head while switching.
    pub fn latency_at_unity_frames(&self) -> usize {
        self.latency_1
    }

    /// Song frames between the mix head and the heard position, asked between periods
    /// (after `pull`, before the next pushes): the first frame the next period plays is song
    /// frame `mix_head - latency_song_frames()`. Exact while
    /// the direct line is audible; while stretching it is the stretcher's input latency
    /// plus its output latency and the lead scaled by the current speed (exact at a steady
    /// speed; after a change it settles within one latency).
    pub fn latency_song_frames(&self) -> f64 {
        match self.state {
            StretchState::Bypassed => 0.0,
            StretchState::Priming | StretchState::Draining | StretchState::FadeOut => {
                self.direct.len as f64
            }
            StretchState::FadeIn | StretchState::Stretching | StretchState::Settling => {
                let pitch_ratio = 2f64.powf(self.push_pitch_st as f64 / 12.0);
                let out_latency = self.stretcher.output_frames as f64 / pitch_ratio;
                // The next frame played is output frame `out_taken`; the stretcher made it
                // from the input it had `out_latency` output frames earlier, less its
                // input latency. Each chunk in flight at its own speed.
                match self.chunk_map.input_at(self.out_taken as f64 - out_latency) {
                    Some(fed) => self.fed_total as f64 - fed + self.stretcher.input_frames as f64,
                    None => {
                        self.stretcher.input_frames as f64
                            + (out_latency + self.config.lead_frames as f64) * self.push_speed
                    }
                }
            }
        }
    }

    /// Song frames the engine should mix and commit now, before `pull` (0 when it has
    /// pushed enough for this period). Call again after each commit until it says 0.
    /// Audio thread.
    pub fn input_frames_wanted(&self, period_frames: usize) -> usize {
        let max = self.config.max_chunk_frames();
        let want = match self.state {
            StretchState::Bypassed => 0,
            StretchState::Priming => {
                // Fill the direct line to L1 with the extra frames, and go on feeding a
                // period per period until the stretcher has had a block of real input.
                let direct_room = (self.latency_1 + period_frames).saturating_sub(self.direct.len);
                direct_room.min(period_frames * (CATCHUP_PERIODS + 1))
            }
            StretchState::Draining => {
                // The direct line plays a period; mix only what it lacks.
                period_frames.saturating_sub(self.direct.len)
            }
            StretchState::FadeIn
            | StretchState::Stretching
            | StretchState::Settling
            | StretchState::FadeOut => {
                // Keep the output in flight at one period plus the lead.
                let target = (period_frames + self.config.lead_frames) as f64;
                let in_flight = self.out_assigned - self.out_taken as f64;
                let need_out = target - in_flight;
                if need_out <= 0.0 {
                    0
                } else {
                    (need_out * self.push_speed).ceil() as usize
                }
            }
        };
        want.min(max)
    }

    /// The staging buffer for `frames` song frames (interleaved; clamped to the largest
    /// chunk). The engine mixes into it, then calls [`Self::commit_input`]. Audio thread.
    pub fn input_buffer(&mut self, frames: usize) -> &mut [f32] {
        let frames = frames.min(self.config.max_chunk_frames());
        &mut self.staging[..frames * self.config.channels]
    }

    /// Hands the first `frames` frames of the staging buffer on, tagged with the speed and
    /// pitch in force. Audio thread.
    pub fn commit_input(&mut self, frames: usize) {
        let frames = frames.min(self.config.max_chunk_frames());
        if frames == 0 || self.state == StretchState::Bypassed {
            return;
        }
        let samples = frames * self.config.channels;
        if self.state != StretchState::Draining {
            self.send_chunk(frames);
        }
        // The direct line: audible while priming/draining, a delay line otherwise (`pull`
        // trims it; past its capacity the oldest frames go, which are never needed).
        self.direct.push(&self.staging[..samples]);
    }

    /// Copies `frames` (interleaved song frames) into the staging buffer and commits them.
    /// Audio thread.
    pub fn push_input(&mut self, frames: &[f32]) {
        let n = (frames.len() / self.config.channels).min(self.config.max_chunk_frames());
        let samples = n * self.config.channels;
        self.staging[..samples].copy_from_slice(&frames[..samples]);
        self.commit_input(n);
    }

    /// Writes exactly one period (`out.len() / channels` frames) of output. Never waits:
    /// frames the worker has not delivered are silence and count as an underrun. Audio
    /// thread; not to be called while bypassed (it writes silence then).
    pub fn pull(&mut self, out: &mut [f32]) {
        let ch = self.config.channels;
        let frames = out.len() / ch;
        debug_assert!(frames <= self.config.max_period_frames);
        match self.state {
            StretchState::Bypassed => out.fill(0.0),
            StretchState::Priming => {
                self.direct.pop(out);
                // Keep the stretcher's output aligned with the direct line: everything
                // beyond the lead is already late for it.
                let surplus = self.in_flight().saturating_sub(self.config.lead_frames);
                self.discard(surplus);
                let warm =
                    self.fed_since_reset >= (self.latency_1 + self.config.block_frames / 2) as u64;
                // And only once the worker has caught up with the catch-up periods.
                let ready = (self.output.slots() / ch) as u64;
                let caught_up = ready >= self.debt + (self.config.lead_frames / 2) as u64;
                if self.direct.len >= self.latency_1 && warm && caught_up {
                    self.direct.keep_newest(self.latency_1);
                    self.fade_pos = 0;
                    self.state = StretchState::FadeIn;
                }
            }
            StretchState::FadeIn => {
                self.direct.pop(out);
                let n = frames * ch;
                let mut fade = std::mem::take(&mut self.fade_buf);
                self.take_output(&mut fade[..n], true);
                self.crossfade(out, &fade[..n]);
                self.fade_buf = fade;
                if self.fade_pos >= self.config.crossfade_frames {
                    self.state = if self.target_is_plain() {
                        // Fresh from a reset at speed 1: in phase, nothing to align.
                        self.align.forget();
                        self.settled_frames = self.latency_1 + self.config.block_frames;
                        StretchState::Settling
                    } else {
                        StretchState::Stretching
                    };
                    self.update_push_params();
                }
            }
            StretchState::Stretching => {
                self.take_output(out, true);
                // Keep what is not heard yet: the song frames after this period's.
                self.direct.keep_newest(self.latency_1);
            }
            StretchState::Settling => {
                self.take_output(out, true);
                self.align.remember(out, ch);
                // Keep, besides what is not heard yet, the history the alignment compares.
                let history = self.align.window_frames + self.align.max_lag_frames;
                self.direct.keep_newest(self.latency_1 + history);
                self.settled_frames += frames;
                if self.settled_frames >= self.latency_1 + self.config.block_frames {
                    let lag = self.align.best_lag(&self.direct, history);
                    // The direct line goes on from the heard frame moved by the lag.
                    self.fade_out_keep = (self.latency_1 as i64 - lag).max(0) as usize;
                    self.direct.keep_newest(self.fade_out_keep);
                    self.fade_pos = 0;
                    self.state = StretchState::FadeOut;
                }
            }
            StretchState::FadeOut => {
                let n = frames * ch;
                let mut direct = std::mem::take(&mut self.fade_buf);
                self.direct.keep_newest(self.fade_out_keep + frames);
                self.direct.pop(&mut direct[..n]);
                self.take_output(out, true);
                self.crossfade(out, &direct[..n]);
                self.fade_buf = direct;
                if self.fade_pos >= self.config.crossfade_frames {
                    self.state = self.start_draining();
                    if !self.target_is_plain() {
                        // Asked to stretch again meanwhile: prime from here.
                        self.state = StretchState::Priming;
                    }
                    self.update_push_params();
                }
            }
            StretchState::Draining => {
                self.direct.pop(out);
                let pending = self.in_flight();
                self.discard(pending);
                if !self.target_is_plain() {
                    self.reset_stretcher();
                    self.state = StretchState::Priming;
                } else if self.direct.len == 0 {
                    self.state = StretchState::Bypassed;
                }
                self.update_push_params();
            }
        }
    }

    fn target_is_plain(&self) -> bool {
        self.target_speed == 1.0 && self.target_pitch_st == 0.0
    }

    /// Speed and pitch the next chunks carry: the target only while the stretcher is the
    /// audible path and not being switched; speed 1, pitch 0 otherwise.
    fn update_push_params(&mut self) {
        if self.state == StretchState::Stretching {
            self.push_speed = self.target_speed;
            self.push_pitch_st = self.target_pitch_st;
        } else {
            self.push_speed = 1.0;
            self.push_pitch_st = 0.0;
        }
    }

    fn in_flight(&self) -> usize {
        (self.out_pushed - self.out_taken) as usize
    }

    fn send_chunk(&mut self, frames: usize) {
        let samples = frames * self.config.channels;
        let assigned = self.out_assigned + frames as f64 / self.push_speed;
        let out_frames = assigned.floor() as u64 - self.out_pushed;
        if self.input.slots() < samples || self.msgs.slots() == 0 {
            // The worker has stalled; the frames are lost and the output will underrun.
            self.stats.dropped_chunks += 1;
            return;
        }
        if let Ok(chunk) = self.input.write_chunk_uninit(samples) {
            // rtrb's safe fill: copies and commits exactly what it wrote (all of it: the
            // slots were checked above).
            chunk.fill_from_iter(self.staging[..samples].iter().copied());
        }
        let _ = self.msgs.push(WorkerMsg::Chunk {
            input_frames: frames as u32,
            output_frames: out_frames as u32,
            pitch_st: self.push_pitch_st,
        });
        self.out_assigned = assigned;
        self.out_pushed += out_frames;
        self.fed_since_reset += frames as u64;
        self.fed_total += frames as u64;
        self.chunk_map.push(self.out_pushed, self.fed_total);
    }

    /// Takes `out.len() / channels` frames from the output ring into `out`, paying any
    /// debt first; missing frames become debt. A gap is never a hard edge (issue 19: exact
    /// zeros after full-level audio click): the frames before it fade out over
    /// `underrun_fade_frames` (when the gap starts the period, the last frame heard decays
    /// instead), the gap is silence, and what comes after it fades back in.
    fn take_output(&mut self, out: &mut [f32], audible: bool) {
        let ch = self.config.channels;
        self.pay_debt();
        let wanted = out.len() / ch;
        let available = self.output.slots() / ch;
        let got = wanted.min(available);
        if let Ok(chunk) = self.output.read_chunk(got * ch) {
            let (a, b) = chunk.as_slices();
            out[..a.len()].copy_from_slice(a);
            out[a.len()..a.len() + b.len()].copy_from_slice(b);
            chunk.commit_all();
        }
        out[got * ch..].fill(0.0);
        let fade = self.underrun_fade_frames.max(1);
        // Back after a gap: fade in.
        for frame in out[..got * ch].chunks_exact_mut(ch) {
            if self.fade_in_left == 0 {
                break;
            }
            let g = (fade - self.fade_in_left) as f32 / fade as f32;
            frame.iter_mut().for_each(|v| *v *= g);
            self.fade_in_left -= 1;
        }
        let missing = wanted - got;
        if missing > 0 {
            let tail = got.min(fade);
            if tail > 0 {
                // Fade out the last frames there are, down to the gap.
                for (i, frame) in out[(got - tail) * ch..got * ch]
                    .chunks_exact_mut(ch)
                    .enumerate()
                {
                    let g = (tail - 1 - i) as f32 / tail as f32;
                    frame.iter_mut().for_each(|v| *v *= g);
                }
            } else {
                // The gap starts the period: let the last frame heard decay to zero.
                for (i, frame) in out.chunks_exact_mut(ch).take(fade).enumerate() {
                    let g = (fade - 1 - i) as f32 / fade as f32;
                    for (v, last) in frame.iter_mut().zip(self.last_frame.iter()) {
                        *v = last * g;
                    }
                }
            }
            self.fade_in_left = fade;
            self.debt += missing as u64;
            if audible {
                self.stats.underruns += 1;
                self.stats.missing_frames += missing as u64;
                self.underrun_counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        if wanted > 0 {
            self.last_frame
                .copy_from_slice(&out[(wanted - 1) * ch..wanted * ch]);
        }
        self.out_taken += wanted as u64;
    }

    /// Drops `frames` frames of stretcher output (now, or as they arrive).
    fn discard(&mut self, frames: usize) {
        self.debt += frames as u64;
        self.out_taken += frames as u64;
        self.pay_debt();
    }

    fn pay_debt(&mut self) {
        let ch = self.config.channels;
        let n = (self.debt as usize).min(self.output.slots() / ch);
        if n > 0 {
            if let Ok(chunk) = self.output.read_chunk(n * ch) {
                chunk.commit_all();
            }
            self.debt -= n as u64;
        }
    }

    /// Equal-gain crossfade in place, from `out` towards `other`. The two paths carry the
    /// same song frames at the same speed, so they are correlated and equal gain (not equal
    /// power) keeps the level flat.
    fn crossfade(&mut self, out: &mut [f32], other: &[f32]) {
        let ch = self.config.channels;
        let len = self.config.crossfade_frames.max(1) as f32;
        for (o, x) in out.chunks_exact_mut(ch).zip(other.chunks_exact(ch)) {
            let g = ((self.fade_pos as f32 + 0.5) / len).min(1.0);
            for (a, b) in o.iter_mut().zip(x) {
                *a = *a * (1.0 - g) + *b * g;
            }
            self.fade_pos += 1;
        }
    }

    fn reset_stretcher(&mut self) {
        // Everything in flight belongs to the old stream: drop it as it comes.
        let pending = self.in_flight();
        self.discard(pending);
        let _ = self.msgs.push(WorkerMsg::Reset);
        self.fed_since_reset = 0;
        self.restart_chunk_map();
    }

    /// A new stream starts here: the map begins at the present positions.
    fn restart_chunk_map(&mut self) {
        self.chunk_map.clear();
        self.chunk_map.push(self.out_pushed, self.fed_total);
    }

    fn start_draining(&mut self) -> StretchState {
        let pending = self.in_flight();
        self.discard(pending);
        let _ = self.msgs.push(WorkerMsg::Reset);
        self.fed_since_reset = 0;
        self.restart_chunk_map();
        StretchState::Draining
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;

    fn config(period: usize) -> StretchConfig {
        StretchConfig::new(RATE, 2, period)
    }

    /// Stands in for the worker: a "stretcher" with no latency at speed 1 that copies its
    /// input, and otherwise outputs the asked frame count of a constant.
    struct FakeWorker {
        ends: WorkerEnds,
        resets: usize,
    }

    impl FakeWorker {
        fn run(&mut self) {
            while let Ok(msg) = self.ends.msgs.pop() {
                match msg {
                    WorkerMsg::Reset => self.resets += 1,
                    WorkerMsg::Chunk {
                        input_frames,
                        output_frames,
                        ..
                    } => {
                        let input: Vec<f32> = (0..input_frames * 2)
                            .map(|_| self.ends.input.pop().unwrap())
                            .collect();
                        if input_frames == output_frames {
                            input
                                .iter()
                                .for_each(|&v| self.ends.output.push(v).unwrap());
                        } else {
                            (0..output_frames * 2)
                                .for_each(|_| self.ends.output.push(0.25).unwrap());
                        }
                    }
                }
            }
        }
    }

    fn song(frame: u64) -> f32 {
        ((frame % 977) as f32 / 977.0) - 0.5
    }

    /// One engine period; returns the left channel played and the song frame heard first.
    fn period(
        pipe: &mut StretchPipe,
        worker: &mut FakeWorker,
        head: &mut u64,
        frames: usize,
    ) -> (Vec<f32>, f64) {
        let heard = *head as f64 - pipe.latency_song_frames();
        let mut out = vec![0.0; frames * 2];
        if pipe.is_bypassed() {
            for f in 0..frames {
                out[2 * f] = song(*head + f as u64);
                out[2 * f + 1] = out[2 * f];
            }
            *head += frames as u64;
        } else {
            loop {
                let n = pipe.input_frames_wanted(frames);
                if n == 0 {
                    break;
                }
                for (f, fr) in pipe.input_buffer(n).chunks_exact_mut(2).enumerate() {
                    fr.fill(song(*head + f as u64));
                }
                pipe.commit_input(n);
                *head += n as u64;
            }
            worker.run();
            pipe.pull(&mut out);
        }
        (out.iter().step_by(2).copied().collect(), heard)
    }

    fn pipe(period: usize) -> (StretchPipe, FakeWorker) {
        let (pipe, ends) = channel(
            config(period),
            StretcherLatency {
                input_frames: 0,
                output_frames: 0,
            },
        );
        (pipe, FakeWorker { ends, resets: 0 })
    }

    #[test]
    fn starts_bypassed_and_unity_keeps_it_bypassed() {
        let (mut p, _) = pipe(64);
        assert!(p.is_bypassed());
        p.set_target(1.0, 0.0);
        assert!(p.is_bypassed());
        assert_eq!(p.latency_song_frames(), 0.0);
        assert_eq!(p.input_frames_wanted(64), 0);
        p.set_target(1.0, 0.5);
        assert_eq!(p.state(), StretchState::Priming);
    }

    #[test]
    fn targets_are_clamped() {
        let (mut p, _) = pipe(64);
        p.set_target(3.0, 40.0);
        assert_eq!(p.target(), (MAX_SPEED, MAX_PITCH_ST));
        p.set_target(0.1, -40.0);
        assert_eq!(p.target(), (MIN_SPEED, MIN_PITCH_ST));
        p.set_target(f64::NAN, f32::INFINITY);
        assert_eq!(p.target(), (1.0, 0.0));
    }

    /// With a worker whose output at speed 1 is its input, the whole way in and out the
    /// output is the song at the heard position the pipe states, to float rounding (the
    /// crossfades mix two copies of the same frames): the accounting of the direct line,
    /// the lead and the discards lines them up to the frame.
    #[test]
    fn direct_line_and_stretcher_are_aligned_to_the_frame() {
        for frames in [64, 256, 1024] {
            let (mut p, mut w) = pipe(frames);
            let mut head = 0;
            p.set_target(1.0, 1.0); // pitch only: the fake copies at speed 1
            let mut states = Vec::new();
            for i in 0..600 {
                if i == 300 {
                    p.set_target(1.0, 0.0);
                }
                states.push(p.state());
                let (out, heard) = period(&mut p, &mut w, &mut head, frames);
                let heard = heard.round() as u64;
                for (j, v) in out.iter().enumerate() {
                    let want = song(heard + j as u64);
                    assert!(
                        (v - want).abs() < 1e-6,
                        "period {i} frame {j} {:?}",
                        p.state()
                    );
                }
            }
            assert!(p.is_bypassed());
            for s in [
                StretchState::Priming,
                StretchState::FadeIn,
                StretchState::Stretching,
                StretchState::Settling,
                StretchState::FadeOut,
                StretchState::Draining,
            ] {
                assert!(states.contains(&s), "{frames}: never {s:?}");
            }
            assert_eq!(w.resets, 2, "reset on the way in and on the way out");
        }
    }

    #[test]
    fn keeps_one_period_plus_the_lead_in_flight_at_any_speed() {
        for speed in [0.5, 0.8, 1.25, 1.5] {
            let (mut p, mut w) = pipe(128);
            let mut head = 0;
            p.set_target(speed, 0.0);
            for _ in 0..400 {
                period(&mut p, &mut w, &mut head, 128);
            }
            assert_eq!(p.state(), StretchState::Stretching);
            let lead = p.config.lead_frames as u64;
            assert_eq!(p.out_pushed - p.out_taken, lead);
            // Over 100 periods the song advances by speed * output.
            let before = head;
            for _ in 0..100 {
                period(&mut p, &mut w, &mut head, 128);
            }
            let consumed = (head - before) as f64;
            assert!(
                (consumed - 12_800.0 * speed).abs() <= 1.0,
                "{speed}: {consumed}"
            );
            assert_eq!(p.stats().underruns, 0);
        }
    }

    /// Largest step between neighbouring samples of the left channel.
    fn largest_step(x: &[f32]) -> f32 {
        x.iter()
            .step_by(2)
            .zip(x.iter().step_by(2).skip(1))
            .map(|(a, b)| (b - a).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn a_late_worker_fades_to_silence_counts_an_underrun_and_the_latency_stays() {
        // Every split of a period between what the worker had and the gap: the whole of
        // it (gap at the period's start), part of it, a fade's worth, none.
        for keep in [0usize, 10, 96, 127] {
            let (mut p, mut w) = pipe(128);
            let counter = p.underrun_counter();
            let mut head = 0;
            p.set_target(0.8, 0.0);
            for _ in 0..400 {
                period(&mut p, &mut w, &mut head, 128);
            }
            // Drain what the worker made, but for `keep` frames, then pull without it.
            let mut out = vec![1.0; 256];
            let mut heard = Vec::new();
            while p.output.slots() / 2 >= 128 + keep {
                p.pull(&mut out);
                heard.extend_from_slice(&out);
            }
            // One period more may still be whole.
            let ahead = p.output.slots() / 2;
            assert!(ahead < 128 + keep && ahead >= keep, "{ahead}");
            if ahead >= 128 {
                p.pull(&mut out);
                heard.extend_from_slice(&out);
            }
            assert_eq!(p.stats().underruns, 0);
            let had = p.output.slots() / 2;
            let gap_at = heard.len() / 2 + had;
            p.pull(&mut out);
            heard.extend_from_slice(&out);
            assert_eq!(p.stats().underruns, 1, "keep {keep}");
            assert_eq!(counter.load(Ordering::Relaxed), 1);
            assert_eq!(p.stats().missing_frames, 128 - had as u64);
            // Faded, not cut: silence at the gap, and no step larger than the fade's.
            let fade = p.underrun_fade_frames;
            let after_decay = if had == 0 { gap_at + fade } else { gap_at };
            assert!(
                heard[2 * after_decay..].iter().all(|&v| v == 0.0),
                "keep {keep}: silence in the gap"
            );
            // The worker comes back: the late frames are dropped, the output fades in.
            for _ in 0..50 {
                let (left, _) = period(&mut p, &mut w, &mut head, 128);
                heard.extend(left.iter().flat_map(|&v| [v, v]));
            }
            let step = largest_step(&heard[2 * (heard.len() / 2 - 50 * 128 - 256)..]);
            // (A gap after fewer frames than a fade ramps over those frames.)
            let ramp = if had == 0 { fade } else { had.min(fade) };
            assert!(
                step <= 0.25 / ramp as f32 + 1e-6,
                "keep {keep}: step {step}, ramp {ramp}"
            );
            assert!(heard.ends_with(&[0.25, 0.25]), "back to full level");
            assert_eq!(p.debt, 0);
            // (Within the one frame that the carried fraction of a chunk can add.)
            let fill = (p.output.slots() / 2) as i64;
            assert!(
                (fill - p.config.lead_frames as i64).abs() <= 1,
                "fill {fill}"
            );
        }
    }

    #[test]
    fn a_stalled_worker_drops_chunks_and_never_blocks() {
        let (mut p, _w) = pipe(256);
        let mut out = vec![0.0; 512];
        p.set_target(0.5, 0.0);
        for _ in 0..2000 {
            let n = p.input_frames_wanted(256);
            p.input_buffer(n).fill(0.1);
            p.commit_input(n);
            p.pull(&mut out);
        }
        assert!(p.stats().dropped_chunks > 0);
    }

    /// The alignment finds the lag at which the direct line matches what the stretcher
    /// played: on a low tone (nearest of its periodic matches), on noise, and 0 in silence.
    #[test]
    fn alignment_finds_the_lag_of_the_stretched_window() {
        let mut seed = 0x1234_5678u32;
        let mut noise = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as f32 / u32::MAX as f32 - 0.5
        };
        let noise_song: Vec<f32> = (0..20_000).map(|_| noise()).collect();
        let tone = |f: usize| (std::f32::consts::TAU * 60.0 * f as f32 / RATE as f32).sin();
        for (name, lag) in [
            ("tone", 37i64),
            ("tone", -200),
            ("noise", -123),
            ("noise", 471),
        ] {
            let song = |f: usize| {
                if name == "tone" {
                    tone(f)
                } else {
                    noise_song[f]
                }
            };
            let mut a = Alignment::new(RATE, 256);
            let (w, d) = (a.window_frames, a.max_lag_frames);
            let history = w + d;
            // The direct line: `history` frames before the next heard frame (at 10_000),
            // and some after.
            let mut direct = FrameFifo::new(history + 2000, 2);
            let start = 10_000 - history;
            let frames: Vec<f32> = (start..10_000 + 1000)
                .flat_map(|f| [song(f), song(f)])
                .collect();
            direct.push(&frames);
            // The stretcher played song frames ending at the heard frame, moved by `lag`.
            let played: Vec<f32> = (10_000 - w..10_000)
                .flat_map(|f| {
                    let v = song((f as i64 + lag) as usize);
                    [v * 0.5, v * 0.5]
                })
                .collect();
            a.remember(&played, 2);
            let t = std::time::Instant::now();
            let found = a.best_lag(&direct, history);
            println!("{name} {lag}: found {found} in {:?}", t.elapsed());
            assert_eq!(found, lag, "{name}");
            let _ = d;
        }
        let mut a = Alignment::new(RATE, 256);
        let history = a.window_frames + a.max_lag_frames;
        let mut direct = FrameFifo::new(history + 2000, 2);
        direct.push(&vec![0.3; (history + 1000) * 2]);
        a.remember(&vec![0.0; a.window_frames * 2], 2);
        assert_eq!(a.best_lag(&direct, history), 0, "silence");
    }

    #[test]
    fn frame_fifo_keeps_the_newest_frames() {
        let mut f = FrameFifo::new(4, 2);
        f.push(&[1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
        f.push(&[4.0, 4.0, 5.0, 5.0]);
        assert_eq!(f.len, 4);
        f.keep_newest(3);
        let mut out = [0.0; 8];
        f.pop(&mut out);
        assert_eq!(out, [3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 0.0, 0.0]);
    }
}
