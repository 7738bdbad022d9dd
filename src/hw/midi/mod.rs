//! MIDI: foot controllers in and MIDI clock out, through the ALSA sequencer, on the `midi`
//! thread.
pub mod clock;
pub mod map;
