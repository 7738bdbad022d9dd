//! The audio thread: wait for a period of space, mix straight into the mmap area, commit;
//! recover from xruns and suspends. Everything inside [`run_device`] keeps the real-time
//! rules of `crate::rt`: its only calls are into the device ([`PlaybackDevice`]: alsa-lib
//! or the kernel's pages, no allocation on these paths), the engine and the observer.
//!
//! The buffer is prefilled with silence before the device starts, and again after every
//! xrun recovery, so a recovery is heard as a gap of silence, never as stale audio.

use super::alsa_pcm::{Access, AlsaDevice, AlsaIo, Granted};
use super::convert::{convert, DeviceFormat, FloatLe, S16Le, S24Le, S32Le};
use super::device::{describe, state_errno, PlaybackDevice};
use super::engine::Engine;
use super::format::SampleFormat;
use super::status::EngineStatus;
use super::thread;
use super::{MAX_CHANNELS, MAX_PERIOD_FRAMES};
use alsa::pcm::{State, PCM};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Hooks the loop calls at fixed points of each period: the latency monitor implements
/// them. The loop is generic over this, so with [`NoObserver`] none of it exists in the
/// compiled loop: no clock reads, nothing recorded. Audio thread.
pub trait LoopObserver: Send + 'static {
    /// The loop woke up with `avail_frames` of space in the device buffer.
    fn wake(&mut self, avail_frames: u64);
    /// The period was committed to the device.
    fn committed(&mut self);
    /// An xrun or suspend recovery starts.
    fn recovery_begin(&mut self);
    /// The recovery is done and the device runs again.
    fn recovery_end(&mut self);
}

/// The observer of a loop with the latency monitor off.
pub struct NoObserver;

impl LoopObserver for NoObserver {
    #[inline(always)]
    fn wake(&mut self, _avail_frames: u64) {}
    #[inline(always)]
    fn committed(&mut self) {}
    #[inline(always)]
    fn recovery_begin(&mut self) {}
    #[inline(always)]
    fn recovery_end(&mut self) {}
}

/// Flags the control thread sets for the audio thread.
#[derive(Debug, Default)]
pub struct LoopControl {
    /// Leave the loop at the next period.
    pub stop: AtomicBool,
    /// Leave the loop once the current song has played to its end (`play --once`).
    pub stop_at_song_end: AtomicBool,
    /// 1 = alsa-lib mmap, 2 = direct mmap: what the loop actually uses.
    pub access_used: AtomicU8,
}

/// How the audio thread ended.
pub struct AudioExit {
    /// `Err` with the device error that stopped it.
    pub result: Result<(), String>,
    /// Handed back so the songs it holds are freed on the joining thread.
    pub engine: Engine,
    pub pcm: PCM,
}

/// The running audio thread. Joining happens in [`AudioThread::join`] or on drop.
pub struct AudioThread {
    handle: Option<JoinHandle<AudioExit>>,
    pub control: Arc<LoopControl>,
    /// Warnings from real-time set-up (what the system refused).
    pub rt_warnings: Vec<String>,
}

impl AudioThread {
    /// Stops the loop and waits for the thread; returns how it ended. Control thread.
    pub fn stop(mut self) -> Option<AudioExit> {
        self.control.stop.store(true, Relaxed);
        self.handle.take().and_then(|h| h.join().ok())
    }

    /// Waits for the thread to end by itself (after the song in `play --once`).
    pub fn join(mut self) -> Option<AudioExit> {
        self.handle.take().and_then(|h| h.join().ok())
    }

    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }
}

impl Drop for AudioThread {
    fn drop(&mut self) {
        self.control.stop.store(true, Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Starts the audio thread (`stembox-audio`): all signals blocked, real-time set-up, then
/// [`run_device`] on the ALSA PCM. Control thread.
pub fn spawn_audio_thread<O: LoopObserver>(
    pcm: PCM,
    granted: Granted,
    engine: Engine,
    observer: O,
    rt_priority: u32,
    rt_cpu: Option<usize>,
    stop_at_song_end: bool,
) -> std::io::Result<AudioThread> {
    let control = Arc::new(LoopControl::default());
    control.stop_at_song_end.store(stop_at_song_end, Relaxed);
    let (warn_tx, warn_rx) = std::sync::mpsc::channel();
    let ctl = control.clone();
    let handle = std::thread::Builder::new()
        .name("stembox-audio".into())
        .spawn(move || {
            // Signals go to the other threads: a handler must never run on this one (it
            // could allocate, lock or take the time of a period), and a blocking call here
            // must not end early with EINTR.
            let mut warnings = Vec::new();
            if let Err(w) = thread::block_all_signals() {
                warnings.push(w);
            }
            warnings.extend(thread::make_current_thread_realtime(rt_priority, rt_cpu));
            let _ = warn_tx.send(warnings);
            let mut engine = engine;
            let mut observer = observer;
            let result = run_alsa(&pcm, &granted, &mut engine, &mut observer, &ctl);
            AudioExit {
                result,
                engine,
                pcm,
            }
        })?;
    let rt_warnings = warn_rx.recv().unwrap_or_default();
    Ok(AudioThread {
        handle: Some(handle),
        control,
        rt_warnings,
    })
}

/// The ALSA side of the audio thread: pick the loop built for the granted sample format.
fn run_alsa<O: LoopObserver>(
    pcm: &PCM,
    granted: &Granted,
    engine: &mut Engine,
    observer: &mut O,
    control: &LoopControl,
) -> Result<(), String> {
    use SampleFormat as F;
    match granted.format {
        F::S16Le => run_alsa_format::<S16Le, O>(pcm, granted, engine, observer, control),
        F::S24Le => run_alsa_format::<S24Le, O>(pcm, granted, engine, observer, control),
        F::S32Le => run_alsa_format::<S32Le, O>(pcm, granted, engine, observer, control),
        F::FloatLe => run_alsa_format::<FloatLe, O>(pcm, granted, engine, observer, control),
    }
}

fn run_alsa_format<F: AlsaIo, O: LoopObserver>(
    pcm: &PCM,
    granted: &Granted,
    engine: &mut Engine,
    observer: &mut O,
    control: &LoopControl,
) -> Result<(), String> {
    let mut device =
        AlsaDevice::new::<F>(pcm, granted).map_err(|e| describe(&granted.device, "mmap", &e))?;
    control.access_used.store(
        match device.access() {
            Access::AlsaMmap => 1,
            Access::DirectMmap => 2,
        },
        Relaxed,
    );
    run_device::<F, _, O>(
        &mut device,
        LoopParams::of(granted),
        engine,
        observer,
        control,
    )
    .map_err(|e| describe(&granted.device, "stopped", &e))
}

/// The shape of the device buffer, as the loop needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopParams {
    pub channels: usize,
    pub period_frames: u64,
    pub buffer_frames: u64,
    pub rate: u32,
}

impl LoopParams {
    pub fn of(granted: &Granted) -> LoopParams {
        LoopParams {
            channels: granted.channels as usize,
            period_frames: granted.period_frames as u64,
            buffer_frames: granted.buffer_frames as u64,
            rate: granted.rate,
        }
    }

    /// How long one `wait` may sleep: two buffers' time (a running device always frees a
    /// period well within it), at least 20 ms.
    pub fn wait_timeout_ms(&self) -> u64 {
        ((2 * self.buffer_frames * 1000) / self.rate.max(1) as u64).max(20)
    }
}

/// How long an unpaced device rests while the engine waits for the loader: short, since
/// the loader publishes every few milliseconds and the render should follow at once.
pub const DECODE_REST_MS: u32 = 1;

/// A device that stops consuming for this long (in timed-out waits) is given up.
pub const STALL_LIMIT_MS: u64 = 5_000;
/// `snd_pcm_resume` answers EAGAIN while the driver wakes up; after this many tries (about
/// a second on ALSA) the loop prepares and starts over instead.
pub const RESUME_TRIES: u32 = 200;

/// What the audio thread runs on a device: the loop, then the end of playback (the buffer
/// plays out after `play --once`'s song ended, otherwise it is dropped at once). Audio
/// thread; returns when told to stop or on a device error it cannot recover from.
pub fn run_device<F, D, O>(
    device: &mut D,
    params: LoopParams,
    engine: &mut Engine,
    observer: &mut O,
    control: &LoopControl,
) -> alsa::Result<()>
where
    F: DeviceFormat,
    D: PlaybackDevice<Raw = F::Raw>,
    O: LoopObserver,
{
    let result = run_loop::<F, D, O>(device, params, engine, observer, control);
    if control.stop_at_song_end.load(Relaxed) && result.is_ok() {
        device.drain();
    } else {
        device.stop();
    }
    result
}

/// The loop itself.
fn run_loop<F, D, O>(
    device: &mut D,
    params: LoopParams,
    engine: &mut Engine,
    observer: &mut O,
    control: &LoopControl,
) -> alsa::Result<()>
where
    F: DeviceFormat,
    D: PlaybackDevice<Raw = F::Raw>,
    O: LoopObserver,
{
    let ch = params.channels;
    let period = params.period_frames;
    let timeout_ms = params.wait_timeout_ms();
    let mut scratch = [0.0f32; MAX_PERIOD_FRAMES * MAX_CHANNELS];
    let status = engine.status().clone();
    let status: &EngineStatus = &status;
    let mut silent_waits = 0u64;
    // Periods written since the device last made the loop wait. A paced device (a card,
    // jack) has room for at most a buffer's worth before the loop must wait for it; past
    // twice that it plays as fast as it is fed (a `null` or `file` PCM), and with nothing
    // to play the loop rests instead of spinning a core on silence.
    let unpaced_after = 2 * (params.buffer_frames / period.max(1)) + 2;
    let mut periods_unwaited = 0u64;
    let ended_at_start = status.songs_ended.load(Relaxed);

    prefill_and_start(device, ch)?;
    loop {
        if control.stop.load(Relaxed) {
            return Ok(());
        }
        if control.stop_at_song_end.load(Relaxed)
            && status.songs_ended.load(Relaxed) != ended_at_start
        {
            return Ok(());
        }
        let avail = match device.avail() {
            Ok(a) => a,
            Err(e) => {
                recover(device, ch, e, engine, observer)?;
                continue;
            }
        };
        if avail < period {
            periods_unwaited = 0;
            match device.wait(timeout_ms as u32) {
                Ok(true) => silent_waits = 0,
                Ok(false) => {
                    // The device has stopped consuming; a few seconds of that is fatal.
                    silent_waits += 1;
                    if silent_waits * timeout_ms > STALL_LIMIT_MS {
                        return Err(alsa::Error::new("snd_pcm_wait", libc::ETIMEDOUT));
                    }
                    // Nothing to wait for: find out why from the state.
                    if let Some(errno) = state_errno(device.state()) {
                        let e = alsa::Error::new("state", errno);
                        recover(device, ch, e, engine, observer)?;
                    }
                }
                Err(e) => recover(device, ch, e, engine, observer)?,
            }
            continue;
        }
        if periods_unwaited > unpaced_after && engine.needs_decode(period as usize) {
            // An unpaced device (a `file` or `null` PCM: `play --once` renders) has no
            // deadline, so instead of playing a hole where the song is not decoded yet the
            // loop rests until the loader has caught up. A card or jack makes the loop
            // wait above every period, never gets here, and hears a load underrun.
            device.rest(DECODE_REST_MS);
            continue;
        }
        // MIDI clock out: when this period will be heard. The clock is read only while the
        // midi thread asks for it, right after avail so that the two belong together.
        let clock_wake_ns = if status.clock_wanted.load(Relaxed) {
            crate::base::clock::now_ns()
        } else {
            0
        };
        observer.wake(avail);
        let mut left = period as usize;
        while left > 0 {
            let written = device.write(left, &mut |buf: &mut [F::Raw]| {
                let samples = buf.len();
                engine.process(&mut scratch[..samples]);
                convert::<F>(&scratch[..samples], buf);
                samples / ch
            });
            match written {
                Ok(0) => break,
                Ok(n) => left -= n.min(left),
                Err(e) => {
                    recover(device, ch, e, engine, observer)?;
                    break;
                }
            }
        }
        observer.committed();
        if clock_wake_ns != 0 {
            publish_clock(status, &params, clock_wake_ns, avail, period - left as u64);
        }
        periods_unwaited = periods_unwaited.saturating_add(1);
        if periods_unwaited > unpaced_after && engine.is_idle() {
            device.rest(timeout_ms as u32);
        }
    }
}

/// Publishes the period just written for the MIDI clock ([`EngineStatus::audio_clock`]):
/// at `wake_ns` the device had `avail` frames free, so `buffer - avail` frames were still
/// to play before this period's first frame. Audio thread; atomics only.
fn publish_clock(
    status: &EngineStatus,
    params: &LoopParams,
    wake_ns: u64,
    avail: u64,
    frames: u64,
) {
    let clock = &status.audio_clock;
    let period = clock.read().map_or(1, |s| s.period + 1);
    clock.publish(&super::status::AudioClockSample {
        period,
        wake_ns,
        delay_frames: params
            .buffer_frames
            .saturating_sub(avail)
            .min(u32::MAX as u64) as u32,
        frames: frames.min(u32::MAX as u64) as u32,
        song_pos: status.pos_frames.load(Relaxed),
        speed_pct_x100: status.speed_pct_x100.load(Relaxed),
        transport: status.transport.load(Relaxed),
        counting_in: status.counting_in.load(Relaxed),
        song_serial: status.song_serial.load(Relaxed),
        song_bpm_milli: status.song_bpm_milli.load(Relaxed),
        song_quarter: f64::from_bits(status.song_quarter_bits.load(Relaxed)),
        rate: params.rate,
    });
}

/// Fills the whole buffer with silence and starts the device.
fn prefill_and_start<D: PlaybackDevice>(device: &mut D, ch: usize) -> alsa::Result<()> {
    loop {
        let space = device.avail()? as usize;
        if space == 0 {
            break;
        }
        let n = device.write(space, &mut |buf: &mut [D::Raw]| {
            buf.fill(D::Raw::default());
            buf.len() / ch
        })?;
        if n == 0 {
            break;
        }
    }
    device.start()
}

/// EPIPE (underrun): count, prepare, prefill, start. ESTRPIPE (suspend): resume, or prepare
/// when the driver cannot resume. Anything else (ENODEV: device gone; EBADFD: device in a
/// state playback cannot come back from; EIO; ...) is returned as fatal.
///
/// Where the buffer was dropped (prepare), the engine is told: the next period follows a
/// gap of silence and fades in rather than restarting mid-waveform. A resume keeps the
/// buffer, so the waveform goes on where it was and needs no fade.
fn recover<D: PlaybackDevice, O: LoopObserver>(
    device: &mut D,
    ch: usize,
    err: alsa::Error,
    engine: &mut Engine,
    observer: &mut O,
) -> alsa::Result<()> {
    observer.recovery_begin();
    let status = engine.status();
    match err.errno() {
        libc::EPIPE => {
            status.xruns.fetch_add(1, Relaxed);
            device.prepare()?;
            prefill_and_start(device, ch)?;
            engine.fade_in_after_gap();
        }
        libc::ESTRPIPE => {
            status.suspends.fetch_add(1, Relaxed);
            // The driver may need a moment after a system resume; after a while, start over.
            let mut tries = 0;
            loop {
                match device.resume() {
                    Ok(()) => break,
                    Err(e) if e.errno() == libc::EAGAIN && tries < RESUME_TRIES => {
                        tries += 1;
                        device.pause_before_resume();
                    }
                    Err(_) => {
                        device.prepare()?;
                        break;
                    }
                }
            }
            if device.state() == State::Prepared {
                prefill_and_start(device, ch)?;
                engine.fade_in_after_gap();
            }
        }
        _ => return Err(err),
    }
    observer.recovery_end();
    Ok(())
}

#[cfg(test)]
mod tests;
