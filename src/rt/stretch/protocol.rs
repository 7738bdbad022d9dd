//! What the stretch worker and the audio thread's side of the pipe share, and all the
//! worker (`crate::stretch`) needs to know of the audio side: the sizes of the pipeline
//! ([`StretchConfig`]), the messages from the audio thread ([`WorkerMsg`], fixed-size
//! `Copy`), the worker's ends of the rings ([`WorkerEnds`]), the stretcher's latency, and the
//! [`InlineStretcher`] seam through which an offline render runs the worker inside the
//! engine. The ring pair itself is made by [`super::channel`].

use rtrb::{Consumer, Producer};

/// Slowest speed (factor; 0.5 = 50 %), from [`crate::base::limits::MIN_SPEED_PCT`].
pub const MIN_SPEED: f64 = crate::base::limits::MIN_SPEED_PCT as f64 / 100.0;
/// Fastest speed (factor; 1.5 = 150 %), from [`crate::base::limits::MAX_SPEED_PCT`].
pub const MAX_SPEED: f64 = crate::base::limits::MAX_SPEED_PCT as f64 / 100.0;
pub use crate::base::limits::{MAX_PITCH_ST, MIN_PITCH_ST};
/// While priming, the engine mixes up to this many extra periods per period, so the direct
/// line gets `L1` frames ahead in `L1 / CATCHUP_PERIODS` of time.
pub const CATCHUP_PERIODS: usize = 3;
/// Fade out before and in after a gap the worker left (an underrun), in microseconds:
/// long enough not to click, short enough to lose little.
pub const UNDERRUN_FADE_US: u32 = 2_000;
/// Default crossfade between the direct mix and the stretcher, in milliseconds.
pub const CROSSFADE_MS: u32 = 20;

/// A stretch worker driven from inside the engine's `process`, for an offline render to a
/// device that is not paced (see `Engine::attach_stretch`). The worker (`crate::stretch`)
/// implements it; the engine knows only this, so `rt` imports nothing above it.
pub trait InlineStretcher: Send {
    /// Stretches every chunk pushed so far, as far as the output ring has room.
    fn run_pending(&mut self);
}

/// Sizes of the pipeline; everything is allocated from these at construction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StretchConfig {
    /// Device sample rate.
    pub rate_hz: u32,
    /// Interleaved channels of the mix that is stretched (2 for the stereo main mix).
    pub channels: usize,
    /// Largest period the engine will ask for (`crate::rt::MAX_PERIOD_FRAMES` at most).
    pub max_period_frames: usize,
    /// Stretcher FFT block (Signalsmith's default preset: 120 ms; here 140 ms).
    pub block_frames: usize,
    /// Stretcher hop between blocks (Signalsmith's default: 30 ms; here 40 ms). Its
    /// inverse is how far across frequency the stretcher locks phases: see
    /// [`StretchConfig::new`].
    pub interval_frames: usize,
    /// How far the worker stays ahead of the audio thread, in output frames. It must cover
    /// the worker's worst call plus its scheduling delay.
    pub lead_frames: usize,
    /// Length of the equal-gain crossfade when the stretcher is switched in or out.
    pub crossfade_frames: usize,
}

impl StretchConfig {
    /// A 140 ms block and a 40 ms hop, a lead of the larger of 2 periods and 10 ms, and a
    /// 20 ms crossfade.
    ///
    /// Why these blocks (issue 19, measured with `examples/stretch_measure.rs`): besides
    /// tracking each bin in time, Signalsmith predicts a bin's phase from its neighbours
    /// one bin and `fft / interval` bins below and above, that is `1 / interval` Hz away.
    /// With the 80/20 ms blocks used before, that long step was 50 Hz, more than the
    /// spacing of a 41-55 Hz bass's harmonics, so each harmonic's phase was locked to its
    /// neighbour's and they moved apart: fundamentals up to +96 cents at 80 % speed and
    /// -105 at 120 %, the 2nd harmonic the other way. It takes both a step below the
    /// lowest bass (a 40 ms hop: 25 Hz) and bins fine enough to separate its harmonics (a
    /// 140 ms block: 7 Hz): 80/40 or 100/40 still left +29 cents, 160/20 +33, 120/30 +63;
    /// 140/40 keeps every note of the bass line within 1 cent. The cost is 60 ms more
    /// latency (the stretcher's own: 140 ms instead of 80; with the lead of a 1024-frame
    /// period, 183 ms instead of 123 at 48 kHz) and up to a few dB more pre-echo on hits.
    pub fn new(rate_hz: u32, channels: usize, max_period_frames: usize) -> Self {
        let ms = |ms: u32| (rate_hz as usize * ms as usize).div_ceil(1000);
        StretchConfig {
            rate_hz,
            channels,
            max_period_frames,
            block_frames: rate_hz as usize * 14 / 100,
            interval_frames: rate_hz as usize * 4 / 100,
            lead_frames: (2 * max_period_frames).max(ms(10)),
            crossfade_frames: ms(CROSSFADE_MS),
        }
    }

    /// Most song frames one chunk may carry (the engine's staging buffer, in frames).
    pub fn max_chunk_frames(&self) -> usize {
        self.max_period_frames * (CATCHUP_PERIODS + 1)
    }

    /// Most output frames one chunk may produce (the slowest speed doubles its length).
    pub fn max_chunk_output_frames(&self) -> usize {
        (self.max_chunk_frames() as f64 / MIN_SPEED).ceil() as usize
    }

    /// Capacity of the input ring, in samples: room for the lead, a stretcher block and a
    /// few catch-up periods, so a healthy worker never lets it fill.
    pub fn input_ring_samples(&self) -> usize {
        (self.lead_frames + self.block_frames + 4 * self.max_chunk_frames()) * self.channels
    }

    /// Capacity of the output ring, in samples.
    pub fn output_ring_samples(&self) -> usize {
        (self.lead_frames + 4 * self.max_chunk_output_frames()) * self.channels
    }
}

/// The stretcher's own latency, as it reports it after configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StretcherLatency {
    /// Song frames between the newest input and the centre of what is output.
    pub input_frames: usize,
    /// Output frames between that centre and the output.
    pub output_frames: usize,
}

/// What the audio thread tells the worker, in order with the samples in the input ring.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WorkerMsg {
    /// `input_frames` song frames (already in the sample ring) become exactly
    /// `output_frames` stretched frames, shifted by `pitch_st` semitones.
    Chunk {
        input_frames: u32,
        output_frames: u32,
        pitch_st: f32,
    },
    /// Forget all history (the next chunk starts a new, unrelated stream).
    Reset,
}
const _: () = assert!(std::mem::size_of::<WorkerMsg>() <= 16);

/// The worker's end of the rings, made by [`channel`] and owned by the worker thread.
pub struct WorkerEnds {
    /// Chunk tags, in order with `input`.
    pub msgs: Consumer<WorkerMsg>,
    /// Interleaved song frames.
    pub input: Consumer<f32>,
    /// Interleaved stretched frames.
    pub output: Producer<f32>,
}
