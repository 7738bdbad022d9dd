use super::*;

/// A fuzzer finding: finite but absurd float samples (1e38) overflowed rubato's FFT
/// into NaN, and rubato panics on that. They are clamped at load like NaN is silenced.
#[test]
fn absurd_float_samples_are_clamped_before_the_resampler() {
    let path = std::env::temp_dir().join(format!("stembox-huge-{}.wav", std::process::id()));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 44_100,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for i in 0..4410 {
        w.write_sample(if i % 2 == 0 { 1e38f32 } else { -3e38 })
            .unwrap();
    }
    w.finalize().unwrap();
    let stem = decode_stem(&path, &opts()).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(stem.nonfinite_samples, 4410);
    assert_eq!(stem.channels, 1, "a mono file stays mono");
    assert!(stem.samples.iter().all(|s| s.abs() <= MAX_SAMPLE_ABS));
    let out = resample(&stem.samples, 1, 44_100, 48_000, &opts()).unwrap();
    assert!(out.iter().all(|s| s.is_finite()));
}

#[test]
fn song_json_tempo_map_and_click_reach_the_song() {
    let mut song = Song::new(
        "s",
        44_100,
        vec![Stem::new("a", vec![0.0; 44_100 * 20].into_boxed_slice())],
    );
    let meta = crate::model::songmeta::parse_song_json(
        br#"{"bpm": 100, "click": true, "time_signature": "6/8",
             "tempo_map": [{"bar": 1, "bpm": 120, "time_signature": "3/4"}, {"bar": 3, "bpm": 60}],
             "sections": [{"name": "b", "bar": 4}]}"#,
    )
    .unwrap();
    let mut warnings = Vec::new();
    apply_meta(&mut song, &meta, "song.json", &mut warnings);
    // Bar 1's tempo from the map, for the count-in.
    assert_eq!(
        (song.bpm, song.beats_per_bar, song.click),
        (Some(120.0), 3, true)
    );
    let map = song.tempo_map.as_ref().unwrap();
    assert_eq!(map.rate(), 44_100);
    // Two 3/4 bars at 120 (3 s), then one at 60 (3 s).
    assert_eq!(map.frame_of_bar(3.0), 132_300.0);
    assert_eq!(song.sections[0].start_frame, 264_600);
    // A map at another rate is refused rather than misplacing every beat.
    song.set_tempo_map(meta.tempo_map(48_000));
    assert!(song.tempo_map.is_none());
    // No tempo: no map, no click.
    let mut plain = Song::new("p", 44_100, Vec::new());
    let none = crate::model::songmeta::parse_song_json(b"{}").unwrap();
    apply_meta(&mut plain, &none, "song.json", &mut warnings);
    assert!(plain.tempo_map.is_none() && !plain.click && plain.bpm.is_none());
}

#[test]
fn resampling_keeps_a_tone_at_its_frequency_and_length() {
    let from = 44_100;
    let to = 48_000;
    let frames = from as usize; // one second
    let f = 1000.0;
    let input: Vec<f32> = (0..frames)
        .flat_map(|i| {
            let s = (i as f32 * f * core::f32::consts::TAU / from as f32).sin() * 0.5;
            [s, -s]
        })
        .collect();
    let out = resample_stereo(&input, from, to, &opts()).unwrap();
    assert_eq!(out.len() / 2, to as usize);
    // Away from the edges the output is the same tone sampled at 48 kHz.
    let mut max_err = 0.0f32;
    for i in 1000..47_000 {
        let want = (i as f32 * f * core::f32::consts::TAU / to as f32).sin() * 0.5;
        max_err = max_err.max((out[i * 2] - want).abs());
        assert_eq!(out[i * 2], -out[i * 2 + 1]);
    }
    assert!(max_err < 1e-3, "max error {max_err}");
}

#[test]
fn chunked_resampling_is_exactly_rubatos_process_all() {
    for (from, to) in [(44_100, 48_000), (48_000, 44_100), (22_050, 48_000)] {
        for frames in [0usize, 1, 10, 1023, 1024, 1025, 5_000, 48_000] {
            let input: Vec<f32> = (0..frames * 2)
                .map(|i| ((i * 7919) % 2003) as f32 / 2003.0 - 0.5)
                .collect();
            let mut r = Fft::<f32>::new(from, to, 1024, 2, FixedSync::Input).unwrap();
            let a = InterleavedSlice::new(&input[..], 2, frames).unwrap();
            let mut want = r.process_all(&a, frames, None).unwrap().take_data();
            want.resize(
                (frames as u64 * to as u64).div_ceil(from as u64) as usize * 2,
                0.0,
            );
            let got = resample_stereo(&input, from as u32, to as u32, &opts()).unwrap();
            assert_eq!(got.len(), want.len(), "{from}->{to} {frames}");
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "{from}->{to} {frames}"
            );
        }
    }
}

/// Progressive loading feeds the resampler a packet at a time: any cut of the input
/// gives exactly the output of the whole, and a mono channel resamples exactly as
/// the same channel inside a stereo pair.
#[test]
fn resampling_piece_by_piece_is_exactly_the_whole_and_mono_is_one_channel_of_stereo() {
    for (from, to) in [(44_100u32, 48_000u32), (96_000, 48_000), (48_000, 48_000)] {
        let frames = 20_000;
        let mono: Vec<f32> = (0..frames)
            .map(|i| ((i * 7919) % 2003) as f32 / 2003.0 - 0.5)
            .collect();
        let stereo: Vec<f32> = mono.iter().flat_map(|&s| [s, s]).collect();
        let whole = resample_stereo(&stereo, from, to, &opts()).unwrap();
        for piece in [1usize, 7, 1024, 4096, 4608] {
            let mut r = ChunkResampler::new(1, from, to).unwrap();
            let mut got = Vec::new();
            for p in mono.chunks(piece) {
                r.push(p, &mut |s| got.extend_from_slice(s)).unwrap();
            }
            r.finish(&mut |s| got.extend_from_slice(s)).unwrap();
            assert_eq!(got.len() * 2, whole.len(), "{from}->{to} by {piece}");
            for (i, (&m, lr)) in got.iter().zip(whole.chunks_exact(2)).enumerate() {
                assert_eq!(
                    m.to_bits(),
                    lr[0].to_bits(),
                    "{from}->{to} by {piece} at {i}"
                );
                assert_eq!(m.to_bits(), lr[1].to_bits());
            }
        }
    }
}

/// A mono 16-bit FLAC of `frames` frames, sample i = ((i % 64) - 32) / 128, via `flac`.
fn write_flac(path: &Path, frames: usize) {
    let wav = path.with_extension("wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    for i in 0..frames {
        w.write_sample(((i % 64) as i16 - 32) * 256).unwrap();
    }
    w.finalize().unwrap();
    let ok = std::process::Command::new("flac")
        .args(["--silent", "-f", "-o"])
        .arg(path)
        .arg(&wav)
        .status()
        .expect("flac tool");
    assert!(ok.success());
    std::fs::remove_file(wav).unwrap();
}

/// A FLAC cut short (its header promises more than the file holds): streamed into a
/// buffer sized from the header, the part that decodes is exact, the rest silence,
/// and the song ends where its longest stem really does. A stem whose header is
/// honest keeps the song at its length.
#[test]
fn a_header_that_promises_too_much_leaves_silence_and_the_song_is_trimmed() {
    let dir = std::env::temp_dir().join(format!("stembox-trunc-{}", std::process::id()));
    let song_dir = dir.join("01-cut");
    std::fs::create_dir_all(&song_dir).unwrap();
    let frames = 96_000;
    let want = |i: usize| ((i % 64) as f32 - 32.0) / 128.0;
    let cut = song_dir.join("a.flac");
    write_flac(&cut, frames);
    let bytes = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (songs, _) = crate::model::library::scan(&dir).unwrap();
    let mut got = None;
    let later =
        load_song_progressive(&songs[0], 48_000, &opts(), &mut |s, _| got = Some(s)).unwrap();
    let song = got.unwrap();
    assert!(!song.is_loading());
    let stem = &song.stems()[0];
    assert_eq!(stem.channels(), 1);
    let decoded = song.frames() as usize;
    assert!(decoded > 10_000 && decoded < frames, "{decoded} {later:?}");
    let s = stem.samples();
    assert!((0..decoded).all(|i| s[i] == want(i)));
    assert!(s[decoded..].iter().all(|&x| x == 0.0));
    // With an honest stem beside it, the song keeps the honest length.
    write_flac(&song_dir.join("b.flac"), frames);
    let (songs, _) = crate::model::library::scan(&dir).unwrap();
    let song = load_song(&songs[0], 48_000, &opts(), &mut |_| {}).unwrap();
    assert_eq!(song.frames() as usize, frames);
    assert_eq!(song.stems()[1].samples().len(), frames);
    assert!(song.stems()[0].samples()[decoded..]
        .iter()
        .all(|&x| x == 0.0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn read_limit_from_the_environment_takes_whole_numbers_only() {
    assert_eq!(parse_read_limit(None), 0);
    assert_eq!(parse_read_limit(Some(" 5000000 ".into())), 5_000_000);
    for bad in [
        "",
        "-5",
        "5e6",
        "NaN",
        "1.5",
        "99999999999999999999999",
        "fast",
    ] {
        assert_eq!(parse_read_limit(Some(bad.into())), 0, "{bad}");
    }
}

#[test]
fn same_rate_is_a_copy() {
    let v = vec![0.1, 0.2, 0.3, 0.4];
    assert_eq!(resample_stereo(&v, 48_000, 48_000, &opts()).unwrap(), v);
}

/// The load options of these tests: defaults (with the read limit a test sets).
fn opts() -> LoadOptions {
    LoadOptions::default()
}
