//! The samples of one stem, shared between the one loader thread that decodes into them and
//! the audio thread that plays them while the decode goes on (progressive loading).
//!
//! The whole buffer is allocated (zeroed) before decoding starts, so nobody ever
//! reallocates it. A watermark, `ready_frames`, says how many frames from the start are
//! decoded. The invariant that makes the sharing sound:
//!
//! * there is at most one [`StemWriter`] per buffer (handed out once), and it writes only
//!   at or above the watermark, then publishes with a `Release` store;
//! * readers ([`StemBuffer::published`]) load the watermark with `Acquire` and look only
//!   below it;
//! * the watermark only grows.
//!
//! So a sample is written before it is published and never again afterwards: the region a
//! reader sees is immutable for as long as the buffer lives. The audio thread's reads are
//! one atomic load and a slice: no lock, no wait, no allocation.
//!
//! Seeks beyond the watermark (a codec that can seek decodes from the play head first):
//! besides the front part `[0, ready_frames)` the buffer publishes one more region
//! `[start, end)`, both packed in one atomic so a reader never sees a start of one region
//! with the end of another. The writer ([`StemWriter::write_at`]) keeps, privately, every
//! interval it has written and never writes a frame twice; the published region is the
//! written interval that holds the writer's focus (the frame last sought). When the front
//! reaches a written interval it takes it in (the watermark jumps over it). A region that
//! stops being published (the focus moved elsewhere) keeps its samples; they are seen
//! again once the front reaches them.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Interleaved f32 samples of a mono (1) or stereo (2) stem, decoded front to back.
pub struct StemBuffer {
    channels: usize,
    /// `capacity_frames * channels` samples; written through `UnsafeCell` by the writer.
    data: Box<[UnsafeCell<f32>]>,
    /// Frames from the start that are decoded and will never change again.
    ready_frames: AtomicUsize,
    /// The published region beyond the front: `start << 32 | end` in frames (0: none).
    region: AtomicU64,
    /// Whether the one writer was handed out.
    writer_taken: AtomicBool,
}

// SAFETY: the samples are shared between threads under the module's invariant: the single
// writer touches only samples above the watermark, readers only samples below it, and the
// watermark is published with Release / read with Acquire, so no sample is ever read and
// written at the same time and a reader sees every write below the watermark it loaded.
unsafe impl Sync for StemBuffer {}

impl core::fmt::Debug for StemBuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StemBuffer")
            .field("channels", &self.channels)
            .field("capacity_frames", &self.capacity_frames())
            .field("ready_frames", &self.ready_frames())
            .finish()
    }
}

fn into_cells(samples: Box<[f32]>) -> Box<[UnsafeCell<f32>]> {
    let len = samples.len();
    let ptr = Box::into_raw(samples) as *mut f32;
    // SAFETY: `UnsafeCell<f32>` is `repr(transparent)` over `f32` (same size, alignment
    // and validity), so a boxed slice of one is a boxed slice of the other, same length;
    // the allocation is handed over whole and freed by the new box with the same layout.
    unsafe {
        Box::from_raw(core::ptr::slice_from_raw_parts_mut(
            ptr as *mut UnsafeCell<f32>,
            len,
        ))
    }
}

impl StemBuffer {
    /// Room for `frames` frames of silence at `channels` (1 or 2), nothing published yet.
    /// The zeroed allocation comes from the allocator's zeroed pages (`calloc`), so RAM is
    /// really taken only as the decoder fills it. Not on the audio thread.
    pub fn silent(channels: usize, frames: usize) -> StemBuffer {
        assert!(matches!(channels, 1 | 2), "stems are mono or stereo");
        let len = frames.checked_mul(channels).expect("stem size overflows");
        StemBuffer {
            channels,
            data: into_cells(vec![0.0f32; len].into_boxed_slice()),
            ready_frames: AtomicUsize::new(0),
            region: AtomicU64::new(0),
            writer_taken: AtomicBool::new(false),
        }
    }

    /// A finished stem: all of `samples` (interleaved at `channels`, a trailing partial
    /// frame dropped) published, no writer to come.
    pub fn complete(channels: usize, samples: Box<[f32]>) -> StemBuffer {
        assert!(matches!(channels, 1 | 2), "stems are mono or stereo");
        let mut samples = samples.into_vec();
        samples.truncate(samples.len() / channels * channels);
        let frames = samples.len() / channels;
        StemBuffer {
            channels,
            data: into_cells(samples.into_boxed_slice()),
            ready_frames: AtomicUsize::new(frames),
            region: AtomicU64::new(0),
            writer_taken: AtomicBool::new(true),
        }
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Frames the buffer holds when full (its length in the song).
    pub fn capacity_frames(&self) -> usize {
        self.data.len() / self.channels
    }

    /// Frames decoded so far (Acquire: every sample below is visible). Any thread.
    pub fn ready_frames(&self) -> usize {
        self.ready_frames.load(Ordering::Acquire)
    }

    /// Whether every frame is published (decoded, or given up as silence).
    pub fn is_complete(&self) -> bool {
        self.ready_frames() >= self.capacity_frames()
    }

    /// The decoded samples: interleaved, `ready_frames() * channels()` of them. They never
    /// change; a later call may return a longer slice. Any thread, the audio thread
    /// included (one atomic load).
    pub fn published(&self) -> &[f32] {
        let len = self.ready_frames() * self.channels;
        // SAFETY: `len` is within `data` (the watermark never passes the capacity), and
        // the samples below the watermark are never written again (module invariant), so
        // a shared `&[f32]` over them for `&self`'s lifetime aliases no write.
        // `UnsafeCell<f32>` has `f32`'s layout.
        unsafe { core::slice::from_raw_parts(self.data.as_ptr() as *const f32, len) }
    }

    /// The published region beyond the front, `(start, end)` frames, if any. Any thread.
    pub fn region(&self) -> Option<(usize, usize)> {
        let packed = self.region.load(Ordering::Acquire);
        let (start, end) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
        (end > start).then_some((start, end))
    }

    /// The decoded samples from `frame` on, as far as they are contiguous (in the front part
    /// or in the region), and the frame where they end (`frame` when nothing is decoded
    /// there). Never changes for a sample it returned. Any thread, the audio thread
    /// included (two atomic loads).
    pub fn readable_from(&self, frame: usize) -> (&[f32], usize) {
        let front = self.ready_frames();
        let end = if frame < front {
            front
        } else {
            match self.region() {
                Some((start, end)) if (start..end).contains(&frame) => end,
                // The front may have taken the region in between the two loads.
                _ => match self.ready_frames() {
                    front if frame < front => front,
                    _ => return (&[], frame),
                },
            }
        };
        let ch = self.channels;
        // SAFETY: `frame < end <= capacity`; every sample in `[frame, end)` lies in the
        // front part or in the region just loaded (Acquire), which were written before
        // they were published and are never written again (the writer writes each frame
        // at most once), so the shared slice aliases no write.
        let s = unsafe {
            core::slice::from_raw_parts(
                (self.data.as_ptr() as *const f32).add(frame * ch),
                (end - frame) * ch,
            )
        };
        (s, end)
    }

    /// Whether the `n` frames from `frame` (cut at the buffer's end) are all decoded, in
    /// either published part. Any thread.
    pub fn ready(&self, frame: usize, n: usize) -> bool {
        let want = frame.saturating_add(n).min(self.capacity_frames());
        frame >= want || self.readable_from(frame).1 >= want
    }

    /// Bytes of samples this stem holds (its whole allocation).
    pub fn ram_bytes(&self) -> usize {
        self.data.len() * core::mem::size_of::<f32>()
    }

    /// The one writer; `None` once it was handed out (or for a [`StemBuffer::complete`]
    /// buffer). Loader thread.
    pub fn writer(&self) -> Option<StemWriter<'_>> {
        if self.writer_taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        let at = self.ready_frames.load(Ordering::Relaxed);
        Some(StemWriter {
            buf: self,
            written: if at > 0 { vec![(0, at)] } else { Vec::new() },
            focus: None,
        })
    }
}

/// Appends decoded frames to a [`StemBuffer`] and publishes them. Exactly one exists per
/// buffer. Dropping it publishes the rest of the buffer as the silence it was allocated
/// with, so a stem whose decode stopped early (error, short file, called off) reads as
/// complete and the engine does not wait for frames that will never come.
pub struct StemWriter<'a> {
    buf: &'a StemBuffer,
    /// Every interval of frames written, sorted, disjoint and not touching (merged). Only
    /// this writer's; the buffer publishes the front one and the one holding `focus`.
    written: Vec<(usize, usize)>,
    /// The frame last sought ([`StemWriter::focus`]): the interval holding it is the
    /// published region.
    focus: Option<usize>,
}

impl StemWriter<'_> {
    /// Copies whole frames of `samples` (interleaved at the buffer's channels) after the
    /// watermark and publishes them. Frames past the capacity are dropped (a header that
    /// claimed too few). Returns the frames taken (frames already written by a region
    /// decode are taken but not written again).
    pub fn append(&mut self, samples: &[f32]) -> usize {
        let at = self.front();
        let frames = (samples.len() / self.buf.channels).min(self.buf.capacity_frames() - at);
        self.write_at(at, &samples[..frames * self.buf.channels]);
        frames
    }

    /// Writes whole frames of `samples` at frame `at`, skipping every frame that is
    /// already written (a frame is written at most once: a reader may be looking at it)
    /// and dropping those past the capacity, then publishes. Returns the frames that lay
    /// past the capacity.
    pub fn write_at(&mut self, at: usize, samples: &[f32]) -> usize {
        let ch = self.buf.channels;
        let cap = self.buf.capacity_frames();
        let frames = samples.len() / ch;
        let end = at.saturating_add(frames).min(cap);
        let mut f = at.min(end);
        while f < end {
            let next = self.written.iter().find(|&&(_, e)| e > f).copied();
            if let Some((s, e)) = next.filter(|&(s, _)| s <= f) {
                // Written already: skip it.
                debug_assert!(s <= f);
                f = e;
                continue;
            }
            // The run of unwritten frames from `f`.
            let to = next.map_or(end, |(s, _)| s.min(end));
            let src = &samples[(f - at) * ch..(to - at) * ch];
            // SAFETY: `f..to` lies within `data` (to <= cap) and in no written interval,
            // so no reader looks at it (readers see only published, i.e. written, frames)
            // and no other writer exists; the pointer comes from the `UnsafeCell`s, so
            // writing through `&self.buf` is allowed.
            unsafe {
                let dst = UnsafeCell::raw_get(self.buf.data.as_ptr().add(f * ch));
                core::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len());
            }
            self.mark(f, to);
            f = to;
        }
        self.publish();
        frames - end.saturating_sub(at)
    }

    /// Makes the written interval holding `frame` (once there is one) the published region:
    /// the frame a seek went to. The region published so far stops being published (its
    /// samples stay; the front takes them in when it gets there).
    pub fn focus(&mut self, frame: usize) {
        self.focus = Some(frame);
        self.publish();
    }

    /// Whether `frame` is written.
    pub fn is_written(&self, frame: usize) -> bool {
        self.written.iter().any(|&(s, e)| (s..e).contains(&frame))
    }

    /// The first frame at or after `frame` that is not written (the capacity when none).
    pub fn next_unwritten(&self, frame: usize) -> usize {
        let mut f = frame;
        for &(s, e) in &self.written {
            if s <= f && f < e {
                f = e;
            }
        }
        f.min(self.buf.capacity_frames())
    }

    /// Frames the buffer holds when full.
    pub fn capacity_frames(&self) -> usize {
        self.buf.capacity_frames()
    }

    /// The watermark: frames from the start that are written.
    pub fn front(&self) -> usize {
        match self.written.first() {
            Some(&(0, e)) => e,
            _ => 0,
        }
    }

    /// Frames written so far from the start (the watermark).
    pub fn written_frames(&self) -> usize {
        self.front()
    }

    /// The end of the last written frame (how far the decode got, gaps or not).
    pub fn last_written_end(&self) -> usize {
        self.written.last().map_or(0, |&(_, e)| e)
    }

    /// Frames that still fit after the watermark.
    pub fn remaining_frames(&self) -> usize {
        self.buf.capacity_frames() - self.front()
    }

    /// Adds `[from, to)` to the written intervals (it touches none of them inside).
    fn mark(&mut self, from: usize, to: usize) {
        let i = self.written.partition_point(|&(s, _)| s < from);
        self.written.insert(i, (from, to));
        // Merge with the neighbours it touches.
        if i + 1 < self.written.len() && self.written[i + 1].0 == to {
            self.written[i].1 = self.written[i + 1].1;
            self.written.remove(i + 1);
        }
        if i > 0 && self.written[i - 1].1 == from {
            self.written[i - 1].1 = self.written[i].1;
            self.written.remove(i);
        }
    }

    /// Publishes the front (Release) and the region holding the focus.
    fn publish(&self) {
        let front = self.front();
        let region = self.focus.and_then(|f| {
            self.written
                .iter()
                .find(|&&(s, e)| s > 0 && s <= f && f < e)
                .copied()
        });
        let packed = match region {
            Some((s, e)) if e <= u32::MAX as usize => (s as u64) << 32 | e as u64,
            _ => 0,
        };
        // The front first: a region the front took in is never published in neither.
        self.buf.ready_frames.store(front, Ordering::Release);
        self.buf.region.store(packed, Ordering::Release);
    }
}

impl Drop for StemWriter<'_> {
    fn drop(&mut self) {
        // The rest is zeros from the allocation and was never written: publishing it is
        // publishing silence.
        self.buf
            .ready_frames
            .store(self.buf.capacity_frames(), Ordering::Release);
        self.buf.region.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn nothing_is_visible_until_published_and_the_rest_is_silence_after_the_writer() {
        let b = StemBuffer::silent(2, 4);
        assert_eq!(b.published(), &[] as &[f32]);
        assert_eq!(b.ram_bytes(), 32);
        let mut w = b.writer().unwrap();
        assert!(
            b.writer().is_none(),
            "a second writer would break the invariant"
        );
        // A trailing partial frame is not taken.
        assert_eq!(w.append(&[0.1, 0.2, 0.3]), 1);
        assert_eq!(b.published(), &[0.1, 0.2]);
        assert_eq!(w.append(&[0.3, 0.4]), 1);
        assert_eq!(b.ready_frames(), 2);
        assert!(!b.is_complete());
        drop(w);
        assert!(b.is_complete());
        assert_eq!(b.published(), &[0.1, 0.2, 0.3, 0.4, 0.0, 0.0, 0.0, 0.0]);
        assert!(b.writer().is_none());
    }

    #[test]
    fn frames_past_the_capacity_are_dropped() {
        let b = StemBuffer::silent(1, 3);
        let mut w = b.writer().unwrap();
        assert_eq!(w.append(&[1.0, 2.0]), 2);
        assert_eq!(w.append(&[3.0, 4.0, 5.0]), 1);
        assert_eq!(w.remaining_frames(), 0);
        assert_eq!(w.append(&[f32::NAN]), 0);
        assert_eq!(b.published(), &[1.0, 2.0, 3.0]);
        // Empty buffers and empty appends are fine.
        let e = StemBuffer::silent(2, 0);
        assert!(e.is_complete());
        assert_eq!(e.writer().unwrap().append(&[]), 0);
    }

    #[test]
    fn a_complete_buffer_has_no_writer_and_drops_a_partial_frame() {
        let b = StemBuffer::complete(2, vec![1.0, 2.0, 3.0].into_boxed_slice());
        assert_eq!(b.capacity_frames(), 1);
        assert_eq!(b.published(), &[1.0, 2.0]);
        assert!(b.is_complete());
        assert!(b.writer().is_none());
    }

    #[test]
    #[should_panic(expected = "mono or stereo")]
    fn three_channels_are_refused() {
        let _ = StemBuffer::silent(3, 1);
    }

    /// A reader on another thread sees, below every watermark it loads, exactly what the
    /// writer wrote there (frame i holds i), and the watermark never goes back.
    #[test]
    fn a_reader_on_another_thread_sees_only_finished_frames() {
        let frames = 200_000;
        let b = Arc::new(StemBuffer::silent(2, frames));
        let reader = {
            let b = b.clone();
            std::thread::spawn(move || {
                let mut last = 0;
                let mut checked = 0;
                while last < frames {
                    let s = b.published();
                    let n = s.len() / 2;
                    assert!(n >= last, "the watermark went back");
                    // Check the newly published part (and always the last frame seen).
                    for f in last.saturating_sub(1)..n {
                        assert_eq!(s[f * 2], f as f32);
                        assert_eq!(s[f * 2 + 1], -(f as f32));
                        checked += 1;
                    }
                    last = n;
                }
                checked
            })
        };
        {
            let mut w = b.writer().unwrap();
            let mut chunk = Vec::new();
            let mut f = 0;
            while f < frames {
                chunk.clear();
                for i in f..(f + 977).min(frames) {
                    chunk.push(i as f32);
                    chunk.push(-(i as f32));
                }
                f += w.append(&chunk);
            }
        }
        assert!(reader.join().unwrap() >= frames);
    }

    fn ramp(from: usize, n: usize) -> Vec<f32> {
        (from..from + n).map(|i| i as f32).collect()
    }

    /// A region decoded ahead of the front is readable on its own, the gap between reads as
    /// not decoded, and once the front reaches the region it takes it in.
    #[test]
    fn a_region_beyond_the_front_is_published_then_taken_in_by_the_front() {
        let b = StemBuffer::silent(1, 100);
        let mut w = b.writer().unwrap();
        assert_eq!(w.append(&ramp(0, 10)), 10);
        w.focus(50);
        assert_eq!(b.region(), None, "nothing written at the focus yet");
        assert_eq!(w.write_at(50, &ramp(50, 20)), 0);
        assert_eq!(b.region(), Some((50, 70)));
        assert_eq!(b.ready_frames(), 10);
        let (s, end) = b.readable_from(55);
        assert_eq!((s, end), (&ramp(55, 15)[..], 70));
        assert_eq!(b.readable_from(5), (&ramp(5, 5)[..], 10));
        assert_eq!(b.readable_from(10), (&[] as &[f32], 10));
        assert_eq!(b.readable_from(70), (&[] as &[f32], 70));
        assert!(b.ready(50, 20) && b.ready(0, 10) && b.ready(99, 0));
        assert!(!b.ready(45, 10) && !b.ready(60, 11) && !b.ready(5, 6));
        // Written frames are never written again: other values there are ignored.
        w.write_at(60, &[-1.0; 5]);
        assert_eq!(b.readable_from(60).0[0], 60.0);
        // The front fills the gap and runs into the region: the watermark jumps over it.
        assert_eq!(w.append(&ramp(10, 40)), 40);
        assert_eq!(b.ready_frames(), 70);
        assert_eq!(b.region(), None);
        assert_eq!(w.append(&ramp(70, 5)), 5);
        assert_eq!(&b.published()[..75], &ramp(0, 75)[..]);
        drop(w);
        assert!(b.is_complete());
    }

    /// A second seek moves the published region; the first region's samples stay and the
    /// front takes them in on its way. Hostile positions: past the end, partly past the
    /// end, overlapping what is written, a partial frame.
    #[test]
    fn a_moved_focus_keeps_the_old_region_for_the_front_and_odd_writes_are_safe() {
        let b = StemBuffer::silent(2, 100);
        let mut w = b.writer().unwrap();
        let st = |from: usize, n: usize| -> Vec<f32> {
            (from..from + n)
                .flat_map(|i| [i as f32, -(i as f32)])
                .collect()
        };
        w.focus(20);
        w.write_at(20, &st(20, 10));
        assert_eq!(b.region(), Some((20, 30)));
        w.focus(60);
        assert_eq!(b.region(), None);
        w.write_at(60, &st(60, 10));
        assert_eq!(b.region(), Some((60, 70)));
        assert_eq!(b.readable_from(25).1, 25, "the old region is not published");
        assert!(w.is_written(25) && !w.is_written(30));
        assert_eq!(w.next_unwritten(20), 30);
        assert_eq!(w.next_unwritten(0), 0);
        // Past the capacity: dropped; partly past: the rest written; a partial frame.
        assert_eq!(w.write_at(500, &st(500, 3)), 3);
        assert_eq!(w.write_at(98, &st(98, 5)), 3);
        assert_eq!(w.write_at(90, &[1.0, 2.0, 3.0]), 0);
        assert!(w.is_written(90) && !w.is_written(91) && w.is_written(99));
        // Overlapping a written interval from both sides.
        w.write_at(15, &st(15, 20));
        assert_eq!(w.next_unwritten(15), 35);
        assert_eq!(w.append(&st(0, 100)), 100);
        assert_eq!(b.ready_frames(), 100);
        let p = b.published();
        for f in (0..100).filter(|&f| f != 90) {
            assert_eq!((p[f * 2], p[f * 2 + 1]), (f as f32, -(f as f32)), "{f}");
        }
        assert_eq!((p[180], p[181]), (1.0, 2.0));
    }

    /// A reader on another thread, while the writer alternates between a region and the
    /// front, sees only finished frames (frame i holds i) in either part.
    #[test]
    fn a_reader_sees_only_finished_frames_in_the_front_and_the_region() {
        let frames = 100_000;
        let b = Arc::new(StemBuffer::silent(1, frames));
        let reader = {
            let b = b.clone();
            std::thread::spawn(move || {
                let mut seen = 0usize;
                while !b.is_complete() {
                    for at in [0, 1_000, 50_000, 70_000, 99_999] {
                        let (s, end) = b.readable_from(at);
                        assert_eq!(s.len(), end - at);
                        for (k, &x) in s.iter().enumerate().step_by(97) {
                            assert_eq!(x, (at + k) as f32);
                        }
                        seen += s.len();
                    }
                }
                seen
            })
        };
        {
            let mut w = b.writer().unwrap();
            w.focus(60_000);
            let (mut front, mut region) = (0, 60_000);
            while front < frames {
                if region < frames {
                    w.write_at(region, &ramp(region, 501));
                    region += 501;
                }
                front += w.append(&ramp(front, 307));
                front = front.max(w.front());
            }
        }
        reader.join().unwrap();
    }
}
