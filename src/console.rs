//! Serial-console command parsing (filled in by the controls work).
