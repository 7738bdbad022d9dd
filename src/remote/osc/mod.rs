//! OSC for control surfaces (TouchOSC, Open Stage Control, Bitfocus Companion): a UDP
//! address space that mirrors the actions, and state sent back to the clients that
//! subscribe. Runs on the `stembox-osc` thread ([`thread::OscThread`]) when
//! `remote.osc_listen` is set; every message becomes one console line for control
//! ([`codec::to_line`]), exactly as the page and the console do, so OSC never talks to the
//! engine and never blocks control.
//!
//! Commands (int `i`, float `f`, string `s`; a number may be any OSC number type, a flag
//! `0`/`1`, a float 0..1 or `T`/`F`):
//!
//! | address | arguments | console line |
//! |---|---|---|
//! | `/stembox/play`, `/pause`, `/stop`, `/next`, `/prev` | none, or 1 (0 is ignored: a button's release) | `play`, ... |
//! | `/stembox/next/section`, `/prev/section` | as above | `next section`, `prev section` |
//! | `/stembox/song` | `i` setlist number (1 = first) or `s` folder name | `song 3` |
//! | `/stembox/section` | `i` number or `s` name | `section chorus` |
//! | `/stembox/stem/<name>/mute` | flag; none toggles | `mute <name>` / `unmute <name>` / `toggle <name>` |
//! | `/stembox/stem/<name>/solo` | flag; none toggles | `solo <name>` / `unsolo <name>` |
//! | `/stembox/stem/<name>/gain` | `f` dB | `gain <name> <dB>` |
//! | `/stembox/stem/<name>/pan` | `f` -1 (left) .. 1 (right) | `pan <name> <pan>` |
//! | `/stembox/bus/<name>/gain` | `f` dB | `bus <name> <dB>` |
//! | `/stembox/volume` | `f` dB | `volume <dB>` |
//! | `/stembox/volume/up`, `/volume/down` | trigger | `volume up` / `volume down` |
//! | `/stembox/speed` | `f` percent; none asks | `speed 80` |
//! | `/stembox/speed/up`, `/speed/down` | trigger | `speed up` / `speed down` |
//! | `/stembox/pitch` | `f` semitones; none asks | `pitch -2` |
//! | `/stembox/pitch/up`, `/pitch/down` | trigger | `pitch up` / `pitch down` |
//! | `/stembox/seek` | `f` seconds | `seek 42.5` |
//! | `/stembox/loop` | `f f` start and end in seconds | `loop 12 20` |
//! | `/stembox/loop/a`, `/loop/b`, `/loop/on`, `/loop/off` | trigger | `loop a`, `loop b`, `loop on` (toggles), `loop off` |
//! | `/stembox/loop/ramp` | `f f [f] [flag]` start %, step %, end %, count-in | `loop ramp 70 5 100 countin` |
//! | `/stembox/click` | flag; none toggles | `click on` / `click off` / `click` |
//! | `/stembox/countin` | trigger | `countin` (toggles) |
//! | `/stembox/mix` | `s` `stems` or `master`; none toggles | `mix master` |
//! | `/stembox/status` | trigger | `status` |
//! | `/stembox/subscribe` | none, or `i` port to send to on the sender's host | (state is sent back) |
//! | `/stembox/unsubscribe` | none | |
//!
//! Each command's answer line comes back to the sender as `/stembox/reply s`
//! (`ok: drums muted`, `error: ...`). A subscriber is sent the whole state at once and then
//! what changes: `/stembox/transport s`, `/stembox/pos f` (at most 10 a second),
//! `/stembox/song i s`, `/stembox/stem/<name>/mute i`, `.../solo i`, `.../gain f`,
//! `.../pan f`, `/stembox/bus/<name>/gain f`, `/stembox/volume f`, `/stembox/speed f`,
//! `/stembox/pitch f`, `/stembox/click i`, `/stembox/countin i`, `/stembox/loop/on i`,
//! `/stembox/loop/a f`, `/stembox/loop/b f`, `/stembox/section s`, `/stembox/bar i`,
//! `/stembox/beat i`, `/stembox/lyric s`, `/stembox/lyric/next s`, `/stembox/chord s`,
//! `/stembox/xruns i`. A subscription lapses after 60 s without a message from the client:
//! send `/stembox/subscribe` again now and then (it also resends the whole state, at most
//! 10 such dumps a second for all clients). OSC has no PIN: bind `remote.osc_listen` only
//! to a network you trust.
//!
//! Bundles are taken (nested up to 8 deep, 64 messages a packet) and act at once, whatever
//! their time tag. Address patterns (`*`, `?`, `[...]`, `{...}`) are not expanded: one
//! message is one command.

pub mod codec;
pub mod thread;

pub use codec::OscError;
pub use thread::OscThread;
