//! Status LEDs (filled in by the controls work).
