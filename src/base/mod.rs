//! The bottom layer: what every thread may use and what uses nothing above it. The limits
//! the layers agree on, the one clock, safe reads of files a user controls, the wording of
//! JSON errors (config, `song.json`, `setlist.json`, `state.json`), one text escaper and
//! errno in words. No thread of its own, no state.

pub mod clock;
pub mod errno;
pub mod fsread;
pub mod json_error;
pub mod limits;
pub mod text;
