//! Resampling stems to the device rate: rubato's FFT resampler, whole or in chunks as
//! they decode.

use super::*;

/// Resamples interleaved stereo from `from_hz` to `to_hz` (rubato FFT resampler; output
/// length exactly `ceil(frames * to / from)`, the resampler's delay trimmed).
pub fn resample_stereo(
    input: &[f32],
    from_hz: u32,
    to_hz: u32,
    opts: &LoadOptions,
) -> Result<Vec<f32>, String> {
    resample(input, 2, from_hz, to_hz, opts)
}

/// [`resample_stereo`] for `channels` (1 or 2) interleaved channels.
pub fn resample(
    input: &[f32],
    channels: usize,
    from_hz: u32,
    to_hz: u32,
    opts: &LoadOptions,
) -> Result<Vec<f32>, String> {
    let mut r = ChunkResampler::new(channels, from_hz, to_hz)?;
    let mut out = Vec::with_capacity(
        frames_at((input.len() / channels) as u64, from_hz, to_hz) as usize * channels,
    );
    let called_off = || "loading called off (stembox is stopping)".to_string();
    // A piece at a time, so that a stop (SIGTERM) ends a long resample soon.
    for piece in input.chunks(channels * 65_536) {
        if opts.cancelled() {
            return Err(called_off());
        }
        r.push(piece, &mut |s| out.extend_from_slice(s))?;
    }
    r.finish(&mut |s| out.extend_from_slice(s))?;
    Ok(out)
}

/// A resampler fed piece by piece as a stem decodes (progressive loading), with output
/// exactly that of rubato's `process_all` on the whole input: the same FFT chunks in the
/// same order, the resampler's delay cut off at the start, the output cut at
/// `ceil(frames * to / from)` at the end. At equal rates it passes samples through.
pub struct ChunkResampler {
    pub(super) channels: usize,
    pub(super) from_hz: u32,
    pub(super) to_hz: u32,
    pub(super) fft: Option<Fft<f32>>,
    /// Input not yet resampled (less than one chunk after each push).
    pub(super) pending: Vec<f32>,
    /// One chunk of output.
    pub(super) scratch: Vec<f32>,
    /// Output frames still to drop (the resampler's delay).
    pub(super) delay_left: usize,
    pub(super) in_frames: u64,
    pub(super) out_frames: u64,
}

impl ChunkResampler {
    pub fn new(channels: usize, from_hz: u32, to_hz: u32) -> Result<ChunkResampler, String> {
        let fft = if from_hz == to_hz {
            None
        } else {
            Some(
                Fft::<f32>::new(
                    from_hz as usize,
                    to_hz as usize,
                    1024,
                    channels,
                    FixedSync::Input,
                )
                .map_err(|e| format!("resampler {from_hz} -> {to_hz} Hz: {e}"))?,
            )
        };
        let (delay_left, scratch) = match &fft {
            Some(f) => (
                f.output_delay(),
                vec![0.0; f.output_frames_max() * channels],
            ),
            None => (0, Vec::new()),
        };
        Ok(ChunkResampler {
            channels,
            from_hz,
            to_hz,
            fft,
            pending: Vec::new(),
            scratch,
            delay_left,
            in_frames: 0,
            out_frames: 0,
        })
    }

    /// Takes `input` (whole frames, interleaved) and hands every finished piece of output
    /// to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut dyn FnMut(&[f32])) -> Result<(), String> {
        self.in_frames += (input.len() / self.channels) as u64;
        if self.fft.is_none() {
            self.out_frames += (input.len() / self.channels) as u64;
            out(input);
            return Ok(());
        }
        self.pending.extend_from_slice(input);
        loop {
            let next = self.fft.as_ref().map_or(0, |f| f.input_frames_next());
            if self.pending.len() / self.channels < next {
                return Ok(());
            }
            let used = self.run_chunk(None, out)?;
            self.pending.drain(..used * self.channels);
        }
    }

    /// The input ended: the last partial chunk, then silence until the delayed tail is out.
    pub fn finish(&mut self, out: &mut dyn FnMut(&[f32])) -> Result<(), String> {
        if self.fft.is_none() {
            return Ok(());
        }
        let want = frames_at(self.in_frames, self.from_hz, self.to_hz);
        let mut partial = self.pending.len() / self.channels;
        while self.out_frames < want {
            self.run_chunk(Some(partial), out)?;
            self.pending.clear();
            partial = 0;
        }
        Ok(())
    }

    /// One FFT chunk from the start of `pending`; returns the input frames it used.
    pub(super) fn run_chunk(
        &mut self,
        partial: Option<usize>,
        out: &mut dyn FnMut(&[f32]),
    ) -> Result<usize, String> {
        let ch = self.channels;
        let (from_hz, to_hz) = (self.from_hz, self.to_hz);
        let fail = |e: rubato::ResampleError| format!("resampling {from_hz} -> {to_hz} Hz: {e}");
        let Some(fft) = self.fft.as_mut() else {
            return Ok(0);
        };
        let in_frames = self.pending.len() / ch;
        let input =
            InterleavedSlice::new(&self.pending[..], ch, in_frames).map_err(|e| e.to_string())?;
        let cap = self.scratch.len() / ch;
        let mut output =
            InterleavedSlice::new_mut(&mut self.scratch[..], ch, cap).map_err(|e| e.to_string())?;
        let at = Indexing {
            input_offset: 0,
            output_offset: 0,
            active_channels_mask: None,
            partial_len: partial,
        };
        let (used, made) = fft
            .process_into_buffer(&input, &mut output, Some(&at))
            .map_err(fail)?;
        let skip = self.delay_left.min(made);
        self.delay_left -= skip;
        // Mid-stream the total is not known yet: all is kept. At the end the length is
        // exact: rubato's float ratio can round one frame over.
        let keep = match partial {
            None => made - skip,
            Some(_) => {
                let want = frames_at(self.in_frames, from_hz, to_hz);
                ((made - skip) as u64).min(want.saturating_sub(self.out_frames)) as usize
            }
        };
        self.out_frames += keep as u64;
        out(&self.scratch[skip * ch..(skip + keep) * ch]);
        Ok(used)
    }
}
