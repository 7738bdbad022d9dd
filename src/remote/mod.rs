//! The remote: the phone and tablet page, its JSON API and event stream (HTTP), and OSC for
//! control surfaces. Runs on threads of its own, spawned by control when `remote.listen` or
//! `remote.osc_listen` is set. It turns every request into a line of the console's grammar
//! for the control thread ([`link::RemoteRequest`]) and shows what control publishes
//! ([`link::Board`]); it never talks to the engine and never blocks control.

pub mod http;
pub mod link;
pub mod view;
