//! Every arm of the audio loop, driven through the scripted [`FakeDevice`]: what the loop
//! asks of the device (prepare, start, resume, drain), what it counts, what ends up in the
//! device buffer (silence prefill, the song without gaps or repeats), and whether playback
//! goes on or stops.
//!
//! The song is a ramp: frame `i` is `(i + 1) / 32768` on the left and its negative on the
//! right, so on an S16 device the recorded left sample of song frame `i` is `i + 1` and any
//! skipped, repeated or silent frame shows.

use super::*;
use crate::model::song::{Song, Stem};
use crate::rt::engine::EngineHandle;
use crate::rt::fake::{Call, Counts, FakeDevice, Fault};

const PERIOD: u32 = 64;
const PERIODS: u32 = 3;
const BUFFER: usize = (PERIOD * PERIODS) as usize;
const RATE: u32 = 48_000;

fn params() -> LoopParams {
    LoopParams {
        channels: 2,
        period_frames: PERIOD as u64,
        buffer_frames: BUFFER as u64,
        rate: RATE,
    }
}

fn ramp_song(frames: usize) -> Arc<Song> {
    let samples = (0..frames)
        .flat_map(|i| {
            let v = (i + 1) as f32 / 32_768.0;
            [v, -v]
        })
        .collect();
    Arc::new(Song::new("ramp", RATE, vec![Stem::new("ramp", samples)]))
}

/// Counts the observer hooks.
#[derive(Default)]
struct Counting {
    wakes: u64,
    commits: u64,
    recovery_begins: u64,
    recovery_ends: u64,
}

impl LoopObserver for Counting {
    fn wake(&mut self, _avail_frames: u64) {
        self.wakes += 1;
    }
    fn committed(&mut self) {
        self.commits += 1;
    }
    fn recovery_begin(&mut self) {
        self.recovery_begins += 1;
    }
    fn recovery_end(&mut self) {
        self.recovery_ends += 1;
    }
}

struct Outcome {
    result: alsa::Result<()>,
    device: FakeDevice<i16>,
    status: Arc<EngineStatus>,
    observer: Counting,
    _handle: EngineHandle,
}

impl Outcome {
    fn errno(&self) -> Option<i32> {
        self.result.as_ref().err().map(|e| e.errno())
    }

    fn counts(&self) -> Counts {
        self.device.counts()
    }

    fn xruns(&self) -> u32 {
        self.status.xruns.load(Relaxed)
    }

    fn suspends(&self) -> u32 {
        self.status.suspends.load(Relaxed)
    }

    /// The left channel of every recorded frame (the ramp value, 0 for silence).
    fn left(&self) -> Vec<i16> {
        self.device.recorded().iter().step_by(2).copied().collect()
    }

    /// Frames committed when the first `call` happened.
    fn frame_of(&self, call: Call) -> usize {
        self.device
            .events()
            .iter()
            .find(|e| e.call == call)
            .unwrap_or_else(|| panic!("no {call:?} in {:?}", self.device.events()))
            .committed_frames as usize
    }
}

/// Runs the real loop ([`run_device`]) on a fake S16 device with `faults` until `periods`
/// periods were played (or the loop ends by itself).
fn run(faults: &[(u64, Fault)], periods: u64) -> Outcome {
    run_song(faults, periods, 1_000_000, false)
}

fn run_song(faults: &[(u64, Fault)], periods: u64, song_frames: usize, once: bool) -> Outcome {
    let control = Arc::new(LoopControl::default());
    control.stop_at_song_end.store(once, Relaxed);
    let mut device =
        FakeDevice::<i16>::new(2, PERIOD, PERIODS, 1 << 16).stop_after(periods, control.clone());
    for &(p, f) in faults {
        device = device.fault_at(p, f);
    }
    play_on(device, &control, song_frames)
}

/// Plays a song of `song_frames` on `device` through the real loop until `control` stops it.
fn play_on(mut device: FakeDevice<i16>, control: &LoopControl, song_frames: usize) -> Outcome {
    let (mut engine, mut handle) = Engine::new(RATE, 2, 1.0);
    assert!(handle.switch_song(ramp_song(song_frames), 0, true));
    let mut observer = Counting::default();
    let result =
        run_device::<S16Le, _, _>(&mut device, params(), &mut engine, &mut observer, control);
    Outcome {
        result,
        device,
        status: engine.status().clone(),
        observer,
        _handle: handle,
    }
}

/// The recorded left channel is the ramp from `first` on, for `n` frames, with no gap.
fn assert_ramp(left: &[i16], at: usize, first: i16, n: usize) {
    for (k, &v) in left[at..at + n].iter().enumerate() {
        assert_eq!(v, first + k as i16, "frame {} of the record", at + k);
    }
}

/// Frames of the transport fade-in after a recovery ([`FADE_MS`](crate::rt::FADE_MS)).
fn fade_frames() -> usize {
    crate::rt::ramp::ms_to_frames(crate::rt::FADE_MS, RATE) as usize
}

/// After a gap the ramp comes back faded in: frame `k` of the fade is the ramp value times
/// the fade's gain `(k + 1) / fade` (within one LSB of rounding), starting near silence
/// rather than at full level; from then on it is the plain ramp, bit-exact.
fn assert_faded_in_ramp(left: &[i16], at: usize, first: i16, n: usize) {
    let fade = fade_frames();
    assert!(n > fade, "the record must outlast the fade");
    for k in 0..fade {
        let full = (first as i32 + k as i32) as f32;
        let want = full * (k + 1) as f32 / fade as f32;
        let got = left[at + k] as f32;
        assert!(
            (got - want).abs() <= 1.0,
            "fade frame {k}: got {got}, want {want} (full {full})"
        );
    }
    assert!(
        (left[at] as i32).abs() <= (first as i32 / fade as i32) + 1,
        "the first frame after the gap starts near silence: {}",
        left[at]
    );
    assert_ramp(left, at + fade, first + fade as i16, n - fade);
}

fn assert_silence(left: &[i16], at: usize, n: usize) {
    assert!(
        left[at..at + n].iter().all(|&v| v == 0),
        "frames {at}..{} are not silent: {:?}",
        at + n,
        &left[at..at + n]
    );
}

/// After the prefill the device holds the whole song in order.
fn assert_clean_playback(o: &Outcome) {
    let left = o.left();
    assert_silence(&left, 0, BUFFER);
    assert_ramp(&left, BUFFER, 1, left.len() - BUFFER);
}

#[test]
fn clean_run_prefills_silence_starts_once_and_plays_the_song_in_order() {
    let o = run(&[], 100);
    assert!(o.result.is_ok(), "{:?}", o.result);
    let c = o.counts();
    assert_eq!((c.prepares, c.starts, c.resumes), (0, 1, 0));
    assert_eq!(c.natural_xruns, 0, "the loop keeps the buffer full");
    assert_eq!(o.device.played_periods(), 100);
    // The prefill, then one period per played period but the last (the loop stops first).
    assert_eq!(
        o.device.committed_frames(),
        (BUFFER + 99 * PERIOD as usize) as u64
    );
    assert_clean_playback(&o);
    assert_eq!(o.observer.wakes, 99);
    assert_eq!(o.observer.commits, 99);
    assert_eq!(o.observer.recovery_begins, 0);
    assert_eq!(o.xruns(), 0);
    assert!(
        o.device.stopped() && !o.device.drained(),
        "stop drops the buffer"
    );
}

/// xrun recovery: count it, prepare, prefill a buffer of silence, start, and play on from
/// where the engine was.
fn assert_xrun_recovered(o: &Outcome, at_frame: usize, lost_frames: usize) {
    assert!(o.result.is_ok(), "{:?}", o.result);
    assert_eq!(o.xruns(), 1);
    let c = o.counts();
    assert_eq!((c.prepares, c.starts), (1, 2));
    assert_eq!(o.observer.recovery_begins, 1);
    assert_eq!(o.observer.recovery_ends, 1);
    assert_eq!(o.device.played_periods(), 60, "playback goes on to the end");
    let left = o.left();
    let last = left[at_frame - 1];
    assert_ramp(&left, BUFFER, 1, at_frame - BUFFER);
    assert_silence(&left, at_frame, BUFFER);
    let after = at_frame + BUFFER;
    assert_faded_in_ramp(
        &left,
        after,
        last + 1 + lost_frames as i16,
        left.len() - after,
    );
}

#[test]
fn xrun_seen_by_avail_is_counted_and_recovered_with_a_silence_prefill() {
    let o = run(&[(10, Fault::Xrun)], 60);
    let at = o.frame_of(Call::Prepare);
    assert_eq!(at, BUFFER + 9 * PERIOD as usize);
    assert_xrun_recovered(&o, at, 0);
}

#[test]
fn after_an_xrun_the_output_fades_back_in_from_silence_and_a_clean_run_is_untouched() {
    // The ramp song's first frames after the gap are far below the song's level and rise
    // every frame; the clean run (same song, no fault) is the song itself, bit-exact.
    let o = run(&[(10, Fault::Xrun)], 60);
    let at = o.frame_of(Call::Prepare) + BUFFER;
    let left = o.left();
    let full = left[at - BUFFER - 1] + 1;
    assert!(left[at] < full / 100, "{} vs {full}", left[at]);
    assert!(left[at..at + fade_frames()]
        .windows(2)
        .all(|w| w[1] >= w[0]));
    assert_eq!(left[at + fade_frames()], full + fade_frames() as i16);
    assert_clean_playback(&run(&[], 60));
}

#[test]
fn pollerr_in_xrun_fails_the_wait_with_epipe_and_is_recovered() {
    let o = run(&[(10, Fault::PollErr(State::XRun))], 60);
    assert_xrun_recovered(&o, o.frame_of(Call::Prepare), 0);
}

#[test]
fn wait_timeout_in_xrun_prepared_or_paused_state_is_recovered_as_an_xrun() {
    for state in [State::XRun, State::Prepared, State::Paused] {
        let o = run(&[(10, Fault::TimeoutIn(state))], 60);
        assert_eq!(o.counts().timeouts, 1, "{state:?}");
        assert_xrun_recovered(&o, o.frame_of(Call::Prepare), 0);
    }
}

#[test]
fn failed_commit_with_epipe_abandons_the_period_and_recovers() {
    let o = run(&[(10, Fault::CommitError(libc::EPIPE))], 60);
    // The engine mixed the period that never reached the device: the song goes on after it.
    assert_xrun_recovered(&o, o.frame_of(Call::Prepare), PERIOD as usize);
}

#[test]
fn suspend_resumes_after_eagain_without_prepare_or_prefill() {
    let o = run(
        &[(
            10,
            Fault::Suspend {
                eagain: 3,
                resumable: true,
            },
        )],
        60,
    );
    assert!(o.result.is_ok(), "{:?}", o.result);
    assert_eq!((o.suspends(), o.xruns()), (1, 0));
    let c = o.counts();
    assert_eq!((c.resumes, c.resume_pauses), (4, 3));
    assert_eq!((c.prepares, c.starts), (0, 1), "a resumed device runs on");
    assert_eq!(o.observer.recovery_ends, 1);
    assert_eq!(o.device.played_periods(), 60);
    assert_clean_playback(&o);
}

/// A suspend the driver cannot resume from: prepare, prefill, start.
fn assert_suspend_restarted(o: &Outcome, resumes: u64) {
    assert!(o.result.is_ok(), "{:?}", o.result);
    assert_eq!((o.suspends(), o.xruns()), (1, 0));
    let c = o.counts();
    assert_eq!(c.resumes, resumes);
    assert_eq!((c.prepares, c.starts), (1, 2));
    assert_eq!(o.device.played_periods(), 60);
    let at = o.frame_of(Call::Prepare);
    let left = o.left();
    assert_silence(&left, at, BUFFER);
    assert_faded_in_ramp(
        &left,
        at + BUFFER,
        left[at - 1] + 1,
        left.len() - at - BUFFER,
    );
}

#[test]
fn suspend_without_resume_support_prepares_and_starts_over() {
    let o = run(
        &[(
            10,
            Fault::Suspend {
                eagain: 0,
                resumable: false,
            },
        )],
        60,
    );
    assert_suspend_restarted(&o, 1);
    assert!(o
        .device
        .events()
        .iter()
        .any(|e| e.call == Call::Resume(Err(libc::ENOSYS))));
}

#[test]
fn suspend_that_stays_eagain_gives_up_after_resume_tries_and_prepares() {
    let o = run(
        &[(
            10,
            Fault::Suspend {
                eagain: 10_000,
                resumable: true,
            },
        )],
        60,
    );
    assert_eq!(o.counts().resume_pauses, RESUME_TRIES as u64);
    assert_suspend_restarted(&o, RESUME_TRIES as u64 + 1);
}

#[test]
fn suspend_seen_by_pollerr_or_a_wait_timeout_resumes() {
    for fault in [
        Fault::PollErr(State::Suspended),
        Fault::TimeoutIn(State::Suspended),
    ] {
        // The fake resumes at once unless a Suspend fault said otherwise.
        let o = run(&[(10, fault)], 60);
        assert!(o.result.is_ok(), "{fault:?}: {:?}", o.result);
        assert_eq!(o.suspends(), 1, "{fault:?}");
        assert_eq!(o.counts().resumes, 1, "{fault:?}");
        assert_eq!(o.counts().prepares, 0, "{fault:?}");
        assert_eq!(o.device.played_periods(), 60, "{fault:?}");
        assert_clean_playback(&o);
    }
}

/// A device error the loop cannot recover from ends playback at once, with that errno,
/// and drops the buffer.
fn assert_fatal(o: &Outcome, errno: i32, at_period: u64) {
    assert_eq!(o.errno(), Some(errno), "{:?}", o.result);
    assert_eq!(o.device.played_periods(), at_period, "playback stops");
    assert_eq!((o.xruns(), o.suspends()), (0, 0));
    assert_eq!(o.counts().prepares, 0, "no recovery attempted");
    assert!(o.device.stopped() && !o.device.drained());
    assert_eq!(o.observer.recovery_ends, 0);
    assert_clean_playback(o);
}

#[test]
fn unplugged_device_is_fatal_with_enodev() {
    for fault in [
        Fault::Unplug,
        Fault::PollHup,
        Fault::PollErr(State::Disconnected),
        Fault::TimeoutIn(State::Disconnected),
    ] {
        let o = run(&[(10, fault)], 60);
        assert_fatal(&o, libc::ENODEV, 10);
    }
}

#[test]
fn device_in_a_state_without_way_back_is_fatal_with_ebadfd() {
    assert_fatal(&run(&[(10, Fault::BadState)], 60), libc::EBADFD, 10);
    assert_fatal(
        &run(&[(10, Fault::TimeoutIn(State::Setup))], 60),
        libc::EBADFD,
        10,
    );
}

#[test]
fn pollerr_on_a_running_device_is_fatal_with_eio() {
    assert_fatal(
        &run(&[(10, Fault::PollErr(State::Running))], 60),
        libc::EIO,
        10,
    );
}

#[test]
fn failed_commit_with_another_errno_is_fatal() {
    assert_fatal(
        &run(&[(10, Fault::CommitError(libc::EIO))], 60),
        libc::EIO,
        10,
    );
}

#[test]
fn short_stall_is_waited_out_without_recovery() {
    let o = run(&[(10, Fault::Stall { waits: 100 })], 60);
    assert!(o.result.is_ok(), "{:?}", o.result);
    assert_eq!(o.counts().timeouts, 100);
    assert_eq!((o.xruns(), o.counts().prepares), (0, 0));
    assert_eq!(o.device.played_periods(), 60);
    assert_clean_playback(&o);
}

#[test]
fn stall_longer_than_the_limit_is_fatal_with_etimedout() {
    let o = run(&[(10, Fault::Stall { waits: 100_000 })], 60);
    assert_eq!(o.errno(), Some(libc::ETIMEDOUT), "{:?}", o.result);
    let limit = STALL_LIMIT_MS / params().wait_timeout_ms() + 1;
    assert_eq!(o.counts().timeouts, limit);
    assert_eq!(o.device.played_periods(), 10);
    assert!(o.device.stopped());
}

#[test]
fn short_mmap_area_splits_the_period_without_changing_the_output() {
    let reference = run(&[], 60);
    let o = run(&[(10, Fault::ShortArea { frames: 10 })], 60);
    assert!(o.result.is_ok(), "{:?}", o.result);
    assert_eq!(o.counts().writes, reference.counts().writes + 1);
    assert_eq!(o.counts().natural_xruns, 0);
    assert_eq!(o.device.recorded(), reference.device.recorded());
    // The same in the silence prefill before the first start.
    let o = run(&[(0, Fault::ShortArea { frames: 40 })], 60);
    assert_eq!(o.device.recorded(), reference.device.recorded());
}

#[test]
fn empty_mmap_area_ends_the_period_and_the_loop_catches_up() {
    let reference = run(&[], 60);
    let o = run(&[(10, Fault::ShortArea { frames: 0 })], 60);
    assert!(o.result.is_ok(), "{:?}", o.result);
    assert_eq!(o.counts().natural_xruns, 0);
    assert_eq!(o.observer.commits, reference.observer.commits + 1);
    assert_eq!(o.device.recorded(), reference.device.recorded());
}

#[test]
fn partial_commit_fills_the_rest_of_the_period_from_the_next_mix() {
    let reference = run(&[], 60);
    let o = run(&[(10, Fault::PartialCommit { frames: 20 })], 60);
    assert!(o.result.is_ok(), "{:?}", o.result);
    assert_eq!(o.counts().natural_xruns, 0);
    assert_eq!(
        o.device.committed_frames(),
        reference.device.committed_frames()
    );
    // What the device did not take of the mixed area is not mixed again: the song skips
    // those 44 frames and the period is filled from the next mix.
    let at = o.frame_of(Call::Fault(Fault::PartialCommit { frames: 20 }));
    let left = o.left();
    let want = reference.left();
    assert_eq!(left[..at + 20], want[..at + 20]);
    assert_eq!(left.len(), want.len());
    assert_eq!(left[at + 20..want.len() - 44], want[at + 64..]);
}

#[test]
fn failed_prepare_or_start_during_recovery_is_fatal() {
    let o = run(
        &[(10, Fault::Xrun), (10, Fault::PrepareError(libc::EIO))],
        60,
    );
    assert_eq!(o.errno(), Some(libc::EIO));
    assert_eq!(o.xruns(), 1);
    assert_eq!(o.device.played_periods(), 10);
    assert_eq!(o.observer.recovery_ends, 0);
    let o = run(
        &[(10, Fault::Xrun), (10, Fault::StartError(libc::EBADFD))],
        60,
    );
    assert_eq!(o.errno(), Some(libc::EBADFD));
    assert_eq!(o.counts().prepares, 1);
}

#[test]
fn failed_first_start_is_fatal() {
    let o = run(&[(0, Fault::StartError(libc::EIO))], 60);
    assert_eq!(o.errno(), Some(libc::EIO));
    assert_eq!(o.device.played_periods(), 0);
    assert_eq!(o.device.committed_frames(), BUFFER as u64, "the prefill");
}

#[test]
fn several_faults_in_one_run_are_each_recovered() {
    let o = run(
        &[
            (5, Fault::Xrun),
            (12, Fault::ShortArea { frames: 7 }),
            (
                20,
                Fault::Suspend {
                    eagain: 2,
                    resumable: false,
                },
            ),
            (30, Fault::PollErr(State::XRun)),
            (40, Fault::Stall { waits: 5 }),
            (50, Fault::TimeoutIn(State::XRun)),
        ],
        80,
    );
    assert!(o.result.is_ok(), "{:?}", o.result);
    assert_eq!((o.xruns(), o.suspends()), (3, 1));
    assert_eq!(o.counts().prepares, 4);
    assert_eq!(o.counts().starts, 5);
    assert_eq!(o.observer.recovery_begins, 4);
    assert_eq!(o.observer.recovery_ends, 4);
    assert_eq!(o.device.played_periods(), 80);
    assert_eq!(o.device.faults_left(), 0);
}

#[test]
fn once_mode_stops_at_the_song_end_and_drains() {
    // 2000 frames: the song ends inside period 32 of the mix.
    let o = run_song(&[], 1_000, 2_000, true);
    assert!(o.result.is_ok(), "{:?}", o.result);
    assert!(
        o.device.drained() && !o.device.stopped(),
        "the buffer plays out"
    );
    assert_eq!(o.status.songs_ended.load(Relaxed), 1);
    let left = o.left();
    assert_silence(&left, 0, BUFFER);
    assert_ramp(&left, BUFFER, 1, 2_000);
    assert!(o.device.played_periods() < 40);
}

#[test]
fn a_device_error_in_once_mode_drops_instead_of_draining() {
    let o = run_song(&[(5, Fault::Unplug)], 1_000, 100_000, true);
    assert_eq!(o.errno(), Some(libc::ENODEV));
    assert!(o.device.stopped() && !o.device.drained());
}

#[test]
fn loop_params_wait_timeout_is_two_buffers_at_least_20_ms() {
    assert_eq!(params().wait_timeout_ms(), 20);
    let big = LoopParams {
        buffer_frames: 4_800,
        ..params()
    };
    assert_eq!(big.wait_timeout_ms(), 200);
}

/// The signals blocked on a thread, from its `/proc` status file (`SigBlk`, hex).
fn sigblk_of(status_path: &str) -> u64 {
    let status = std::fs::read_to_string(status_path).unwrap();
    let line = status.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
    u64::from_str_radix(line["SigBlk:".len()..].trim(), 16).unwrap()
}

#[test]
fn the_spawned_audio_thread_blocks_every_signal() {
    use crate::rt::alsa_pcm::{open_output, OutputRequest};
    let (pcm, granted) = open_output(&OutputRequest {
        device: "null",
        rate: RATE,
        channels: 2,
        format: SampleFormat::S16Le,
        period_frames: 256,
        periods: 2,
    })
    .unwrap();
    let (engine, mut handle) = Engine::new(granted.rate, 2, 1.0);
    assert!(handle.switch_song(ramp_song(48_000), 0, true));
    let audio = spawn_audio_thread(pcm, granted, engine, NoObserver, 1, None, false).unwrap();
    let audio_tid = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|tid| {
            std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
                .is_ok_and(|c| c.trim() == "stembox-audio")
        })
        .expect("the audio thread");
    let blocked = sigblk_of(&format!("/proc/self/task/{audio_tid}/status"));
    let exit = audio.stop().expect("joined");
    assert!(exit.result.is_ok(), "{:?}", exit.result);
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGPIPE,
    ] {
        assert!(
            blocked & (1 << (sig - 1)) != 0,
            "signal {sig}: SigBlk {blocked:x}"
        );
    }
    assert_eq!(
        sigblk_of("/proc/thread-self/status") & (1 << (libc::SIGTERM - 1)),
        0,
        "only the audio thread"
    );
}

/// Runs the loop on an unpaced fake (it plays whatever is committed at once, like the
/// `null` PCM) for `periods` periods with a song of `song_frames`.
fn run_unpaced(periods: u64, song_frames: usize) -> Outcome {
    let control = Arc::new(LoopControl::default());
    let device = FakeDevice::<i16>::new(2, PERIOD, PERIODS, 1 << 16)
        .unpaced()
        .stop_after(periods, control.clone());
    play_on(device, &control, song_frames)
}

#[test]
fn an_unpaced_device_with_nothing_to_play_rests_every_period_instead_of_spinning() {
    // 2000 frames: the song ends inside period 32 of the mix; then 968 idle periods.
    let o = run_unpaced(1_000, 2_000);
    assert!(o.result.is_ok(), "{:?}", o.result);
    assert_eq!(o.status.songs_ended.load(Relaxed), 1);
    // Only the prefilled buffer, before the device started, had to be waited for.
    assert!(o.device.counts().waits <= 1, "{:?}", o.device.counts());
    let rests = o.device.counts().rests;
    // Every idle period rests but the first few (needed to tell it is unpaced), and none
    // rests while the song plays.
    assert!(
        (900..=1_000 - 32).contains(&rests),
        "{rests} rests in 1000 periods"
    );
    // Resting never cost a sample of the song.
    assert_ramp(&o.left(), BUFFER, 1, 2_000);
}

#[test]
fn an_unpaced_device_does_not_rest_while_a_song_plays() {
    let o = run_unpaced(1_000, 1_000_000);
    assert!(o.result.is_ok(), "{:?}", o.result);
    assert_eq!(o.device.counts().rests, 0);
    assert_ramp(&o.left(), BUFFER, 1, 10_000);
}

#[test]
fn a_paced_device_never_rests_even_when_idle() {
    // A paced device (card, jack) makes the loop wait every period: resting there would
    // only risk an underrun.
    let o = run_song(&[], 1_000, 2_000, false);
    assert!(o.result.is_ok(), "{:?}", o.result);
    assert_eq!(o.status.songs_ended.load(Relaxed), 1);
    assert_eq!(o.device.counts().rests, 0);
    // Also after an xrun refilled the whole buffer at once (a burst of writes, not
    // an unpaced device).
    let o = run_song(&[(100, Fault::Xrun)], 1_000, 2_000, false);
    assert_eq!(o.xruns(), 1);
    assert_eq!(o.device.counts().rests, 0);
}
/// The MIDI clock's sample: published after every period only while the midi thread
/// asks for it, with the period's size, the frames still queued ahead of it and the
/// song position after it.
#[test]
fn audio_clock_is_published_only_when_wanted() {
    for wanted in [false, true] {
        let control = Arc::new(LoopControl::default());
        let mut device =
            FakeDevice::<i16>::new(2, PERIOD, PERIODS, 1 << 16).stop_after(50, control.clone());
        let (mut engine, mut handle) = Engine::new(RATE, 2, 1.0);
        assert!(handle.switch_song(ramp_song(1_000_000), 0, true));
        engine.status().clock_wanted.store(wanted, Relaxed);
        let before = crate::rt::monitor::now_ns();
        let result = run_device::<S16Le, _, _>(
            &mut device,
            params(),
            &mut engine,
            &mut NoObserver,
            &control,
        );
        assert!(result.is_ok());
        let status = engine.status();
        let sample = status.audio_clock.read();
        if !wanted {
            assert_eq!(sample, None, "no clock reads unless asked");
            continue;
        }
        let s = sample.expect("published");
        assert_eq!(s.period, 49, "one sample per period written");
        assert_eq!(s.frames, PERIOD);
        assert_eq!(
            s.delay_frames,
            BUFFER as u32 - PERIOD,
            "the buffer minus avail"
        );
        assert_eq!(s.song_pos, status.pos_frames.load(Relaxed));
        assert_eq!(s.transport, crate::rt::status::Transport::Playing as u8);
        assert_eq!((s.rate, s.speed_pct_x100), (RATE, 10_000));
        assert!(s.wake_ns >= before && s.wake_ns <= crate::rt::monitor::now_ns());
    }
}

/// When the loader of [`run_loading`] goes on: counters that only grow, so that a busy
/// machine descheduling the loader cannot make it miss the moment.
#[derive(Clone, Copy)]
enum LoaderStart {
    /// Once the song position reached this (it cannot pass the watermark unless the loop
    /// plays on without the loader: then the test fails on its output).
    AtPos(u64),
    /// Once this many load underruns were counted, or the song ended.
    AfterUnderruns(u64),
}

/// Plays a song of `frames` that is still loading: 2000 frames are decoded at the start
/// (the loader's playable lead), and a loader thread decodes the rest (the ramp) in
/// pieces once `start` says so. Once mode: the loop ends at the song's end. Returns the
/// outcome with the loader joined.
fn run_loading(unpaced: bool, frames: usize, start: LoaderStart) -> Outcome {
    let control = Arc::new(LoopControl::default());
    control.stop_at_song_end.store(true, Relaxed);
    let mut device =
        FakeDevice::<i16>::new(2, PERIOD, PERIODS, 1 << 17).stop_after(100_000, control.clone());
    if unpaced {
        device = device.unpaced();
    }
    let song = Arc::new(Song::new(
        "loading",
        RATE,
        vec![Stem::loading("ramp", 2, frames)],
    ));
    let ramp: Vec<f32> = (0..frames)
        .flat_map(|i| {
            let v = (i + 1) as f32 / 32_768.0;
            [v, -v]
        })
        .collect();
    let (mut engine, mut handle) = Engine::new(RATE, 2, 1.0);
    let status = engine.status().clone();
    let loader = {
        let song = song.clone();
        let status = status.clone();
        std::thread::spawn(move || {
            let mut w = song.stems()[0].audio().writer().unwrap();
            w.append(&ramp[..2_000 * 2]);
            loop {
                let go = match start {
                    LoaderStart::AtPos(p) => status.pos_frames.load(Relaxed) >= p,
                    LoaderStart::AfterUnderruns(n) => {
                        status.load_underruns.load(Relaxed) >= n
                            || status.songs_ended.load(Relaxed) > 0
                    }
                };
                if go {
                    break;
                }
                std::thread::yield_now();
            }
            for chunk in ramp[2_000 * 2..].chunks(2 * 997) {
                std::thread::sleep(std::time::Duration::from_micros(50));
                w.append(chunk);
            }
        })
    };
    while song.ready_frames() < 2_000 {
        std::thread::yield_now();
    }
    assert!(handle.switch_song(song, 0, true));
    let mut observer = Counting::default();
    let result =
        run_device::<S16Le, _, _>(&mut device, params(), &mut engine, &mut observer, &control);
    loader.join().unwrap();
    Outcome {
        result,
        device,
        status,
        observer,
        _handle: handle,
    }
}

/// `play --once` on an unpaced device (`file`/`null` PCM) with a song still loading: the
/// loop rests until the loader has caught up (the engine itself never waits), so the
/// render is the song bit for bit and no load underrun happens.
#[test]
fn an_unpaced_device_rests_for_the_loader_and_renders_the_song_exactly() {
    let frames = 30_000;
    // The loader goes on only once playback is near its watermark: the loop must rest.
    let o = run_loading(true, frames, LoaderStart::AtPos(1_500));
    assert!(o.result.is_ok(), "{:?}", o.result);
    assert_eq!(o.status.songs_ended.load(Relaxed), 1);
    assert_eq!(o.status.load_underruns.load(Relaxed), 0);
    assert!(o.device.counts().rests > 0, "{:?}", o.device.counts());
    assert_ramp(&o.left(), BUFFER, 1, frames);
    assert!(o.device.drained());
}

/// The same on a paced device (card, jack): the loop never rests, the engine plays on
/// into the undecoded part as silence and counts the periods as load underruns.
#[test]
fn a_paced_device_never_rests_for_the_loader_and_counts_load_underruns() {
    let frames = 30_000;
    let o = run_loading(false, frames, LoaderStart::AfterUnderruns(100));
    assert!(o.result.is_ok(), "{:?}", o.result);
    assert_eq!(o.status.songs_ended.load(Relaxed), 1);
    assert_eq!(o.device.counts().rests, 0);
    let underruns = o.status.load_underruns.load(Relaxed);
    // At least the periods before the loader went on.
    assert!(underruns >= 100, "{underruns}");
    let left = o.left();
    // Exact up to the load fade before the watermark, silence after it.
    assert_ramp(&left, BUFFER, 1, 1_700);
    assert_silence(&left, BUFFER + 2_000, 99 * PERIOD as usize);
}
