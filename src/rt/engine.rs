//! The engine: the audio thread's only state, and [`Engine::process`], its whole job.
//!
//! Per period it applies pending commands, mixes every stem of the current song at its
//! (ramped) gain into an interleaved f32 block, applies master gain and the transport fade,
//! clamps at full scale, advances the play head, and handles loop wrap, song changes and the
//! song's end sample-accurately, by splitting the period into segments at those points.
//! It never allocates, frees, locks, logs or touches files.

use super::bus::{BusOut, BusTable, MAX_BUSES};
use super::command::{
    Command, COMMAND_QUEUE_CAPACITY, GARBAGE_QUEUE_CAPACITY, SONG_QUEUE_CAPACITY,
};
use super::ramp::{ms_to_frames, Ramp};
use super::status::{EngineStatus, Transport};
use super::stretch::{InlineStretcher, StretchPipe};
use super::{FADE_MS, GAIN_RAMP_MS, MAX_CHANNELS, MAX_PERIOD_FRAMES, MAX_STEMS};
use crate::model::song::{Song, Stem};
use core::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// The control thread's ends of the engine's queues.
pub struct EngineHandle {
    pub commands: rtrb::Producer<Command>,
    pub songs: rtrb::Producer<Arc<Song>>,
    /// Songs the engine no longer uses: pop and drop them here, off the audio thread.
    pub garbage: rtrb::Consumer<Arc<Song>>,
    pub status: Arc<EngineStatus>,
}

impl EngineHandle {
    /// Queues a command; a full queue hands it back. Control thread.
    pub fn send(&mut self, cmd: Command) -> Result<(), Command> {
        self.commands
            .push(cmd)
            .map_err(|rtrb::PushError::Full(c)| c)
    }

    /// Hands `song` to the engine and asks it to switch. Control thread.
    pub fn switch_song(&mut self, song: Arc<Song>, start_frame: u64, play: bool) -> bool {
        if self.commands.slots() == 0 || self.songs.push(song).is_err() {
            return false;
        }
        self.send(Command::SwitchSong { start_frame, play }).is_ok()
    }

    /// Drops what the engine handed back. Control thread.
    pub fn collect_garbage(&mut self) -> usize {
        let mut n = 0;
        while let Ok(song) = self.garbage.pop() {
            drop(song);
            n += 1;
        }
        n
    }
}

/// Per-stem mixer state.
#[derive(Clone, Copy, Debug)]
struct StemState {
    gain: f32,
    pan: f32,
    mute: bool,
    solo: bool,
    left: Ramp,
    right: Ramp,
    /// Progressive loading: the gain that fades this stem out ahead of its watermark and
    /// back in once the loader is past it (1 when the stem is decoded far enough).
    load_gain: f32,
}

impl StemState {
    fn new(ramp_frames: u32) -> StemState {
        StemState {
            gain: 1.0,
            pan: 0.0,
            mute: false,
            solo: false,
            left: Ramp::new(1.0, ramp_frames),
            right: Ramp::new(1.0, ramp_frames),
            load_gain: 1.0,
        }
    }

    fn targets(&self, any_solo: bool) -> (f32, f32) {
        let audible = !self.mute && (!any_solo || self.solo);
        if !audible {
            return (0.0, 0.0);
        }
        // Balance-style pan: the centre keeps both channels at unity so stems sum to the mix.
        let l = (1.0 - self.pan).min(1.0);
        let r = (1.0 + self.pan).min(1.0);
        (self.gain * l, self.gain * r)
    }
}

/// What happens once the transport fade-out reaches silence.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pending {
    None,
    Pause,
    Stop,
    Seek(u64),
    /// A pause (or stop) that was followed by a seek: hold at this frame.
    PauseAt(u64),
    Switch {
        start_frame: u64,
        play: bool,
    },
    /// A count-in ramp's tail has faded out: go to `frame` (the loop's A), take the ramp's
    /// next step if `step`, and count in the pass.
    RampCountIn {
        frame: u64,
        step: bool,
    },
}

/// The loop region.
#[derive(Clone, Copy, Debug)]
struct LoopState {
    a: u64,
    b: u64,
}

/// A loop-wrap crossfade in progress: the tail past B fades out while A fades in. Kept apart
/// from the loop so that ending or moving the loop mid-crossfade still finishes it smoothly.
#[derive(Clone, Copy, Debug)]
struct Crossfade {
    /// Where the tail continues.
    tail_pos: u64,
    left_frames: u32,
}

/// A count-in in progress. Its clicks are generated in the output domain at the effective
/// tempo (`beat_frames` is already divided by the speed), never time-stretched.
#[derive(Clone, Copy, Debug)]
struct CountIn {
    /// Frames since the count-in started.
    frame: u32,
    /// Silent frames before the first click: a count-in ramp waits for the faded tail that
    /// is still in the stretch pipe (its latency) to be heard first. 0 otherwise.
    lead: u32,
    beat_frames: u32,
    beats: u8,
    /// The song was started before the clicks ended: when stretched, it starts the pipe's
    /// latency early so that its first frame is heard as the count-in ends.
    started: bool,
}

/// The generated click ([`Command::Click`]): on the song's tempo map, in song time.
#[derive(Clone, Copy, Debug)]
struct ClickState {
    on: bool,
    /// Turned off at this song frame: clicks begun before it ring out, no new ones start.
    off_at: Option<u64>,
    /// Where the last clicked segment ended; playing on from anywhere else is a jump.
    next_pos: u64,
    /// Where the present stretch of unbroken playback began: a click whose onset lies
    /// before it is left out (entering mid-burst would itself be a click).
    heard_from: u64,
}

/// A tempo-ramp loop in progress (speeds as factors).
#[derive(Clone, Copy, Debug)]
struct TempoRamp {
    step: f64,
    end: f64,
    /// The pass now being mixed, from 1.
    pass: u32,
    /// Count-in before each pass: beat length at 100 % and beats (0: none, the wrap is
    /// crossfaded).
    count_in_beat_frames: u32,
    count_in_beats: u8,
}

/// Commands held back while a song switch fades out (one song's worth of settings).
const DEFERRED_CAPACITY: usize = 3 * MAX_STEMS + 8;

/// A stem that playback catches up with while it loads fades out over this much of the
/// audio it has, ending at its watermark, and fades back in over as much once there is
/// audio again (a load underrun is a dip, not a click).
pub const LOAD_FADE_MS: u32 = 5;

/// How far a stem is decoded, for the mixer: its watermark while it loads, `usize::MAX`
/// once it is complete (nothing will ever be missing). One atomic load.
#[inline]
fn load_limit(stem: &Stem) -> usize {
    let audio = stem.audio();
    let ready = audio.ready_frames();
    if ready >= audio.capacity_frames() {
        usize::MAX
    } else {
        ready
    }
}

/// The most a stem may sound at frame `at` when it is decoded up to `limit`: a linear
/// ramp over `fade` frames that reaches 0 at the watermark, so a stem fades out into the
/// missing part using only frames it has. What is approximated: the ramp is placed as if
/// the watermark stayed where it is; when it moves on meanwhile, the stem comes back at
/// most as fast as it faded ([`StemState::load_gain`] rises by `1 / fade` per frame), so a
/// dip can happen although no frame was missing (counted only when one was).
#[inline]
fn load_allowed(limit: usize, at: usize, fade: usize) -> f32 {
    if limit >= at + fade {
        1.0
    } else {
        limit.saturating_sub(at) as f32 / fade as f32
    }
}

/// Count-in click: a decaying sine burst, higher and louder on beat 1.
const CLICK_MS: u32 = 40;

/// Where the mixer reads one stem: `seg` frames from frame `pos`, in the stem's own
/// channels (a mono stem gives l = r = s, the same sums as a stereo copy of it). Frames
/// past what is decoded (a stem still loading) or past the song's end read as silence;
/// `short` says the first happened. The one place that knows a stem's sample layout.
struct StemSource<'a> {
    /// The decoded samples from `pos` on, at most `seg` frames.
    src: &'a [f32],
    channels: usize,
    short: bool,
    /// [`load_limit`] as of this segment.
    limit: usize,
}

impl<'a> StemSource<'a> {
    fn new(stem: &'a Stem, pos: usize, seg: usize) -> StemSource<'a> {
        let audio = stem.audio();
        let channels = stem.channels();
        // The front part, or the region a seek decoded first, from `pos` on.
        let (from_pos, ready) = audio.readable_from(pos);
        let n = (ready - pos).min(seg);
        // Complete as of the watermark loaded for `from_pos` (a second load could see more
        // than it holds).
        let complete = ready >= audio.capacity_frames();
        StemSource {
            src: &from_pos[..n * channels],
            channels,
            short: n < seg && !complete,
            limit: if complete { usize::MAX } else { ready },
        }
    }

    /// Frame `f` of the segment as (left, right).
    #[inline]
    fn frame(&self, f: usize) -> (f32, f32) {
        let c = self.channels;
        match self.src.get(f * c..f * c + c) {
            Some(&[l, r]) => (l, r),
            Some(&[s]) => (s, s),
            _ => (0.0, 0.0),
        }
    }

    /// Adds the segment to stereo `block` at steady gains.
    #[inline]
    fn add_steady(&self, block: &mut [f32], gl: f32, gr: f32) {
        if self.channels == 1 {
            for (o, &s) in block.chunks_exact_mut(2).zip(self.src) {
                o[0] += s * gl;
                o[1] += s * gr;
            }
        } else {
            for (o, s) in block.chunks_exact_mut(2).zip(self.src.chunks_exact(2)) {
                o[0] += s[0] * gl;
                o[1] += s[1] * gr;
            }
        }
    }
}

impl StemSource<'_> {
    /// Adds the segment to `bus` of `block` (interleaved at `ch`) at steady gains: a mono
    /// bus gets `0.5 * (l * gl + r * gr)`, as a 1-channel device always has.
    #[inline]
    fn add_steady_bus(&self, block: &mut [f32], ch: usize, bus: BusOut, gl: f32, gr: f32) {
        let (a, b) = bus.pair();
        let frames = self.src.len() / self.channels;
        if bus.is_mono() {
            for (f, o) in block.chunks_exact_mut(ch).take(frames).enumerate() {
                let (l, r) = self.frame(f);
                o[a] += 0.5 * (l * gl + r * gr);
            }
        } else if self.channels == 1 {
            for (o, &s) in block.chunks_exact_mut(ch).zip(self.src) {
                o[a] += s * gl;
                o[b] += s * gr;
            }
        } else {
            for (o, s) in block.chunks_exact_mut(ch).zip(self.src.chunks_exact(2)) {
                o[a] += s[0] * gl;
                o[b] += s[1] * gr;
            }
        }
    }
}

/// Adds a frame's (already gained) left and right to `bus` of `frame`.
#[inline]
fn add_to_bus(frame: &mut [f32], bus: BusOut, l: f32, r: f32) {
    let (a, b) = bus.pair();
    if bus.is_mono() {
        frame[a] += 0.5 * (l + r);
    } else {
        frame[a] += l;
        frame[b] += r;
    }
}

/// The click's sample `t` frames into beat `beat` at `rate_hz`.
#[inline]
fn click_sample(beat: u32, t: u32, rate_hz: u32) -> f32 {
    let (freq, amp) = if beat == 0 {
        (1_600.0, 0.5)
    } else {
        (1_000.0, 0.3)
    };
    let secs = t as f32 / rate_hz as f32;
    amp * (core::f32::consts::TAU * freq * secs).sin() * (-secs / 0.005).exp()
}

/// A count-in's beat length at `speed` (from `beat_frames` at 100 %), at least 1 frame and
/// short enough that `beats` of them plus a pipe latency fit the count-in's u32 frame count.
fn count_in_beat_frames(beat_frames: u32, speed: f64, beats: u8) -> u32 {
    let max = u32::MAX / 4 / (beats.max(1) as u32);
    ((beat_frames as f64 / speed).round() as u32).clamp(1, max)
}

/// `factor` clamped to the stretcher's range; not finite means the original speed.
fn clamp_speed(factor: f64) -> f64 {
    if factor.is_finite() {
        factor.clamp(super::stretch::MIN_SPEED, super::stretch::MAX_SPEED)
    } else {
        1.0
    }
}

/// The mixer. Built on the control thread, then moved to the audio thread.
pub struct Engine {
    channels: usize,
    /// The output buses (main first) and their gains, applied after mixing and stretching.
    buses: BusTable,
    bus_gain: [Ramp; MAX_BUSES],
    rate_hz: u32,
    fade_frames: u32,
    /// [`LOAD_FADE_MS`] in frames, at least 1.
    load_fade_frames: u32,
    count_in: Option<CountIn>,
    click: ClickState,
    song: Option<Arc<Song>>,
    pos: u64,
    transport: Transport,
    pending: Pending,
    /// Nothing of the current song has been heard yet: settings apply without a ramp.
    fresh: bool,
    stems: [StemState; MAX_STEMS],
    any_solo: bool,
    master: Ramp,
    fade: Ramp,
    looping: Option<LoopState>,
    xfade: Option<Crossfade>,
    commands: rtrb::Consumer<Command>,
    songs: rtrb::Consumer<Arc<Song>>,
    garbage: rtrb::Producer<Arc<Song>>,
    /// Commands that arrived after a song switch still fading out: they are meant for the
    /// new song, so they wait for it.
    deferred: heapless::Deque<Command, DEFERRED_CAPACITY>,
    /// Songs the garbage queue had no room for; sent on later periods, never dropped here.
    held: heapless::Vec<Arc<Song>, 4>,
    /// Crossfade weights for a loop wrap.
    w_in: Box<[f32; MAX_PERIOD_FRAMES]>,
    status: Arc<EngineStatus>,
    /// Speed (factor) and pitch (semitones) asked for.
    speed: f64,
    pitch_st: f32,
    ramp: Option<TempoRamp>,
    /// Set by a loop wrap that changed the ramp's speed: the stretched path commits what it
    /// mixed before the wrap, then sets the new speed, so the step lands on the wrap.
    speed_changed_at_wrap: bool,
    /// The stretch pipeline's audio end (absent: speed and pitch are ignored).
    stretch: Option<StretchPipe>,
    /// Offline rendering only (`play --once`): the stretcher runs here, after the period's
    /// input is committed, instead of on its worker thread; see [`Engine::attach_stretch`].
    inline_worker: Option<Box<dyn InlineStretcher>>,
    /// The stretch pipe's latency in output frames, as of this period (0 when bypassed).
    latency_out_frames: u32,
    /// A song ended while stretched: its last frames are still in the pipe, so the end is
    /// published (`songs_ended`) only after this many more output frames.
    end_tail_frames: Option<u32>,
    /// This period reached a stem's undecoded part (progressive loading): counted once in
    /// `load_underruns` at the period's end.
    load_short: bool,
    /// The play head jumped (song switch, seek, stop): before mixing on, wait silent at
    /// the new position until every stem has decoded past it.
    load_wait: bool,
}

impl Engine {
    /// Creates an engine for `channels` output channels at `rate_hz`, and the control
    /// thread's handle to it. Control thread.
    pub fn new(rate_hz: u32, channels: usize, master_gain: f32) -> (Engine, EngineHandle) {
        assert!(
            (1..=MAX_CHANNELS).contains(&channels),
            "channels out of range"
        );
        let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(COMMAND_QUEUE_CAPACITY);
        let (song_tx, song_rx) = rtrb::RingBuffer::new(SONG_QUEUE_CAPACITY);
        let (garbage_tx, garbage_rx) = rtrb::RingBuffer::new(GARBAGE_QUEUE_CAPACITY);
        let status = Arc::new(EngineStatus::default());
        let ramp_frames = ms_to_frames(GAIN_RAMP_MS, rate_hz);
        let fade_frames = ms_to_frames(FADE_MS, rate_hz).min(MAX_PERIOD_FRAMES as u32);
        let engine = Engine {
            channels,
            buses: BusTable::main_only(channels),
            bus_gain: [Ramp::new(1.0, ramp_frames); MAX_BUSES],
            rate_hz,
            fade_frames,
            load_fade_frames: ms_to_frames(LOAD_FADE_MS, rate_hz).max(1),
            count_in: None,
            click: ClickState {
                on: false,
                off_at: None,
                next_pos: u64::MAX,
                heard_from: 0,
            },
            song: None,
            pos: 0,
            transport: Transport::Stopped,
            pending: Pending::None,
            fresh: true,
            stems: [StemState::new(ramp_frames); MAX_STEMS],
            any_solo: false,
            master: Ramp::new(master_gain, ramp_frames),
            fade: Ramp::new(0.0, fade_frames),
            looping: None,
            xfade: None,
            commands: cmd_rx,
            songs: song_rx,
            garbage: garbage_tx,
            deferred: heapless::Deque::new(),
            held: heapless::Vec::new(),
            w_in: Box::new([0.0; MAX_PERIOD_FRAMES]),
            status: status.clone(),
            speed: 1.0,
            pitch_st: 0.0,
            ramp: None,
            speed_changed_at_wrap: false,
            stretch: None,
            inline_worker: None,
            latency_out_frames: 0,
            end_tail_frames: None,
            load_short: false,
            load_wait: false,
        };
        let handle = EngineHandle {
            commands: cmd_tx,
            songs: song_tx,
            garbage: garbage_rx,
            status,
        };
        (engine, handle)
    }

    /// Gives the engine the stretch pipeline's audio end, made with
    /// `crate::stretch::StretchWorker::new(StretchConfig::new(rate, channels, period))` with `channels` equal
    /// to the engine's. Control thread, before the engine moves to the audio thread.
    ///
    /// Where the stretcher runs, and why: on the engine's summed output (after stem gains,
    /// pan, mute/solo and master), so one stretcher serves 16 stems (see `crate::rt::stretch`).
    ///
    /// `inline_worker`: `None` for playback (the worker runs on its own thread, spawned by
    /// the control thread, and the audio thread only copies samples). `Some` only for an
    /// offline render to a device that is not paced (a `file` PCM runs thousands of times
    /// faster than real time, so a worker thread could never keep up): the stretcher's
    /// bursty work then runs inside `process`, which keeps the output exact at the cost of
    /// a worst period of one stretcher block.
    pub fn attach_stretch(
        &mut self,
        pipe: StretchPipe,
        inline_worker: Option<Box<dyn InlineStretcher>>,
    ) {
        self.stretch = Some(pipe);
        self.inline_worker = inline_worker;
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Routes to `buses` instead of the default (main on outputs 1-2, or mono on a
    /// 1-channel device). Refused when a bus uses an output the engine does not have.
    /// Control thread, before the engine moves to the audio thread.
    pub fn set_buses(&mut self, buses: BusTable) -> Result<(), String> {
        for bus in buses.buses() {
            if let Some(&c) = bus
                .channels()
                .iter()
                .find(|&&c| c as usize >= self.channels)
            {
                return Err(format!(
                    "a bus uses output {} but the device has {}",
                    c as usize + 1,
                    self.channels
                ));
            }
        }
        self.buses = buses;
        Ok(())
    }

    /// The atomics this engine publishes to.
    pub fn status(&self) -> &Arc<EngineStatus> {
        &self.status
    }

    /// True when the engine would produce only silence until told otherwise.
    pub fn is_idle(&self) -> bool {
        self.transport != Transport::Playing
    }

    /// The output was interrupted (an xrun recovery, a device reopened) and the next block
    /// starts after a gap of silence: without this the waveform would resume mid-swing, a
    /// click. While playing, the transport fade snaps to 0 and ramps back to 1 over
    /// [`FADE_MS`]; a pause, stop or song change that was fading out simply completes in
    /// the silence. Nothing changes when not playing. Audio thread (after a recovery) or
    /// whichever thread holds the engine while no audio thread runs.
    pub fn fade_in_after_gap(&mut self) {
        if self.transport != Transport::Playing {
            return;
        }
        self.fade.snap(0.0);
        if self.pending == Pending::None {
            self.fade.set_target(1.0);
        }
    }

    /// Whether the next period of `frames` would reach audio the loader has not decoded
    /// yet (or come within a load fade of it, see [`LOAD_FADE_MS`]): up to 4 periods of
    /// song time ahead, since the stretched path mixes ahead and up to twice as fast. False
    /// when nothing plays. One atomic load per stem; never waits. Audio thread.
    ///
    /// The run loop asks this only of a device that does not pace it (a `file` or `null`
    /// PCM, `play --once`): there nobody hears a gap, so it rests until the loader catches
    /// up and the render never plays a hole. A card or jack is never waited for: there the
    /// engine plays silence for the missing part and counts a load underrun.
    pub fn needs_decode(&self, frames: usize) -> bool {
        if self.transport != Transport::Playing && self.count_in.is_none() {
            return false;
        }
        let Some(song) = self.song.as_ref() else {
            return false;
        };
        let ahead = frames as u64 * 4 + self.load_fade_frames as u64;
        let want = (self.pos + ahead).min(song.frames());
        song.is_loading() && song.decoded_through(self.pos) < want
    }

    /// Fills `out` (interleaved, `frames * channels` samples, at most [`MAX_PERIOD_FRAMES`]
    /// frames) with the next block. Audio thread; never allocates, frees or blocks.
    pub fn process(&mut self, out: &mut [f32]) {
        let ch = self.channels;
        let frames = (out.len() / ch).min(MAX_PERIOD_FRAMES);
        let out = &mut out[..frames * ch];
        out.fill(0.0);
        self.flush_held();
        self.apply_commands();

        match self.stretch.take() {
            Some(mut pipe) if !pipe.is_bypassed() => {
                self.process_stretched(&mut pipe, out, frames);
                self.stretch = Some(pipe);
            }
            pipe => {
                // Speed 100 %, pitch 0: mixed straight into the period, bit-exact.
                self.stretch = pipe;
                self.latency_out_frames = 0;
                let done = self.count_in_clicks(out, frames);
                self.mix_song(out, done, frames);
            }
        }
        if let Some(left) = self.end_tail_frames {
            let left = left.saturating_sub(frames as u32);
            self.end_tail_frames = (left > 0).then_some(left);
            if left == 0 {
                self.status.songs_ended.fetch_add(1, Relaxed);
            }
        }
        self.apply_bus_gains(out);
        for s in out.iter_mut() {
            *s = s.clamp(-1.0, 1.0);
        }
        if core::mem::take(&mut self.load_short) {
            self.status.load_underruns.fetch_add(1, Relaxed);
        }
        self.publish();
    }

    /// Each bus's gain on its outputs; a bus at unity and still is not touched, so main
    /// at unity stays bit-exact.
    fn apply_bus_gains(&mut self, out: &mut [f32]) {
        let ch = self.channels;
        for (bus, gain) in self.buses.buses().iter().zip(self.bus_gain.iter_mut()) {
            if !gain.is_moving() && gain.current() == 1.0 {
                continue;
            }
            let (a, b) = bus.pair();
            for frame in out.chunks_exact_mut(ch) {
                let g = gain.next_gain();
                frame[a] *= g;
                if !bus.is_mono() {
                    frame[b] *= g;
                }
            }
        }
    }

    /// One period through the stretcher: mix song frames (in song time, in pieces of at
    /// most [`MAX_PERIOD_FRAMES`]) into the pipe until it has enough, pull one period of
    /// output, and lay the count-in's clicks over it (generated at the effective tempo).
    fn process_stretched(&mut self, pipe: &mut StretchPipe, out: &mut [f32], frames: usize) {
        let ch = self.channels;
        // A count-in starts the song the pipe's latency early, so that it is heard on time.
        let lead_out = (pipe.latency_song_frames() / self.speed.max(0.5)) as u32;
        self.latency_out_frames = lead_out;
        self.start_song_under_count_in(lead_out);
        // Priming mixes up to CATCHUP_PERIODS extra periods; never more per period.
        let mut budget = frames * (super::stretch::CATCHUP_PERIODS + 1);
        while budget > 0 {
            let want = pipe.input_frames_wanted(frames).min(budget);
            if want == 0 {
                break;
            }
            let buf = pipe.input_buffer(want);
            let n = buf.len() / ch;
            buf.fill(0.0);
            let mut mixed = 0;
            while mixed < n {
                let mut piece = (n - mixed).min(MAX_PERIOD_FRAMES);
                if let (Some(_), Some(lp)) = (&self.ramp, &self.looping) {
                    // Stop at the wrap, so a ramp step lands exactly on it.
                    if self.pos < lp.b && self.transport == Transport::Playing {
                        piece = piece.min((lp.b - self.pos) as usize);
                    }
                }
                self.mix_song(&mut buf[mixed * ch..(mixed + piece) * ch], 0, piece);
                mixed += piece;
                if self.speed_changed_at_wrap {
                    break;
                }
            }
            pipe.commit_input(mixed);
            budget -= mixed.min(budget);
            if self.speed_changed_at_wrap {
                self.speed_changed_at_wrap = false;
                pipe.set_target(self.speed, self.pitch_st);
            }
        }
        if let Some(worker) = self.inline_worker.as_mut() {
            worker.run_pending();
        }
        pipe.pull(out);
        self.count_in_overlay(out, frames);
    }

    /// Mixes the song from frame `done` of `out` to `frames`, splitting at loop wraps,
    /// fades and the song's end. Song time: the speed plays no part here.
    fn mix_song(&mut self, out: &mut [f32], mut done: usize, frames: usize) {
        let ch = self.channels;
        while done < frames && self.transport == Transport::Playing {
            let Some(song) = self.song.as_ref() else {
                self.transport = Transport::Stopped;
                break;
            };
            let song_frames = song.frames();
            if self.pos >= song_frames {
                if let Pending::RampCountIn { .. } = self.pending {
                    // The loop ends at the song's end: nothing is left of the tail to fade.
                    self.complete_pending();
                    continue;
                }
                // A switch or seek waiting for its fade still happens; then mixing goes on.
                self.end_of_song();
                continue;
            }
            if self.load_wait {
                // After a jump beyond what is decoded, the head waits there in silence
                // (counted as a load underrun) rather than play a hole; the loader is
                // decoding front to back and will reach it.
                let want = (self.pos + (frames - done) as u64).min(song_frames);
                if song.is_loading() && song.decoded_through(self.pos) < want {
                    self.load_short = true;
                    break;
                }
                self.load_wait = false;
            }
            let mut seg = (frames - done) as u64;
            seg = seg.min(song_frames - self.pos);
            if self.fade.is_moving() {
                seg = seg.min(self.fade.remaining_frames() as u64);
            }
            if let Some(lp) = &self.looping {
                if self.pos < lp.b {
                    seg = seg.min(lp.b - self.pos);
                }
            }
            if let Some(x) = &self.xfade {
                seg = seg.min(x.left_frames as u64);
            }
            let seg = seg as usize;
            let block = &mut out[done * ch..(done + seg) * ch];
            self.mix_segment(block, seg);
            self.fresh = false;
            self.pos += seg as u64;
            done += seg;

            if self.pending != Pending::None && !self.fade.is_moving() && self.fade.current() == 0.0
            {
                self.complete_pending();
            }
            if let Some(x) = self.xfade.as_mut() {
                x.left_frames -= seg as u32;
                x.tail_pos += seg as u64;
                if x.left_frames == 0 {
                    self.xfade = None;
                }
            }
            if let Some(lp) = &self.looping {
                let count_in = self.ramp.is_some_and(|r| r.count_in_beats > 0);
                if self.pos == lp.b && count_in && self.pending == Pending::None {
                    // Count-in ramp: the tail past B fades out (as a pause does); then the
                    // next pass is counted in (`complete_pending`).
                    self.fade_out_then(Pending::RampCountIn {
                        frame: lp.a,
                        step: true,
                    });
                } else if self.pos == lp.b {
                    // Wrap: the tail past B fades out while A fades in.
                    self.xfade = Some(Crossfade {
                        tail_pos: lp.b,
                        left_frames: self.fade_frames,
                    });
                    self.pos = lp.a;
                    self.ramp_step();
                }
            }
        }
    }

    /// A loop wrapped: the ramp, if any, goes one pass on and one step faster.
    fn ramp_step(&mut self) {
        let Some(r) = self.ramp.as_mut() else {
            return;
        };
        r.pass = r.pass.saturating_add(1);
        let next = (self.speed + r.step).min(r.end);
        if next != self.speed {
            self.speed = next;
            self.speed_changed_at_wrap = true;
        }
    }

    /// Sends the speed and pitch asked for to the pipe (from a command, between periods).
    fn retarget_stretch(&mut self) {
        self.speed_changed_at_wrap = false;
        if let Some(pipe) = self.stretch.as_mut() {
            pipe.set_target(self.speed, self.pitch_st);
        }
    }

    /// When stretched, the song under a count-in starts `lead_out` output frames before the
    /// last click ends (the pipe's latency), so its first frame is heard on the beat.
    fn start_song_under_count_in(&mut self, lead_out: u32) {
        let Some(ci) = self.count_in.as_mut() else {
            return;
        };
        let total = ci.lead + ci.beat_frames * ci.beats as u32;
        if !ci.started && total - ci.frame <= lead_out {
            ci.started = true;
            self.start_at_current_pos();
        }
    }

    /// Adds the count-in's clicks to `out` (the stretched path's output), and ends the
    /// count-in after its last beat; the song was started by `start_song_under_count_in`.
    fn count_in_overlay(&mut self, out: &mut [f32], frames: usize) {
        let Some(ci) = self.count_in.as_mut() else {
            return;
        };
        let ch = self.channels;
        let total = ci.lead + ci.beat_frames * ci.beats as u32;
        let n = ((total - ci.frame) as usize).min(frames);
        let click_frames = ms_to_frames(CLICK_MS, self.rate_hz);
        let master = self.master.current();
        for f in 0..n {
            let Some(t) = (ci.frame + f as u32).checked_sub(ci.lead) else {
                continue;
            };
            let (beat, in_beat) = (t / ci.beat_frames, t % ci.beat_frames);
            if in_beat < click_frames {
                let v = click_sample(beat, in_beat, self.rate_hz) * master;
                for &c in self.buses.click_bus().channels() {
                    out[f * ch + c as usize] += v;
                }
            }
        }
        ci.frame += n as u32;
        if ci.frame >= total {
            let started = ci.started;
            self.count_in = None;
            if !started {
                self.start_at_current_pos();
            }
        }
    }

    /// Writes the count-in's clicks into the start of `out`; returns the frames it used.
    /// When the count-in ends inside the period, the song starts right after it.
    fn count_in_clicks(&mut self, out: &mut [f32], frames: usize) -> usize {
        let Some(ci) = self.count_in.as_ref() else {
            return 0;
        };
        if ci.started {
            // Started under the stretcher, which was switched out meanwhile: the song
            // plays, the clicks lie over it.
            self.count_in_overlay(out, frames);
            return 0;
        }
        let Some(ci) = self.count_in.as_mut() else {
            return 0;
        };
        let ch = self.channels;
        let total = ci.lead + ci.beat_frames * ci.beats as u32;
        let n = ((total - ci.frame) as usize).min(frames);
        let click_frames = ms_to_frames(CLICK_MS, self.rate_hz);
        for f in 0..n {
            // The click follows the master volume like everything else.
            let master = self.master.next_gain();
            let Some(t) = (ci.frame + f as u32).checked_sub(ci.lead) else {
                continue;
            };
            let (beat, in_beat) = (t / ci.beat_frames, t % ci.beat_frames);
            if in_beat < click_frames {
                let v = click_sample(beat, in_beat, self.rate_hz) * master;
                for &c in self.buses.click_bus().channels() {
                    out[f * ch + c as usize] = v;
                }
            }
        }
        ci.frame += n as u32;
        if ci.frame >= total {
            self.count_in = None;
            self.start_at_current_pos();
        }
        n
    }

    /// Mixes `seg` frames of the current song from `self.pos` into `block`.
    fn mix_segment(&mut self, block: &mut [f32], seg: usize) {
        let ch = self.channels;
        let Some(song) = self.song.as_ref() else {
            return;
        };
        let pos = self.pos as usize;
        // Loop-wrap crossfade: linear weights, tail = 1 - head.
        let xfade = match &self.xfade {
            Some(x) => {
                let total = self.fade_frames as f32;
                let done = (self.fade_frames - x.left_frames) as f32;
                for (i, w) in self.w_in[..seg].iter_mut().enumerate() {
                    *w = (done + i as f32 + 1.0) / total;
                }
                Some(x.tail_pos as usize)
            }
            None => None,
        };
        let mut short = false;
        let lf = self.load_fade_frames as usize;
        let load_step = 1.0 / lf as f32;
        let buses = self.buses;
        let plain_stereo = buses.is_plain_stereo(ch);
        for (stem, st) in song.stems().iter().zip(self.stems.iter_mut()) {
            let still = !st.left.is_moving() && !st.right.is_moving();
            if still && st.left.current() == 0.0 && st.right.current() == 0.0 {
                // Silent: its load gain jumps to where it would be (unheard).
                st.load_gain = load_allowed(load_limit(stem), pos + seg, lf);
                continue;
            }
            let src = StemSource::new(stem, pos, seg);
            short |= src.short;
            // Decoded far enough past this segment for the load fade to stay at 1.
            let load_steady = st.load_gain == 1.0 && src.limit >= pos + seg + lf;
            // The tail past the song's end is silence.
            let tail = xfade.map(|t| StemSource::new(stem, t, seg));
            let mask = buses.effective_mask(stem.bus_mask);
            if still && tail.is_none() && load_steady {
                let (gl, gr) = (st.left.current(), st.right.current());
                if plain_stereo {
                    // The common case: steady gains, stereo out, no crossfade.
                    src.add_steady(block, gl, gr);
                } else {
                    for (i, &bus) in buses.buses().iter().enumerate() {
                        if mask & (1 << i) != 0 {
                            src.add_steady_bus(block, ch, bus, gl, gr);
                        }
                    }
                }
                continue;
            }
            let mut lg = st.load_gain;
            for f in 0..seg {
                let (mut l, mut r) = src.frame(f);
                if !load_steady {
                    // Only the head is faded: the loop-wrap tail (at most FADE_MS past B)
                    // is taken as it is, silence where it is not decoded.
                    lg = (lg + load_step).min(load_allowed(src.limit, pos + f, lf));
                    l *= lg;
                    r *= lg;
                }
                if let Some(tail) = &tail {
                    let w = self.w_in[f];
                    let (tl, tr) = tail.frame(f);
                    l = l * w + tl * (1.0 - w);
                    r = r * w + tr * (1.0 - w);
                }
                let (gl, gr) = if still {
                    (st.left.current(), st.right.current())
                } else {
                    (st.left.next_gain(), st.right.next_gain())
                };
                let frame = &mut block[f * ch..f * ch + ch];
                for (i, &bus) in buses.buses().iter().enumerate() {
                    if mask & (1 << i) != 0 {
                        add_to_bus(frame, bus, l * gl, r * gr);
                    }
                }
            }
            st.load_gain = lg;
        }
        self.mix_click(block, seg);
        self.load_short |= short;
        // Stems that were skipped as silent still have to keep their ramps in step.
        if !self.master.is_moving()
            && !self.fade.is_moving()
            && self.master.current() == 1.0
            && self.fade.current() == 1.0
        {
            return;
        }
        for frame in block.chunks_exact_mut(ch) {
            let g = self.master.next_gain() * self.fade.next_gain();
            for s in frame {
                *s *= g;
            }
        }
    }

    /// Adds the generated click to `seg` frames of the song from `self.pos` (after the
    /// stems, before master and fade, so it follows both): a burst from [`click_sample`] at
    /// the first frame at or after each beat of the song's tempo map, the downbeat's
    /// accented. In song time, so the stretcher carries it to the effective tempo.
    fn mix_click(&mut self, block: &mut [f32], seg: usize) {
        let c = &mut self.click;
        if !c.on {
            return;
        }
        let Some(map) = self.song.as_ref().and_then(|s| s.tempo_map.as_ref()) else {
            return;
        };
        let (start, end) = (self.pos, self.pos + seg as u64);
        if start != c.next_pos {
            if c.off_at.is_some() {
                // Turned off and then a jump: nothing is left ringing to finish.
                c.on = false;
                c.off_at = None;
                return;
            }
            c.heard_from = start;
        }
        c.next_pos = end;
        let click_frames = ms_to_frames(CLICK_MS, self.rate_hz).max(1) as u64;
        if c.off_at
            .is_some_and(|off| start >= off.saturating_add(click_frames))
        {
            c.on = false;
            c.off_at = None;
            return;
        }
        // Onsets in [lo, hi) sound in this segment.
        let lo = start.saturating_sub(click_frames - 1).max(c.heard_from);
        let hi = c.off_at.map_or(end, |off| off.min(end));
        let ch = self.channels;
        let click_bus = self.buses.click_bus();
        // A beat at frame x has its onset at ceil(x): every onset >= lo has x > lo - 1.
        for beat in map.beats(lo as f64 - 1.0, hi as f64) {
            let onset = beat.onset_frame();
            if onset < lo || onset >= hi {
                continue;
            }
            let accent = if beat.is_downbeat { 0 } else { 1 };
            for f in onset.max(start)..(onset + click_frames).min(end) {
                let v = click_sample(accent, (f - onset) as u32, self.rate_hz);
                let i = (f - start) as usize * ch;
                for &c in click_bus.channels() {
                    block[i + c as usize] += v;
                }
            }
        }
    }

    fn apply_commands(&mut self) {
        while let Ok(cmd) = self.commands.pop() {
            self.apply(cmd);
        }
    }

    fn apply(&mut self, cmd: Command) {
        if let Pending::Switch { play, .. } = &mut self.pending {
            if matches!(cmd, Command::Pause | Command::Stop) {
                // The new song is cued, not played.
                *play = false;
                return;
            }
        }
        if matches!(self.pending, Pending::Switch { .. })
            && !matches!(cmd, Command::SwitchSong { .. })
        {
            // Meant for the song that is about to start. A full deferral queue (more than a
            // song's worth of settings inside one fade) keeps the newest.
            if let Err(cmd) = self.deferred.push_back(cmd) {
                self.deferred.pop_front();
                let _ = self.deferred.push_back(cmd);
            }
            return;
        }
        match cmd {
            Command::Play => self.play(),
            Command::CountIn { beat_frames, beats } => {
                if self.song.is_some()
                    && self.transport != Transport::Playing
                    && self.count_in.is_none()
                    && beats > 0
                {
                    // The clicks follow the effective tempo (bpm x speed).
                    self.count_in = Some(CountIn {
                        frame: 0,
                        lead: 0,
                        beat_frames: count_in_beat_frames(beat_frames, self.speed, beats),
                        beats,
                        started: false,
                    });
                }
            }
            Command::Pause => {
                self.count_in = None;
                if self.transport == Transport::Playing {
                    self.fade_out_then(Pending::Pause);
                }
            }
            Command::Stop => {
                self.count_in = None;
                if self.transport == Transport::Playing {
                    self.fade_out_then(Pending::Stop);
                } else {
                    self.pos = 0;
                    self.transport = Transport::Stopped;
                }
            }
            Command::Seek { frame } => {
                let frame = self.clamp_to_song(frame);
                // Leaving the loop region ends the loop.
                if let Some(lp) = &self.looping {
                    if frame < lp.a || frame >= lp.b {
                        self.looping = None;
                    }
                }
                // The loader may start on it while the old position fades out.
                if let Some(song) = self.song.as_ref() {
                    song.want(frame);
                }
                if self.transport == Transport::Playing {
                    self.fade_out_then(Pending::Seek(frame));
                } else {
                    self.pos = frame;
                    self.load_wait = true;
                }
            }
            Command::SwitchSong { start_frame, play } => {
                if let Pending::Switch { .. } = self.pending {
                    // Superseded before it was heard: its song goes straight back, and so
                    // do the settings that were meant for it.
                    if let Ok(skipped) = self.songs.pop() {
                        self.discard(skipped);
                    }
                    self.deferred.clear();
                }
                if self.transport == Transport::Playing && self.song.is_some() {
                    self.fade_out_then(Pending::Switch { start_frame, play });
                } else {
                    self.switch(start_frame, play);
                }
            }
            Command::StemGain { stem, gain } => self.update_stem(stem, |s| s.gain = gain.max(0.0)),
            Command::StemMute { stem, mute } => self.update_stem(stem, |s| s.mute = mute),
            Command::StemSolo { stem, solo } => self.update_stem(stem, |s| s.solo = solo),
            Command::StemPan { stem, pan } => {
                self.update_stem(stem, |s| s.pan = pan.clamp(-1.0, 1.0))
            }
            Command::MasterGain { gain } => self.master.set_target(gain.max(0.0)),
            Command::BusGain { bus, gain } => {
                if let Some(g) = self.bus_gain[..self.buses.len()].get_mut(bus as usize) {
                    g.set_target(gain.max(0.0));
                }
            }
            Command::Loop { region } => {
                self.ramp = None;
                self.set_loop(region)
            }
            Command::Click(true) => {
                let c = &mut self.click;
                if !c.on {
                    // Starts with the next beat, not inside one already passed.
                    c.next_pos = u64::MAX;
                }
                c.on = true;
                c.off_at = None;
            }
            Command::Click(false) => {
                if self.click.on && self.click.off_at.is_none() {
                    self.click.off_at = Some(self.pos);
                }
            }
            Command::Speed { factor } => {
                self.ramp = None;
                self.speed = clamp_speed(factor as f64);
                self.retarget_stretch();
            }
            Command::Pitch { st } => {
                self.pitch_st = if st.is_finite() {
                    st.clamp(super::stretch::MIN_PITCH_ST, super::stretch::MAX_PITCH_ST)
                } else {
                    0.0
                };
                self.retarget_stretch();
            }
            Command::LoopRamp {
                start,
                step,
                end,
                count_in,
            } => self.start_ramp(start, step, end, (count_in.beat_frames(), count_in.beats())),
        }
    }

    /// Starts a tempo ramp on the current loop: the next pass from A at `start`.
    /// With a count-in (`count_in`: beat frames at 100 %, beats; 0 beats for none) the first
    /// pass is counted in too, playing or not.
    fn start_ramp(&mut self, start: f32, step: f32, end: f32, count_in: (u32, u8)) {
        let Some(lp) = self.looping else {
            return;
        };
        let start = clamp_speed(start as f64);
        let end = clamp_speed(end as f64);
        let step = if step.is_finite() {
            step.max(0.0) as f64
        } else {
            0.0
        };
        let (count_in_beat_frames, count_in_beats) = if count_in.0 > 0 { count_in } else { (0, 0) };
        self.ramp = Some(TempoRamp {
            step,
            end: end.max(start),
            pass: 1,
            count_in_beat_frames,
            count_in_beats,
        });
        self.speed = start;
        self.retarget_stretch();
        if count_in_beats > 0 && self.song.is_some() {
            self.count_in = None;
            if self.transport == Transport::Playing {
                self.fade_out_then(Pending::RampCountIn {
                    frame: lp.a,
                    step: false,
                });
            } else {
                self.ramp_count_in(lp.a, false);
            }
        } else if self.pos != lp.a {
            self.apply(Command::Seek { frame: lp.a });
        }
    }

    fn play(&mut self) {
        if self.song.is_none() {
            return;
        }
        match self.pending {
            // A pause or stop still fading out is called off: fade back in from here.
            Pending::Pause | Pending::Stop => {
                self.pending = Pending::None;
                self.fade.set_target(1.0);
            }
            _ => {}
        }
        if self.transport == Transport::Playing {
            return;
        }
        if self.count_in.is_some() {
            // Already on its way: the count-in starts the song on its last beat. Starting
            // it here would report `playing` while the clicks hold the position.
            return;
        }
        self.start_at_current_pos();
    }

    /// From the song's first frame the output is bit-exact; elsewhere it fades in.
    fn start_at_current_pos(&mut self) {
        if self.pos == 0 {
            self.fade.snap(1.0);
        } else {
            self.fade.snap(0.0);
            self.fade.set_target(1.0);
        }
        self.transport = Transport::Playing;
    }

    fn fade_out_then(&mut self, next: Pending) {
        // A pause or stop already fading out wins over what follows it: a song change is
        // cued rather than played, a seek moves the held position.
        let next = match (self.pending, next) {
            (
                Pending::Pause | Pending::Stop | Pending::PauseAt(_),
                Pending::Switch { start_frame, .. },
            ) => Pending::Switch {
                start_frame,
                play: false,
            },
            (Pending::Pause | Pending::Stop | Pending::PauseAt(_), Pending::Seek(f)) => {
                Pending::PauseAt(f)
            }
            (_, next) => next,
        };
        self.pending = next;
        self.fade.set_target(0.0);
        if self.fade.current() == 0.0 && !self.fade.is_moving() {
            self.complete_pending();
        }
    }

    fn complete_pending(&mut self) {
        let pending = core::mem::replace(&mut self.pending, Pending::None);
        match pending {
            Pending::None => {}
            Pending::Pause => self.transport = Transport::Paused,
            Pending::PauseAt(frame) => {
                self.transport = Transport::Paused;
                self.pos = frame;
                self.xfade = None;
            }
            Pending::Stop => {
                self.transport = Transport::Stopped;
                self.pos = 0;
            }
            Pending::Seek(frame) => {
                self.pos = frame;
                self.xfade = None;
                self.fade.set_target(1.0);
            }
            Pending::Switch { start_frame, play } => self.switch(start_frame, play),
            Pending::RampCountIn { frame, step } => self.ramp_count_in(frame, step),
        }
        self.load_wait = true;
        self.want_current_pos();
    }

    /// A count-in ramp's pass begins: hold at `frame` (A), take the ramp's step if `step`,
    /// and count in at the new pass's effective tempo. When stretched, the clicks wait for
    /// the faded tail still in the pipe (its latency as of this period).
    fn ramp_count_in(&mut self, frame: u64, step: bool) {
        self.transport = Transport::Paused;
        self.pos = frame;
        self.xfade = None;
        if step {
            self.ramp_step();
        }
        let Some(r) = self.ramp else {
            return;
        };
        if r.count_in_beats == 0 || self.song.is_none() {
            self.start_at_current_pos();
            return;
        }
        self.count_in = Some(CountIn {
            frame: 0,
            lead: self.latency_out_frames,
            beat_frames: count_in_beat_frames(r.count_in_beat_frames, self.speed, r.count_in_beats),
            beats: r.count_in_beats,
            started: false,
        });
    }

    /// The play head jumped: the loader decodes from here first where it can (one atomic
    /// store on the song).
    fn want_current_pos(&self) {
        if let Some(song) = self.song.as_ref() {
            song.want(self.pos);
        }
    }

    fn switch(&mut self, start_frame: u64, play: bool) {
        let Ok(next) = self.songs.pop() else {
            return;
        };
        let ramp_frames = ms_to_frames(GAIN_RAMP_MS, next.rate);
        for (st, stem) in self.stems.iter_mut().zip(next.stems().iter()) {
            *st = StemState::new(ramp_frames);
            st.gain = stem.gain;
            st.pan = stem.pan;
            st.mute = stem.muted;
        }
        if let Some(old) = self.song.replace(next) {
            self.discard(old);
        }
        self.any_solo = false;
        self.looping = None;
        self.ramp = None;
        self.xfade = None;
        self.count_in = None;
        self.fresh = true;
        self.retarget_stems();
        self.pos = self.clamp_to_song(start_frame);
        self.load_wait = true;
        self.want_current_pos();
        self.status.song_serial.fetch_add(1, Relaxed);
        if play {
            self.start_at_current_pos();
        } else {
            self.fade.snap(0.0);
            self.transport = if self.pos == 0 {
                Transport::Stopped
            } else {
                Transport::Paused
            };
        }
        while let Some(cmd) = self.deferred.pop_front() {
            self.apply(cmd);
        }
    }

    fn update_stem(&mut self, stem: u8, f: impl FnOnce(&mut StemState)) {
        let n = self.song.as_ref().map_or(0, |s| s.stems().len());
        if (stem as usize) < n {
            f(&mut self.stems[stem as usize]);
            self.retarget_stems();
        }
    }

    fn retarget_stems(&mut self) {
        let n = self.song.as_ref().map_or(0, |s| s.stems().len());
        self.any_solo = self.stems[..n].iter().any(|s| s.solo);
        for st in &mut self.stems[..n] {
            let (l, r) = st.targets(self.any_solo);
            if self.fresh {
                st.left.snap(l);
                st.right.snap(r);
            } else {
                st.left.set_target(l);
                st.right.set_target(r);
            }
        }
    }

    fn set_loop(&mut self, region: Option<(u64, u64)>) {
        let Some((a, b)) = region else {
            self.looping = None;
            return;
        };
        let a = self.clamp_to_song(a);
        let b = self.clamp_to_song(b);
        // Shorter than two crossfades is no loop a musician can hear; ignore it.
        if b <= a || b - a <= 2 * self.fade_frames as u64 {
            return;
        }
        self.looping = Some(LoopState { a, b });
        if self.pos < a || self.pos >= b {
            self.apply(Command::Seek { frame: a });
        }
    }

    fn end_of_song(&mut self) {
        self.transport = Transport::Stopped;
        self.pos = 0;
        self.xfade = None;
        if self.latency_out_frames > 0 {
            // Stretched: the song's last frames are heard one pipe latency from now.
            self.end_tail_frames = Some(self.latency_out_frames);
        } else {
            self.status.songs_ended.fetch_add(1, Relaxed);
        }
        // What was waiting for the fade-out happens now: nothing is left to fade.
        match core::mem::replace(&mut self.pending, Pending::None) {
            Pending::Switch { start_frame, play } => self.switch(start_frame, play),
            Pending::Seek(frame) => {
                self.pos = frame;
                self.start_at_current_pos();
            }
            Pending::PauseAt(frame) => {
                self.pos = frame;
                self.transport = Transport::Paused;
            }
            Pending::RampCountIn { frame, step } => self.ramp_count_in(frame, step),
            Pending::None | Pending::Pause | Pending::Stop => {}
        }
    }

    fn clamp_to_song(&self, frame: u64) -> u64 {
        self.song.as_ref().map_or(0, |s| frame.min(s.frames()))
    }

    /// Hands a song back to the control thread, or holds it until there is room.
    fn discard(&mut self, song: Arc<Song>) {
        if let Err(rtrb::PushError::Full(song)) = self.garbage.push(song) {
            // Never dropped here: when even the holding slots are full the last resort is
            // to keep the song alive for good rather than free on the audio thread.
            if let Err(song) = self.held.push(song) {
                core::mem::forget(song);
            }
        }
    }

    fn flush_held(&mut self) {
        while let Some(song) = self.held.pop() {
            if let Err(rtrb::PushError::Full(song)) = self.garbage.push(song) {
                let _ = self.held.push(song);
                break;
            }
        }
    }

    /// The song frame being heard now: the mix head less the stretch pipe's latency,
    /// folded back into the loop when the head has wrapped and the ear has not yet.
    fn heard_pos(&self) -> u64 {
        let lat = self
            .stretch
            .as_ref()
            .map_or(0.0, |p| p.latency_song_frames());
        if lat <= 0.0 {
            return self.pos;
        }
        let lat = lat.round() as u64;
        match &self.looping {
            Some(lp) if self.pos >= lp.a && self.pos - lp.a < lat => {
                lp.b.saturating_sub(lat - (self.pos - lp.a))
            }
            _ => self.pos.saturating_sub(lat),
        }
    }

    fn publish(&self) {
        let s = &self.status;
        s.pos_frames.store(self.heard_pos(), Relaxed);
        s.speed_pct_x100
            .store((self.speed * 10_000.0).round() as u32, Relaxed);
        s.pitch_milli_st
            .store((self.pitch_st * 1000.0).round() as i32 as u32, Relaxed);
        s.stretching.store(
            self.stretch.as_ref().is_some_and(|p| !p.is_bypassed()),
            Relaxed,
        );
        s.ramp_pass.store(self.ramp.map_or(0, |r| r.pass), Relaxed);
        if let Some(p) = &self.stretch {
            s.stretch_underruns.store(p.stats().underruns, Relaxed);
        }
        s.transport.store(self.transport as u8, Relaxed);
        s.looping.store(self.looping.is_some(), Relaxed);
        s.counting_in.store(self.count_in.is_some(), Relaxed);
        // Where the heard position is in the song's beats, for MIDI clock out (the tempo
        // map's queries are allocation-free).
        let heard = self.heard_pos() as f64;
        let (quarter, bpm) = self
            .song
            .as_ref()
            .and_then(|song| song.tempo_map.as_ref())
            .map_or((0.0, 0.0), |m| (m.quarter_at(heard), m.bpm_at(heard)));
        s.song_bpm_milli.store(
            (bpm.clamp(0.0, 4_000_000.0) * 1000.0).round() as u32,
            Relaxed,
        );
        s.song_quarter_bits.store(quarter.to_bits(), Relaxed);
        s.periods.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests;
