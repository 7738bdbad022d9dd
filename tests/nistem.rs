//! NI Stems (`.stem.mp4`) end to end: ffmpeg muxes five generated stereo tones (a master and
//! four stems, each at its own frequency so each track is recognisable) into one MP4, the
//! test writes NI's `stem` manifest box into `moov/udta` itself, and stembox's loader
//! decodes it into named stems that are compared with what went in: sample-exact for ALAC
//! (lossless), by level and frequency for AAC. Plain `.m4a` stems and `check` too.
//! Skips with a message only when ffmpeg is missing (scripts/test installs it).

mod common;

use common::{run, temp_dir, text, write_config};
use std::path::{Path, PathBuf};
use std::process::Command;
use stembox::loader;
use stembox::loader::nistem;
use stembox::model::library;

const RATE: u32 = 44_100;
const SECONDS: f64 = 1.5;
/// Master, drums, bass, keys, vocals: one tone each (Hz), left; right is an octave up.
const TONES: [f64; 5] = [220.0, 330.0, 440.0, 550.0, 660.0];
const AMP: f64 = 0.25;
const MANIFEST: &str = r##"{"version":1,"mastering_dsp":{"compressor":{"enabled":false},"limiter":{"enabled":false}},"stems":[{"color":"#009E73","name":"Drums"},{"color":"#D55E00","name":"Bass"},{"color":"#CC79A7","name":"Keys"},{"color":"#56B4E9","name":"Vox"}]}"##;

fn have_ffmpeg() -> bool {
    let ok = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: ffmpeg is not installed (scripts/test installs it with apt)");
    }
    ok
}

fn tone(track: usize, i: usize, channel: usize) -> f64 {
    let f = TONES[track] * (1 + channel) as f64;
    AMP * (i as f64 * f * std::f64::consts::TAU / RATE as f64).sin()
}

fn frames() -> usize {
    (RATE as f64 * SECONDS) as usize
}

/// Writes track `t`'s tone as a 16-bit stereo WAV (so ALAC round-trips it exactly).
fn write_wav(path: &Path, t: usize) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames() {
        for c in 0..2 {
            w.write_sample((tone(t, i, c) * 32768.0).round() as i16)
                .unwrap();
        }
    }
    w.finalize().unwrap();
}

/// The value the WAV holds for track `t`, frame `i`, channel `c`, as the decoder gives it.
fn wav_value(t: usize, i: usize, c: usize) -> f32 {
    ((tone(t, i, c) * 32768.0).round() / 32768.0) as f32
}

/// ffmpeg: five WAVs into one MP4 with five audio tracks (moov after mdat: ffmpeg's
/// default, so growing moov moves no chunk offset).
fn mux(dir: &Path, out: &Path, codec: &[&str]) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y"]);
    for t in 0..5 {
        let wav = dir.join(format!("t{t}.wav"));
        write_wav(&wav, t);
        cmd.arg("-i").arg(&wav);
    }
    for t in 0..5 {
        cmd.args(["-map", &format!("{t}:a")]);
    }
    cmd.args(codec).args(["-f", "mp4"]).arg(out);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "ffmpeg: {}", text(&o.stderr));
}

fn be32(b: &[u8]) -> usize {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
}

/// Puts a `stem` box holding `json` into `moov/udta` (made if missing), rewriting the sizes
/// of `udta` and `moov`. moov must be the last top-level box, so no offset moves.
fn add_stem_box(path: &Path, json: &[u8]) {
    let mut f = std::fs::read(path).unwrap();
    let mut at = 0;
    let moov_at = loop {
        let size = be32(&f[at..]);
        assert!(
            size >= 8,
            "64-bit or open-ended top-level box: not expected from ffmpeg"
        );
        if &f[at + 4..at + 8] == b"moov" {
            break at;
        }
        at += size;
    };
    assert_eq!(
        moov_at + be32(&f[moov_at..]),
        f.len(),
        "moov is not the last box"
    );
    let mut stem = ((json.len() + 8) as u32).to_be_bytes().to_vec();
    stem.extend_from_slice(b"stem");
    stem.extend_from_slice(json);
    // Find udta among moov's children.
    let mut at = moov_at + 8;
    let mut udta_at = None;
    while at < f.len() {
        if &f[at + 4..at + 8] == b"udta" {
            udta_at = Some(at);
            break;
        }
        at += be32(&f[at..]);
    }
    match udta_at {
        Some(u) => {
            let end = u + be32(&f[u..]);
            f.splice(end..end, stem.iter().copied());
            let size = (be32(&f[u..]) + stem.len()) as u32;
            f[u..u + 4].copy_from_slice(&size.to_be_bytes());
        }
        None => {
            let mut udta = ((stem.len() + 8) as u32).to_be_bytes().to_vec();
            udta.extend_from_slice(b"udta");
            udta.extend_from_slice(&stem);
            stem = udta;
            f.extend_from_slice(&stem);
        }
    }
    let size = (be32(&f[moov_at..]) + stem.len()) as u32;
    f[moov_at..moov_at + 4].copy_from_slice(&size.to_be_bytes());
    std::fs::write(path, f).unwrap();
}

/// A song folder `<lib>/<song>/song.stem.mp4` in `codec`, with the manifest.
fn make_song(name: &str, codec: &[&str], manifest: Option<&str>) -> (PathBuf, PathBuf) {
    let dir = temp_dir(name);
    let lib = dir.join("lib");
    let song = lib.join("01-ni");
    std::fs::create_dir_all(&song).unwrap();
    let file = song.join("song.stem.mp4");
    mux(&dir, &file, codec);
    if let Some(json) = manifest {
        add_stem_box(&file, json.as_bytes());
    }
    (dir, lib)
}

fn load(lib: &Path, rate: u32) -> (stembox::model::song::Song, Vec<String>) {
    let (songs, _) = library::scan(lib).unwrap();
    loader::load_song_with_meta(&songs[0], rate, &opts(), &mut |_| {}).unwrap()
}

fn names(song: &stembox::model::song::Song) -> Vec<&str> {
    song.stems().iter().map(|s| s.name.as_str()).collect()
}

/// Track index (into TONES) each stem of a loaded NI song holds: stems then master.
const TRACK_OF_STEM: [usize; 5] = [1, 2, 3, 4, 0];

#[test]
fn alac_stem_mp4_decodes_into_its_named_stems_sample_exact() {
    if !have_ffmpeg() {
        return;
    }
    let (_dir, lib) = make_song("nistem-alac", &["-c:a", "alac"], Some(MANIFEST));
    let file = lib.join("01-ni/song.stem.mp4");
    let info = nistem::probe(&file).unwrap();
    assert_eq!(
        info.tracks
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["master", "Drums", "Bass", "Keys", "Vox"]
    );
    assert_eq!(info.tracks[1].color, Some(0x009E73));
    assert!(info
        .tracks
        .iter()
        .all(|t| t.codec == "alac" && t.rate == RATE));
    assert_eq!(info.manifest_note, None);

    // At the file's own rate: no resampling, so ALAC must give back every sample.
    let (song, warnings) = load(&lib, RATE);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(names(&song), ["Drums", "Bass", "Keys", "Vox", "master"]);
    assert_eq!(song.master_stem, Some(4));
    assert!(
        song.stems()[4].muted,
        "the master starts muted (stems mode)"
    );
    assert!(song.stems()[..4].iter().all(|s| !s.muted));
    assert_eq!(song.frames() as usize, frames());
    for (s, stem) in song.stems().iter().enumerate() {
        let t = TRACK_OF_STEM[s];
        let x = stem.samples();
        let mut worst = 0.0f32;
        for i in 0..frames() {
            for c in 0..2 {
                worst = worst.max((x[i * 2 + c] - wav_value(t, i, c)).abs());
            }
        }
        assert_eq!(worst, 0.0, "stem {} differs from track {t}", stem.name);
    }

    // Resampled to 48 kHz like any stem: length and tone kept.
    let (song, _) = load(&lib, 48_000);
    let want = (frames() as u64 * 48_000).div_ceil(RATE as u64);
    assert_eq!(song.frames(), want);
    for (s, stem) in song.stems().iter().enumerate() {
        let left: Vec<f32> = stem.samples().iter().step_by(2).copied().collect();
        let hz = common::zero_crossing_hz(&left[4800..], 48_000, 100);
        let cents = common::cents(hz, TONES[TRACK_OF_STEM[s]]).abs();
        assert!(cents < 5.0, "stem {}: {hz} Hz", stem.name);
    }
}

fn rms(x: impl Iterator<Item = f32>) -> f64 {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for v in x {
        sum += (v as f64) * (v as f64);
        n += 1;
    }
    (sum / n.max(1) as f64).sqrt()
}

/// Energy of `x` at `f` Hz (a single-bin DFT), relative to the signal's energy.
fn tone_share(x: &[f32], f: f64, rate: u32) -> f64 {
    let (mut re, mut im) = (0.0f64, 0.0f64);
    for (i, &v) in x.iter().enumerate() {
        let ph = i as f64 * f * std::f64::consts::TAU / rate as f64;
        re += v as f64 * ph.cos();
        im += v as f64 * ph.sin();
    }
    let amp = 2.0 * (re * re + im * im).sqrt() / x.len() as f64;
    let r = rms(x.iter().copied()) * std::f64::consts::SQRT_2;
    amp / r.max(1e-12)
}

#[test]
fn aac_stem_mp4_decodes_within_the_codecs_tolerance() {
    if !have_ffmpeg() {
        return;
    }
    let (_dir, lib) = make_song(
        "nistem-aac",
        &["-c:a", "aac", "-b:a", "192k"],
        Some(MANIFEST),
    );
    let info = nistem::probe(&lib.join("01-ni/song.stem.mp4")).unwrap();
    assert!(info.tracks.iter().all(|t| t.codec == "aac"), "{info:?}");
    let (song, _) = load(&lib, RATE);
    assert_eq!(names(&song), ["Drums", "Bass", "Keys", "Vox", "master"]);
    // AAC adds its encoder delay (1024 frames of priming) and pads the end: the length is
    // within 3 AAC frames of the input.
    let got = song.frames() as i64;
    assert!((got - frames() as i64).abs() <= 3 * 1024, "{got} frames");
    for (s, stem) in song.stems().iter().enumerate() {
        let t = TRACK_OF_STEM[s];
        for c in 0..2 {
            // The steady middle: past the priming, before the end padding.
            let x: Vec<f32> = stem.samples()[..frames() * 2]
                .iter()
                .skip(c)
                .step_by(2)
                .skip(4096)
                .take(frames() - 8192)
                .copied()
                .collect();
            let level = rms(x.iter().copied());
            let want = AMP / std::f64::consts::SQRT_2;
            assert!(
                (level / want - 1.0).abs() < 0.05,
                "stem {} ch {c}: rms {level} want {want}",
                stem.name
            );
            let f = TONES[t] * (1 + c) as f64;
            let share = tone_share(&x, f, RATE);
            assert!(
                share > 0.97,
                "stem {} ch {c}: {share} of it at {f} Hz",
                stem.name
            );
            // And not another track's tone.
            for (u, &g) in TONES.iter().enumerate() {
                if u != t {
                    let other = tone_share(&x, g * (1 + c) as f64, RATE);
                    assert!(other < 0.02, "stem {} holds track {u}'s tone", stem.name);
                }
            }
        }
    }
}

#[test]
fn without_a_manifest_stems_fall_back_to_numbered_names() {
    if !have_ffmpeg() {
        return;
    }
    let (_dir, lib) = make_song("nistem-noman", &["-c:a", "alac"], None);
    let (song, warnings) = load(&lib, RATE);
    assert_eq!(names(&song), ["stem1", "stem2", "stem3", "stem4", "master"]);
    assert!(
        warnings.iter().any(|w| w.contains("no stem manifest")),
        "{warnings:?}"
    );
    // `check` notes it but it is no problem: the file plays.
    let cfg = write_config(
        lib.parent().unwrap(),
        &format!(
            r#"{{"library": "{}", "audio": {{"rate": 44100}}}}"#,
            lib.display()
        ),
    );
    let o = run(&["check", "--config", cfg.to_str().unwrap()]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("note:") && out.contains("no stem manifest"),
        "{out}"
    );
    assert!(out.contains("stem stem1 "), "{out}");
    // A manifest of garbage: the same fallback, a warning naming the trouble, no failure.
    let (_dir, lib) = make_song("nistem-badman", &["-c:a", "alac"], Some("{\"stems\": 7"));
    let (song, warnings) = load(&lib, RATE);
    assert_eq!(names(&song), ["stem1", "stem2", "stem3", "stem4", "master"]);
    assert!(
        warnings.iter().any(|w| w.contains("not JSON")),
        "{warnings:?}"
    );
}

#[test]
fn a_stem_mp4_beside_stem_files_and_a_plain_m4a_stem() {
    if !have_ffmpeg() {
        return;
    }
    let (dir, lib) = make_song("nistem-mixed", &["-c:a", "alac"], Some(MANIFEST));
    let song_dir = lib.join("01-ni");
    // A click track as a plain one-track .m4a (AAC), and a stem file whose name the
    // manifest also uses.
    let click = song_dir.join("click.m4a");
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(dir.join("t0.wav"))
        .args(["-c:a", "aac"])
        .arg(&click)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    std::fs::copy(dir.join("t1.wav"), song_dir.join("drums.wav")).unwrap();
    let (song, warnings) = load(&lib, RATE);
    assert_eq!(
        names(&song),
        ["click", "drums", "ni_Drums", "Bass", "Keys", "Vox", "master"]
    );
    assert_eq!(song.master_stem, Some(6));
    assert!(
        warnings.iter().any(|w| w.contains("ni_Drums")),
        "{warnings:?}"
    );
    let click = &song.stems()[0];
    let share = tone_share(
        &click.samples()[8192..frames()]
            .iter()
            .step_by(2)
            .copied()
            .collect::<Vec<_>>(),
        TONES[0],
        RATE,
    );
    assert!(share > 0.97, "the .m4a stem: {share}");

    // Two NI Stems files in one folder: refused, naming both.
    std::fs::copy(song_dir.join("song.stem.mp4"), song_dir.join("b.stem.mp4")).unwrap();
    let (songs, _) = library::scan(&lib).unwrap();
    let e = loader::load_song(&songs[0], RATE, &opts(), &mut |_| {}).unwrap_err();
    assert!(e.message.contains("2 NI Stems files"), "{e}");
}

#[test]
fn hostile_stem_mp4_files_are_refused_with_a_message() {
    if !have_ffmpeg() {
        return;
    }
    let (_dir, lib) = make_song("nistem-hostile", &["-c:a", "alac"], Some(MANIFEST));
    let file = lib.join("01-ni/song.stem.mp4");
    let good = std::fs::read(&file).unwrap();
    let (songs, _) = library::scan(&lib).unwrap();
    let load_it = || loader::load_song(&songs[0], RATE, &opts(), &mut |_| {});
    // Truncated anywhere (moov is last, so every cut damages it): a clear error naming the
    // file, never a panic.
    for cut in [0, 7, 100, good.len() / 2, good.len() - 10] {
        std::fs::write(&file, &good[..cut]).unwrap();
        let e = load_it().unwrap_err();
        assert!(e.message.contains("song.stem.mp4"), "{e}");
    }
    // moov claiming 4 GB.
    let mut bad = good.clone();
    let mut at = 0;
    while &bad[at + 4..at + 8] != b"moov" {
        at += be32(&bad[at..]);
    }
    bad[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    std::fs::write(&file, &bad).unwrap();
    let e = load_it().unwrap_err();
    assert!(e.message.contains("claims 4294967295 bytes"), "{e}");
    // Not an MP4 at all.
    std::fs::write(&file, b"hello, not a film").unwrap();
    assert!(load_it().is_err());
    // One track only.
    let dir = temp_dir("nistem-onetrack");
    write_wav(&dir.join("a.wav"), 0);
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(dir.join("a.wav"))
        .args(["-c:a", "alac", "-f", "mp4"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(o.status.success());
    let e = load_it().unwrap_err();
    assert!(e.message.contains("1 audio track"), "{e}");
}

#[test]
fn check_lists_the_ni_stems_and_their_names() {
    if !have_ffmpeg() {
        return;
    }
    let (dir, lib) = make_song("nistem-check", &["-c:a", "alac"], Some(MANIFEST));
    let cfg = write_config(
        &dir,
        &format!(
            r#"{{"library": "{}", "audio": {{"rate": 44100}}}}"#,
            lib.display()
        ),
    );
    let o = run(&["check", "--config", cfg.to_str().unwrap()]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}\n{}", text(&o.stderr));
    assert!(out.contains("01-ni: 5 stems"), "{out}");
    for (name, color) in [
        ("Drums", "#009E73"),
        ("Bass", "#D55E00"),
        ("Keys", "#CC79A7"),
        ("Vox", "#56B4E9"),
    ] {
        let line = out
            .lines()
            .find(|l| l.contains(&format!("stem {name} ")))
            .unwrap_or_else(|| panic!("no line for {name}: {out}"));
        assert!(line.contains("alac") && line.contains(color), "{line}");
    }
    assert!(
        out.lines()
            .any(|l| l.contains("stem master") && l.contains("NI master")),
        "{out}"
    );
}

/// `mix master` and `mix stems` through the real controller and engine on a loaded NI song:
/// the stems mix is the four stem tones summed, the master mode is the master track alone,
/// and the switch is a ramp (no step larger than the tones themselves make).
#[test]
fn mix_switches_between_the_stems_and_the_master_with_a_ramp() {
    use stembox::control::controller::{Controller, EngineView, Setup, ToEngine};
    use stembox::model::action::{Action, MixMode};
    use stembox::rt::command::Command as EngineCommand;
    use stembox::rt::engine::Engine;
    use stembox::rt::status::Transport;
    if !have_ffmpeg() {
        return;
    }
    let (_dir, lib) = make_song("nistem-mix", &["-c:a", "alac"], Some(MANIFEST));
    let (song, _) = load(&lib, RATE);
    let song = std::sync::Arc::new(song);
    let setup = Setup {
        rate: RATE,
        buffer_frames: 512,
        names: vec!["01-ni".into()],
        budget_bytes: usize::MAX,
        master_db: 0.0,
        saved: None,
        buses: vec!["main".into()],
    };
    let (mut engine, mut handle) = Engine::new(RATE, 2, 1.0);
    let (mut ctl, out) = Controller::new(setup, 0, song.clone());
    assert!(handle.switch_song(song.clone(), 0, true));
    let mut feed = |engine_out: Vec<ToEngine>| {
        for e in engine_out {
            match e {
                ToEngine::Command(c) => handle.send(c).unwrap(),
                ToEngine::Switch { .. } => unreachable!("one song"),
            }
        }
    };
    feed(out.engine);
    let view = EngineView {
        transport: Transport::Playing,
        pos_frames: 0,
        looping: false,
        counting_in: false,
        command_slots: 256,
        song_slots: 4,
        speed_pct: 100.0,
        pitch_st: 0.0,
        ramp_pass: 0,
        periods: 0,
    };
    const PERIOD: usize = 256;
    let mut rendered: Vec<f32> = Vec::new();
    let mut render = |engine: &mut Engine, periods: usize| {
        let mut buf = vec![0.0f32; PERIOD * 2];
        for _ in 0..periods {
            engine.process(&mut buf);
            rendered.extend_from_slice(&buf);
        }
    };
    // 0.1 s of stems, 0.3 s of master, back to stems.
    render(&mut engine, 20);
    let out = ctl.act(Action::Mix(Some(MixMode::Master)), &view);
    assert_eq!(out.reply.as_deref(), Some("ok mix master"));
    assert!(out.commands().contains(&EngineCommand::StemMute {
        stem: 4,
        mute: false
    }));
    feed(out.engine);
    render(&mut engine, 60);
    let out = ctl.act(Action::Mix(None), &view);
    assert_eq!(out.reply.as_deref(), Some("ok mix stems"));
    feed(out.engine);
    render(&mut engine, 40);

    let ramp = (RATE * stembox::rt::GAIN_RAMP_MS / 1000) as usize + PERIOD;
    let stems_sum = |i: usize, c: usize| -> f32 { (1..5).map(|t| wav_value(t, i, c)).sum() };
    let master = |i: usize, c: usize| -> f32 { wav_value(0, i, c) };
    // The engine's fade-in at play start: judge from the second period on.
    let check = |from: usize, to: usize, want: &dyn Fn(usize, usize) -> f32, what: &str| {
        let mut worst = 0.0f32;
        for i in from..to {
            for c in 0..2 {
                worst = worst.max((rendered[i * 2 + c] - want(i, c)).abs());
            }
        }
        assert!(worst < 1e-5, "{what}: off by {worst}");
    };
    let switch1 = 20 * PERIOD;
    let switch2 = 80 * PERIOD;
    check(
        4 * PERIOD,
        switch1,
        &stems_sum,
        "stems mix before `mix master`",
    );
    check(
        switch1 + ramp,
        switch2,
        &master,
        "master after `mix master`",
    );
    check(
        switch2 + ramp,
        120 * PERIOD,
        &stems_sum,
        "stems after `mix stems`",
    );
    // No click: across each switch, no sample-to-sample step beyond what the tones make.
    let max_step = |from: usize, to: usize| -> f32 {
        (from.max(1)..to)
            .flat_map(|i| (0..2).map(move |c| (i, c)))
            .map(|(i, c)| (rendered[i * 2 + c] - rendered[(i - 1) * 2 + c]).abs())
            .fold(0.0, f32::max)
    };
    let steady = max_step(4 * PERIOD, switch1).max(max_step(switch1 + ramp, switch2));
    for at in [switch1, switch2] {
        let step = max_step(at, at + ramp);
        assert!(
            step <= steady * 1.05,
            "step {step} at the switch, steady {steady}"
        );
    }
}

#[test]
fn a_damaged_plain_m4a_stem_is_an_error_naming_it() {
    if !have_ffmpeg() {
        return;
    }
    let dir = temp_dir("nistem-bad-m4a");
    let song = dir.join("lib/01-a");
    std::fs::create_dir_all(&song).unwrap();
    write_wav(&dir.join("a.wav"), 2);
    let m4a = song.join("keys.m4a");
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(dir.join("a.wav"))
        .args(["-c:a", "alac"])
        .arg(&m4a)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let good = std::fs::read(&m4a).unwrap();
    let (songs, _) = library::scan(&dir.join("lib")).unwrap();
    // Whole: it plays as one stem named after the file, sample-exact.
    let s = loader::load_song(&songs[0], RATE, &opts(), &mut |_| {}).unwrap();
    assert_eq!(names(&s), ["keys"]);
    assert_eq!(s.master_stem, None);
    assert_eq!(s.stems()[0].samples()[2000], wav_value(2, 1000, 0));
    // Cut short or garbage: an error naming the file, never a panic.
    for bytes in [&good[..20], &good[..good.len() / 3], &b"\0\0\0\x08moov"[..]] {
        std::fs::write(&m4a, bytes).unwrap();
        match loader::load_song(&songs[0], RATE, &opts(), &mut |_| {}) {
            Err(e) => assert!(e.message.contains("keys.m4a"), "{e}"),
            // moov comes after mdat, so every cut here loses the sample tables.
            Ok(s) => panic!("{} frames from a damaged file", s.frames()),
        }
    }
}

/// The load options of these tests: defaults (with the read limit a test sets).
fn opts() -> stembox::loader::LoadOptions {
    stembox::loader::LoadOptions::default()
}
