//! The stretch thread (`stembox-stretch`): runs the time-stretcher and the pitch resampler
//! ahead of the audio thread whenever speed or key is not 100 % / 0 st. The audio thread's
//! side of the pipe (rings, crossfade, bypass) is `crate::rt::stretch`; the worker here
//! imports only its protocol (sizes, messages, ring ends). Spawned by control, with its
//! handle ([`StretchWorkerHandle`]) joined on drop.

pub mod worker;

pub use worker::{
    StretchWorker, StretchWorkerHandle, WorkerPriority, WorkerProgress, WorkerScheduling,
};
