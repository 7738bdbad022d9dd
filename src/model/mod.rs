//! The model: what a musician names and the control thread reasons about. No I/O here but
//! the library scan and the song.json reader, which only read.

pub mod action;
pub mod bus;
pub mod grammar;
pub mod library;
pub mod setlist;
pub mod song;
pub mod songmeta;
pub mod stem_buffer;
pub mod tempo;
