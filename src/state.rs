//! State that survives power loss (filled in by the controls work).
