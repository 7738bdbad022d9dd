//! Buttons: evdev input decoding, gestures and key map (filled in by the controls work).
