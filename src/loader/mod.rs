//! Decoding songs into RAM: symphonia (FLAC, WAV 16/24/32-bit int and float, MP3, Vorbis,
//! AAC and ALAC in MP4; NI Stems files in [`nistem`]),
//! mono placed in both channels, resampled to the device rate with rubato's FFT resampler,
//! stems padded with silence to the longest. Stems decode in parallel on all cores.
//! Loader or control thread; the audio thread only ever sees the finished [`Song`].
//!
//! Files on a card can lie. Nothing here is sized from a header: a stem's first
//! reservation is bounded by what its file can hold ([`plausible_frames`]) and by the
//! memory budget, and decoding grows the buffer as real samples arrive. The budget
//! (`memory.budget_mb`, [`LoadOptions`]) holds for every song: estimated from the
//! headers before decoding (a song that cannot fit is refused at once) and enforced while
//! decoding (the headers may lie), so an excess is a one-line error naming the stem,
//! never an allocation failure that takes the box down. Sample rates outside
//! [`MIN_STEM_RATE_HZ`]..=[`MAX_STEM_RATE_HZ`] are refused (a resampler for 1 Hz or
//! 4294967295 Hz would need gigabytes), NaN or infinite float samples become silence, and
//! samples beyond +24 dBFS are clamped there.

//!
//! The loader thread ([`LoaderThread`], `stembox-loader`) takes song requests from control
//! and starts one decode per song; the files are split by job: [`options`] (what a load is
//! held to), [`error`], [`budget`], [`source`] (opening and probing), [`decode`],
//! [`resample`], [`streaming`] (a song's stems in parallel, progressively) and [`routing`]
//! (`song.json` applied).

pub mod budget;
pub mod decode;
pub mod error;
pub mod nistem;
pub mod options;
pub mod resample;
pub mod routing;
pub mod source;
pub mod streaming;
pub mod thread;

pub use budget::*;
pub use decode::*;
pub use error::*;
pub use options::*;
pub use resample::*;
use routing::*;

pub use source::*;
pub use streaming::*;
pub use thread::*;

pub(crate) use crate::model::library::{SongEntry, StemFile};
pub(crate) use crate::model::song::{Section, Song, Stem};
pub(crate) use crate::model::stem_buffer::StemWriter;
pub(crate) use crate::rt::MAX_STEMS;
pub(crate) use rubato::audioadapter_buffers::direct::InterleavedSlice;
pub(crate) use rubato::{Fft, FixedSync, Indexing, Resampler};
pub(crate) use std::fmt;
pub(crate) use std::path::Path;
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
pub(crate) use std::sync::{mpsc, Arc};
pub(crate) use symphonia::core::codecs::audio::AudioDecoderOptions;
pub(crate) use symphonia::core::errors::Error as SymError;
pub(crate) use symphonia::core::formats::probe::Hint;
pub(crate) use symphonia::core::formats::{FormatOptions, SeekMode, SeekTo, TrackType};
pub(crate) use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
pub(crate) use symphonia::core::meta::MetadataOptions;
pub(crate) use symphonia::core::units::Timestamp;

#[cfg(test)]
mod tests;
