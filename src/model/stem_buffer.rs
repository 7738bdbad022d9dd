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

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Interleaved f32 samples of a mono (1) or stereo (2) stem, decoded front to back.
pub struct StemBuffer {
    channels: usize,
    /// `capacity_frames * channels` samples; written through `UnsafeCell` by the writer.
    data: Box<[UnsafeCell<f32>]>,
    /// Frames from the start that are decoded and will never change again.
    ready_frames: AtomicUsize,
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
        Some(StemWriter {
            buf: self,
            at_frames: self.ready_frames.load(Ordering::Relaxed),
        })
    }
}

/// Appends decoded frames to a [`StemBuffer`] and publishes them. Exactly one exists per
/// buffer. Dropping it publishes the rest of the buffer as the silence it was allocated
/// with, so a stem whose decode stopped early (error, short file, called off) reads as
/// complete and the engine does not wait for frames that will never come.
pub struct StemWriter<'a> {
    buf: &'a StemBuffer,
    /// Frames written and published (the watermark; only this writer moves it).
    at_frames: usize,
}

impl StemWriter<'_> {
    /// Copies whole frames of `samples` (interleaved at the buffer's channels) after the
    /// watermark and publishes them. Frames past the capacity are dropped (a header that
    /// claimed too few). Returns the frames taken.
    pub fn append(&mut self, samples: &[f32]) -> usize {
        let ch = self.buf.channels;
        let frames = (samples.len() / ch).min(self.remaining_frames());
        let start = self.at_frames * ch;
        let n = frames * ch;
        // SAFETY: `start..start + n` lies within `data` (frames <= remaining) and at or
        // above the watermark, where no reader looks and no other writer exists; the
        // pointer comes from the `UnsafeCell`s, so writing through `&self.buf` is allowed.
        unsafe {
            let dst = UnsafeCell::raw_get(self.buf.data.as_ptr().add(start));
            core::ptr::copy_nonoverlapping(samples.as_ptr(), dst, n);
        }
        self.at_frames += frames;
        self.buf
            .ready_frames
            .store(self.at_frames, Ordering::Release);
        frames
    }

    /// Frames written so far.
    pub fn written_frames(&self) -> usize {
        self.at_frames
    }

    /// Frames that still fit.
    pub fn remaining_frames(&self) -> usize {
        self.buf.capacity_frames() - self.at_frames
    }
}

impl Drop for StemWriter<'_> {
    fn drop(&mut self) {
        // The rest is zeros from the allocation and was never written: publishing it is
        // publishing silence.
        self.buf
            .ready_frames
            .store(self.buf.capacity_frames(), Ordering::Release);
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
}
