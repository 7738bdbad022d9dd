//! The audio thread: wait for a period of space, mix straight into the mmap area, commit;
//! recover from xruns and suspends. Everything inside [`run_loop`] keeps the real-time
//! rules of `crate::rt`: its only calls are into alsa-lib (no allocation on these paths),
//! the engine and the observer.

use super::device::{Access, Granted};
use super::rt_thread;
use crate::rt::convert::{convert, DeviceFormat, FloatLe, S16Le, S24Le, S32Le};
use crate::rt::engine::Engine;
use crate::rt::status::EngineStatus;
use crate::rt::MAX_CHANNELS;
use crate::rt::MAX_PERIOD_FRAMES;
use alsa::pcm::{State, IO, PCM};
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

/// Starts the audio thread (`stembox-audio`): real-time set-up, then the loop. Control thread.
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
            let warnings = rt_thread::make_current_thread_realtime(rt_priority, rt_cpu);
            let _ = warn_tx.send(warnings);
            let mut engine = engine;
            let mut observer = observer;
            let result = run_device(&pcm, &granted, &mut engine, &mut observer, &ctl);
            if ctl.stop_at_song_end.load(Relaxed) && result.is_ok() {
                // Let what is in the buffer play out.
                drain(&pcm, &granted);
            } else {
                let _ = pcm.drop();
            }
            engine.status().stopped.store(true, Relaxed);
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

/// Plays out what is in the buffer. The PCM is non-blocking, so `snd_pcm_drain` returns
/// EAGAIN at once and the drain goes on in the device; wait for it to finish (at most the
/// buffer's time and a second more).
fn drain(pcm: &PCM, granted: &Granted) {
    if let Err(e) = pcm.drain() {
        if e.errno() != libc::EAGAIN {
            return;
        }
    }
    let limit = std::time::Duration::from_millis(
        1000 + granted.buffer_frames as u64 * 1000 / granted.rate as u64,
    );
    let t0 = std::time::Instant::now();
    while pcm.state() == State::Draining && t0.elapsed() < limit {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// How the loop gets at the mmap area for one sample type.
trait AlsaIo: DeviceFormat {
    fn io(pcm: &PCM) -> alsa::Result<IO<'_, Self::Raw>>;
}

impl AlsaIo for S16Le {
    fn io(pcm: &PCM) -> alsa::Result<IO<'_, i16>> {
        pcm.io_i16()
    }
}
impl AlsaIo for S24Le {
    fn io(pcm: &PCM) -> alsa::Result<IO<'_, i32>> {
        pcm.io_i32_s24()
    }
}
impl AlsaIo for S32Le {
    fn io(pcm: &PCM) -> alsa::Result<IO<'_, i32>> {
        pcm.io_i32()
    }
}
impl AlsaIo for FloatLe {
    fn io(pcm: &PCM) -> alsa::Result<IO<'_, f32>> {
        pcm.io_f32()
    }
}

fn run_device<O: LoopObserver>(
    pcm: &PCM,
    granted: &Granted,
    engine: &mut Engine,
    observer: &mut O,
    control: &LoopControl,
) -> Result<(), String> {
    use crate::config::SampleFormat as F;
    match granted.format {
        F::S16Le => run_format::<S16Le, O>(pcm, granted, engine, observer, control),
        F::S24Le => run_format::<S24Le, O>(pcm, granted, engine, observer, control),
        F::S32Le => run_format::<S32Le, O>(pcm, granted, engine, observer, control),
        F::FloatLe => run_format::<FloatLe, O>(pcm, granted, engine, observer, control),
    }
}

/// The two ways into the device buffer.
enum Area<'a, R: Copy> {
    Lib(IO<'a, R>),
    Direct(alsa::direct::pcm::MmapPlayback<R>),
}

fn run_format<F: AlsaIo, O: LoopObserver>(
    pcm: &PCM,
    granted: &Granted,
    engine: &mut Engine,
    observer: &mut O,
    control: &LoopControl,
) -> Result<(), String> {
    let describe = |what: &str, e: alsa::Error| {
        format!(
            "audio device \"{}\": {what}: {} ({})",
            granted.device,
            super::errno_text(e.errno()),
            e.func()
        )
    };
    // Direct mmap where the device has the kernel pages; alsa-lib's mmap otherwise.
    let mut area = match granted.access {
        Access::DirectMmap => match pcm.direct_mmap_playback::<F::Raw>() {
            Ok(m) => Area::Direct(m),
            Err(_) => Area::Lib(F::io(pcm).map_err(|e| describe("mmap", e))?),
        },
        Access::AlsaMmap => Area::Lib(F::io(pcm).map_err(|e| describe("mmap", e))?),
    };
    control.access_used.store(
        match area {
            Area::Lib(_) => 1,
            Area::Direct(_) => 2,
        },
        Relaxed,
    );
    let mut scratch = [0.0f32; MAX_PERIOD_FRAMES * MAX_CHANNELS];
    let status = engine.status().clone();
    run_loop::<F, O>(
        pcm,
        &mut area,
        granted,
        engine,
        observer,
        control,
        &status,
        &mut scratch,
    )
    .map_err(|e| describe("stopped", e))
}

const EPIPE: i32 = libc::EPIPE;
const ESTRPIPE: i32 = libc::ESTRPIPE;

/// The loop itself. Audio thread, after real-time set-up; returns when told to stop or on a
/// device error it cannot recover from.
#[allow(clippy::too_many_arguments)]
fn run_loop<F: DeviceFormat, O: LoopObserver>(
    pcm: &PCM,
    area: &mut Area<'_, F::Raw>,
    granted: &Granted,
    engine: &mut Engine,
    observer: &mut O,
    control: &LoopControl,
    status: &EngineStatus,
    scratch: &mut [f32],
) -> alsa::Result<()> {
    let ch = granted.channels as usize;
    let period = granted.period_frames as u64;
    // Two buffers' time: a running device always frees a period well within it.
    let timeout_ms = ((2 * granted.buffer_frames as u64 * 1000) / granted.rate as u64).max(20);
    let mut silent_waits = 0u32;
    let ended_at_start = status.songs_ended.load(Relaxed);

    prefill_and_start::<F>(pcm, area, ch)?;
    loop {
        if control.stop.load(Relaxed) {
            return Ok(());
        }
        if control.stop_at_song_end.load(Relaxed)
            && status.songs_ended.load(Relaxed) != ended_at_start
        {
            return Ok(());
        }
        let avail = match avail(pcm, area) {
            Ok(a) => a,
            Err(e) => {
                recover::<F, O>(pcm, area, ch, e, status, observer)?;
                continue;
            }
        };
        if avail < period {
            match pcm.wait(Some(timeout_ms as u32)) {
                Ok(true) => silent_waits = 0,
                Ok(false) => {
                    // The device has stopped consuming; a few seconds of that is fatal.
                    silent_waits += 1;
                    if silent_waits as u64 * timeout_ms > 5_000 {
                        return Err(alsa::Error::new("snd_pcm_wait", libc::ETIMEDOUT));
                    }
                    // Nothing to wait for: find out why from the state.
                    if let Some(errno) = state_errno(pcm.state()) {
                        let e = alsa::Error::new("state", errno);
                        recover::<F, O>(pcm, area, ch, e, status, observer)?;
                    }
                }
                Err(e) => recover::<F, O>(pcm, area, ch, e, status, observer)?,
            }
            continue;
        }
        observer.wake(avail);
        let mut left = period as usize;
        while left > 0 {
            let written = write_block::<F>(area, ch, left, &mut |buf: &mut [F::Raw]| {
                let samples = buf.len();
                engine.process(&mut scratch[..samples]);
                convert::<F>(&scratch[..samples], buf);
            });
            match written {
                Ok(0) => break,
                Ok(n) => left -= n.min(left),
                Err(e) => {
                    recover::<F, O>(pcm, area, ch, e, status, observer)?;
                    break;
                }
            }
        }
        observer.committed();
    }
}

/// What a device state that is not "running" means for the loop, as the errno alsa-lib
/// would report (positive, like `alsa::Error::errno`): an xrun, a suspend, a device gone.
fn state_errno(state: State) -> Option<i32> {
    match state {
        State::Running | State::Draining => None,
        State::Suspended => Some(ESTRPIPE),
        State::Disconnected => Some(libc::ENODEV),
        State::XRun | State::Prepared | State::Paused => Some(EPIPE),
        _ => Some(libc::EBADFD),
    }
}

fn avail<R: Copy>(pcm: &PCM, area: &Area<'_, R>) -> alsa::Result<u64> {
    match area {
        Area::Lib(_) => pcm.avail_update().map(|a| a as u64),
        // Prepared (during the prefill) has room like Running; the rest is an error.
        Area::Direct(m) => match m.status().state() {
            st @ (State::XRun | State::Suspended | State::Disconnected) => Err(alsa::Error::new(
                "status",
                state_errno(st).unwrap_or(libc::EBADFD),
            )),
            _ => Ok(m.avail() as u64),
        },
    }
}

/// Fills up to `frames` frames of the next contiguous part of the buffer with `fill` and
/// commits them; returns the frames written.
fn write_block<F: DeviceFormat>(
    area: &mut Area<'_, F::Raw>,
    ch: usize,
    frames: usize,
    fill: &mut dyn FnMut(&mut [F::Raw]),
) -> alsa::Result<usize> {
    match area {
        Area::Lib(io) => io.mmap(frames, |buf| {
            let n = (buf.len() / ch).min(frames);
            fill(&mut buf[..n * ch]);
            n
        }),
        Area::Direct(m) => {
            let (part, _) = m.data_ptr();
            let n = (part.frames as usize).min(frames);
            if n == 0 {
                return Ok(0);
            }
            // SAFETY: `data_ptr` gives the writable contiguous part of the device buffer,
            // `part.frames * channels` samples from `part.ptr`; we write at most that.
            let buf = unsafe { core::slice::from_raw_parts_mut(part.ptr, n * ch) };
            fill(buf);
            m.commit(n as alsa::pcm::Frames);
            Ok(n)
        }
    }
}

/// Fills the whole buffer with silence and starts the device.
fn prefill_and_start<F: DeviceFormat>(
    pcm: &PCM,
    area: &mut Area<'_, F::Raw>,
    ch: usize,
) -> alsa::Result<()> {
    loop {
        let space = avail(pcm, area)? as usize;
        if space == 0 {
            break;
        }
        let n = write_block::<F>(area, ch, space, &mut |buf: &mut [F::Raw]| {
            buf.fill(F::Raw::default())
        })?;
        if n == 0 {
            break;
        }
    }
    pcm.start()
}

/// EPIPE (underrun): count, prepare, prefill, start. ESTRPIPE (suspend): resume, or prepare
/// when the driver cannot resume. Anything else is returned as fatal.
fn recover<F: DeviceFormat, O: LoopObserver>(
    pcm: &PCM,
    area: &mut Area<'_, F::Raw>,
    ch: usize,
    err: alsa::Error,
    status: &EngineStatus,
    observer: &mut O,
) -> alsa::Result<()> {
    observer.recovery_begin();
    match err.errno() {
        EPIPE => {
            status.xruns.fetch_add(1, Relaxed);
            pcm.prepare()?;
            prefill_and_start::<F>(pcm, area, ch)?;
        }
        ESTRPIPE => {
            status.suspends.fetch_add(1, Relaxed);
            // The driver may need a moment after a system resume; after a second, start over.
            let mut tries = 0;
            loop {
                match pcm.resume() {
                    Ok(()) => break,
                    Err(e) if e.errno() == libc::EAGAIN && tries < 200 => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(5))
                    }
                    Err(_) => {
                        pcm.prepare()?;
                        break;
                    }
                }
            }
            if pcm.state() == State::Prepared {
                prefill_and_start::<F>(pcm, area, ch)?;
            }
        }
        _ => return Err(err),
    }
    observer.recovery_end();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recovery matches errno values as alsa-lib's own errors carry them (positive);
    /// errors the loop makes itself must use the same sign or an xrun becomes fatal.
    #[test]
    fn loop_made_errors_carry_errno_like_alsa_lib() {
        let pcm = PCM::new("null", alsa::Direction::Playback, false).unwrap();
        let lib_err = pcm.resume().unwrap_err();
        assert!(lib_err.errno() > 0, "alsa-lib errno {}", lib_err.errno());
        for (state, want) in [
            (State::XRun, libc::EPIPE),
            (State::Suspended, libc::ESTRPIPE),
        ] {
            let e = alsa::Error::new("state", state_errno(state).unwrap());
            assert_eq!(e.errno(), want, "{state:?} must reach its recovery arm");
        }
        assert_eq!(state_errno(State::Running), None);
    }
}
