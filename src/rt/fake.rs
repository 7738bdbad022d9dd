//! A scripted playback device for tests: the audio loop's [`PlaybackDevice`] without a
//! sound card. It runs at full speed (each `wait` plays one period at once), records every
//! sample committed to it, and injects, at any chosen period, the faults a real PCM shows:
//! xruns, suspends, a lost device, POLLERR/POLLHUP, wait timeouts, short mmap areas, partial
//! and failed commits, failing recoveries.
//!
//! Built on the test's thread before the loop (that is where it allocates: the record, the
//! buffer, the event log); every [`PlaybackDevice`] method keeps the real-time rules, so the
//! real loop runs through it under `assert_no_alloc`. A period is counted when the fake
//! plays it out in [`PlaybackDevice::wait`]; faults scheduled for period `p` take effect right
//! after period `p` was played (`p = 0`: before the first device call).

use super::device::{state_errno, PlaybackDevice};
use super::run::LoopControl;
use alsa::pcm::State;
use core::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// One injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// An underrun: the device stops in XRun; the next `avail` fails with EPIPE.
    Xrun,
    /// A system suspend: the device is Suspended; the next `avail` fails with ESTRPIPE.
    /// `resume` then answers EAGAIN `eagain` times, then succeeds if `resumable`, else
    /// fails with ENOSYS (the driver cannot resume: the loop must prepare).
    Suspend { eagain: u32, resumable: bool },
    /// The device is unplugged: Disconnected; the next `avail` fails with ENODEV.
    Unplug,
    /// The device falls back to the Setup state (e.g. its parameters were freed); the next
    /// `avail` fails with EBADFD.
    BadState,
    /// The next `wait` sees POLLERR with the device in this state and fails with the errno
    /// alsa-lib gives for it (EPIPE, ESTRPIPE, ENODEV; EIO while Running).
    PollErr(State),
    /// The next `wait` sees POLLHUP|POLLERR: the device is gone (Disconnected, ENODEV).
    PollHup,
    /// The next `waits` waits time out with the device still Running (it stopped
    /// consuming).
    Stall { waits: u32 },
    /// The next `wait` times out because the device silently went to this state.
    TimeoutIn(State),
    /// The next mmap area holds at most this many frames.
    ShortArea { frames: u32 },
    /// The next commit takes only this many of the frames written into the area.
    PartialCommit { frames: u32 },
    /// The next commit fails with this errno (after the area was filled).
    CommitError(i32),
    /// The next `prepare` fails with this errno.
    PrepareError(i32),
    /// The next `start` fails with this errno.
    StartError(i32),
}

/// What the device was asked to do, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Prepare,
    Start,
    /// `resume` with its result: `Ok(())` or the errno.
    Resume(Result<(), i32>),
    Drain,
    Stop,
    /// A scheduled fault took effect.
    Fault(Fault),
}

/// One entry of the event log: what happened, at which played period, and how many frames
/// had been committed by then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub period: u64,
    pub committed_frames: u64,
    pub call: Call,
}

/// Counts of what the loop asked of the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub waits: u64,
    /// Waits that returned `Ok(false)`.
    pub timeouts: u64,
    pub avails: u64,
    /// `write` calls (mmap areas offered).
    pub writes: u64,
    pub prepares: u64,
    pub starts: u64,
    pub resumes: u64,
    pub resume_pauses: u64,
    /// Underruns the fake saw on its own: a period was played with less than a period in
    /// the buffer (the loop fell behind). 0 for a loop that keeps the buffer full.
    pub natural_xruns: u64,
    /// [`PlaybackDevice::rest`] calls (the loop slept instead of spinning).
    pub rests: u64,
}

/// The scripted device. `R` is the sample type of its buffer (`i16`, `i32`, `f32`).
pub struct FakeDevice<R: Copy + Default + 'static> {
    channels: usize,
    period_frames: u64,
    buffer_frames: u64,
    state: State,
    /// Frames committed and not yet played.
    queued: u64,
    /// Frames committed since the start (the application pointer).
    appl: u64,
    played_periods: u64,
    area: Box<[R]>,
    record: Vec<R>,
    events: Vec<Event>,
    counts: Counts,
    script: Vec<(u64, Fault)>,
    next_fault: usize,
    // Armed faults, waiting for the call they act on.
    stall_waits: u32,
    wait_fault: Option<Fault>,
    short_area: Option<u32>,
    partial_commit: Option<u32>,
    commit_error: Option<i32>,
    prepare_error: Option<i32>,
    start_error: Option<i32>,
    resume_eagain: u32,
    resumable: bool,
    stop_after: Option<(u64, Arc<LoopControl>)>,
    hook: Option<Box<dyn FnMut(u64) + Send>>,
    drained: bool,
    stopped: bool,
    /// Plays what is committed at once, like alsa-lib's `null` PCM: the loop is never
    /// made to wait.
    unpaced: bool,
}

impl<R: Copy + Default + 'static> FakeDevice<R> {
    /// A device in the Prepared state with a buffer of `periods * period_frames` frames,
    /// recording up to `record_frames` committed frames (later ones are counted, not kept).
    /// Test thread.
    pub fn new(channels: usize, period_frames: u32, periods: u32, record_frames: usize) -> Self {
        let buffer_frames = period_frames as u64 * periods as u64;
        FakeDevice {
            channels,
            period_frames: period_frames as u64,
            buffer_frames,
            state: State::Prepared,
            queued: 0,
            appl: 0,
            played_periods: 0,
            area: vec![R::default(); buffer_frames as usize * channels].into_boxed_slice(),
            record: Vec::with_capacity(record_frames * channels),
            events: Vec::with_capacity(4096),
            counts: Counts::default(),
            script: Vec::new(),
            next_fault: 0,
            stall_waits: 0,
            wait_fault: None,
            short_area: None,
            partial_commit: None,
            commit_error: None,
            prepare_error: None,
            start_error: None,
            resume_eagain: 0,
            resumable: true,
            stop_after: None,
            hook: None,
            drained: false,
            stopped: false,
            unpaced: false,
        }
    }

    /// Schedules `fault` right after period `period` was played. Test thread.
    pub fn fault_at(mut self, period: u64, fault: Fault) -> Self {
        self.script.push((period, fault));
        self.script.sort_by_key(|&(p, _)| p);
        self
    }

    /// A device that plays what is committed at once and never makes the loop wait
    /// (alsa-lib's `null` or `file` PCM). Test thread.
    pub fn unpaced(mut self) -> Self {
        self.unpaced = true;
        self
    }

    /// Sets `control.stop` once `periods` periods were played, so the loop returns.
    pub fn stop_after(mut self, periods: u64, control: Arc<LoopControl>) -> Self {
        self.stop_after = Some((periods, control));
        self
    }

    /// Calls `hook(period)` after each played period, on the loop's thread (the test sends
    /// engine commands from it). It must not allocate when the loop runs under
    /// `assert_no_alloc`.
    pub fn on_period(mut self, hook: impl FnMut(u64) + Send + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// Every sample committed, in order (up to the capacity given to [`FakeDevice::new`]).
    pub fn recorded(&self) -> &[R] {
        &self.record
    }

    /// Frames committed in all.
    pub fn committed_frames(&self) -> u64 {
        self.appl
    }

    pub fn played_periods(&self) -> u64 {
        self.played_periods
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    pub fn current_state(&self) -> State {
        self.state
    }

    /// Whether the loop ended playback with a drain (`true`) or a drop (`stop`).
    pub fn drained(&self) -> bool {
        self.drained
    }

    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Faults of the script that never took effect (the loop ended first).
    pub fn faults_left(&self) -> usize {
        self.script.len() - self.next_fault
    }

    fn log(&mut self, call: Call) {
        if self.events.len() < self.events.capacity() {
            self.events.push(Event {
                period: self.played_periods,
                committed_frames: self.appl,
                call,
            });
        }
    }

    /// Applies the faults scheduled up to the current period.
    fn arm_faults(&mut self) {
        while let Some(&(p, fault)) = self.script.get(self.next_fault) {
            if p > self.played_periods {
                break;
            }
            self.next_fault += 1;
            self.log(Call::Fault(fault));
            match fault {
                Fault::Xrun => self.state = State::XRun,
                Fault::Suspend { eagain, resumable } => {
                    self.state = State::Suspended;
                    self.resume_eagain = eagain;
                    self.resumable = resumable;
                }
                Fault::Unplug => self.state = State::Disconnected,
                Fault::BadState => self.state = State::Setup,
                Fault::PollErr(_) | Fault::PollHup | Fault::TimeoutIn(_) => {
                    self.wait_fault = Some(fault)
                }
                Fault::Stall { waits } => self.stall_waits += waits,
                Fault::ShortArea { frames } => self.short_area = Some(frames),
                Fault::PartialCommit { frames } => self.partial_commit = Some(frames),
                Fault::CommitError(e) => self.commit_error = Some(e),
                Fault::PrepareError(e) => self.prepare_error = Some(e),
                Fault::StartError(e) => self.start_error = Some(e),
            }
        }
    }

    /// Plays one period out of the buffer.
    fn play_period(&mut self) {
        if self.queued < self.period_frames {
            self.counts.natural_xruns += 1;
            self.queued = 0;
            self.state = State::XRun;
        } else {
            self.queued -= self.period_frames;
        }
        self.played_periods += 1;
        if let Some(hook) = self.hook.as_mut() {
            hook(self.played_periods);
        }
        if let Some((n, control)) = &self.stop_after {
            if self.played_periods >= *n {
                control.stop.store(true, Relaxed);
            }
        }
        self.arm_faults();
    }

    fn err(func: &'static str, errno: i32) -> alsa::Error {
        alsa::Error::new(func, errno)
    }
}

impl<R: Copy + Default + 'static> PlaybackDevice for FakeDevice<R> {
    type Raw = R;

    fn avail(&mut self) -> alsa::Result<u64> {
        self.arm_faults();
        self.counts.avails += 1;
        match self.state {
            State::Prepared | State::Running | State::Draining => {
                Ok(self.buffer_frames - self.queued)
            }
            st => Err(Self::err(
                "snd_pcm_avail_update",
                state_errno(st).unwrap_or(libc::EBADFD),
            )),
        }
    }

    fn wait(&mut self, _timeout_ms: u32) -> alsa::Result<bool> {
        self.counts.waits += 1;
        if self.stall_waits > 0 {
            self.stall_waits -= 1;
            self.counts.timeouts += 1;
            return Ok(false);
        }
        match self.wait_fault.take() {
            Some(Fault::PollErr(state)) => {
                self.state = state;
                return Err(Self::err(
                    "snd_pcm_wait",
                    state_errno(state).unwrap_or(libc::EIO),
                ));
            }
            Some(Fault::PollHup) => {
                self.state = State::Disconnected;
                return Err(Self::err("snd_pcm_wait", libc::ENODEV));
            }
            Some(Fault::TimeoutIn(state)) => {
                self.state = state;
                self.counts.timeouts += 1;
                return Ok(false);
            }
            _ => {}
        }
        if self.state != State::Running {
            // Nothing is consumed, so no room ever comes: the wait runs into its timeout.
            self.counts.timeouts += 1;
            return Ok(false);
        }
        self.play_period();
        Ok(true)
    }

    fn state(&mut self) -> State {
        self.state
    }

    fn write(
        &mut self,
        frames: usize,
        fill: &mut dyn FnMut(&mut [R]) -> usize,
    ) -> alsa::Result<usize> {
        self.counts.writes += 1;
        if let Some(errno) = state_errno(self.state).filter(|_| self.state != State::Prepared) {
            return Err(Self::err("snd_pcm_mmap_begin", errno));
        }
        let ch = self.channels;
        let offset = (self.appl % self.buffer_frames) as usize;
        let contiguous = self.buffer_frames as usize - offset;
        let room = (self.buffer_frames - self.queued) as usize;
        let mut n = frames.min(room).min(contiguous);
        if let Some(short) = self.short_area.take() {
            n = n.min(short as usize);
        }
        if n == 0 {
            return Ok(0);
        }
        let area = &mut self.area[offset * ch..(offset + n) * ch];
        let filled = fill(area).min(n);
        if let Some(errno) = self.commit_error.take() {
            return Err(Self::err("snd_pcm_mmap_commit", errno));
        }
        let committed = self
            .partial_commit
            .take()
            .map_or(filled, |p| filled.min(p as usize));
        let keep = (self.record.capacity() - self.record.len()).min(committed * ch);
        self.record
            .extend_from_slice(&self.area[offset * ch..offset * ch + keep]);
        self.appl += committed as u64;
        self.queued += committed as u64;
        if self.unpaced && self.state == State::Running {
            while self.queued >= self.period_frames {
                self.play_period();
            }
        }
        Ok(committed)
    }

    fn prepare(&mut self) -> alsa::Result<()> {
        self.counts.prepares += 1;
        self.log(Call::Prepare);
        if let Some(errno) = self.prepare_error.take() {
            return Err(Self::err("snd_pcm_prepare", errno));
        }
        if self.state == State::Disconnected {
            return Err(Self::err("snd_pcm_prepare", libc::ENODEV));
        }
        self.state = State::Prepared;
        self.queued = 0;
        Ok(())
    }

    fn start(&mut self) -> alsa::Result<()> {
        self.counts.starts += 1;
        self.log(Call::Start);
        if let Some(errno) = self.start_error.take() {
            return Err(Self::err("snd_pcm_start", errno));
        }
        if self.state != State::Prepared {
            return Err(Self::err("snd_pcm_start", libc::EBADFD));
        }
        self.state = State::Running;
        Ok(())
    }

    fn resume(&mut self) -> alsa::Result<()> {
        self.counts.resumes += 1;
        let result = if self.state != State::Suspended {
            Err(libc::EBADFD)
        } else if self.resume_eagain > 0 {
            self.resume_eagain -= 1;
            Err(libc::EAGAIN)
        } else if self.resumable {
            self.state = State::Running;
            Ok(())
        } else {
            Err(libc::ENOSYS)
        };
        self.log(Call::Resume(result));
        result.map_err(|e| Self::err("snd_pcm_resume", e))
    }

    fn rest(&mut self, _ms: u32) {
        self.counts.rests += 1;
        // Full speed, but let a thread the test runs beside the loop (a loader) go on.
        std::thread::yield_now();
    }

    fn pause_before_resume(&mut self) {
        self.counts.resume_pauses += 1;
    }

    fn drain(&mut self) {
        self.log(Call::Drain);
        self.drained = true;
        self.queued = 0;
        self.state = State::Setup;
    }

    fn stop(&mut self) {
        self.log(Call::Stop);
        self.stopped = true;
        self.queued = 0;
        self.state = State::Setup;
    }
}
