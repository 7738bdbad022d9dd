//! What the remote threads (HTTP and OSC) and the control thread exchange.
//!
//! Requests go one way: a page tap, a script's POST or an OSC message becomes one line in the
//! console's grammar (`mute drums`, `song 3`, `speed 80`), handed to control through a
//! [`RequestSink`]; control parses it with the console's parser, so every remote control is
//! the same `Action` through the same controller as buttons, MIDI and the console. The one
//! answer line comes back through the request's [`Reply`], which never blocks control.
//!
//! State goes the other way: control publishes a [`SongView`] (changes with the song) and a
//! [`LiveView`] (transport, mixer, health) on the [`Board`]; the remote threads wait on it
//! and serialise each published value once for all their clients.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;

/// Which remote a request came from (shown in logs and counted apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestOrigin {
    Web,
    Osc,
}

/// One request for control: a line in the console's grammar and where its answer goes.
#[derive(Debug)]
pub struct RemoteRequest {
    pub line: String,
    pub origin: RequestOrigin,
    pub reply: Reply,
}

/// Where control sends the one answer line of a request. Sending never blocks: the channel
/// holds one answer, and a requester that has gone away simply never reads it.
#[derive(Debug)]
pub struct Reply(SyncSender<String>);

impl Reply {
    /// A reply and the receiver the requesting remote thread waits on.
    pub fn channel() -> (Reply, Receiver<String>) {
        let (tx, rx) = mpsc::sync_channel(1);
        (Reply(tx), rx)
    }

    /// Called from the control thread with the answer line.
    pub fn send(self, answer: String) {
        let _ = self.0.try_send(answer);
    }
}

/// Hands a request to control; false when control is gone or its queue is full (the remote
/// answers "busy" then). Called from the remote threads.
pub type RequestSink = Arc<dyn Fn(RemoteRequest) -> bool + Send + Sync>;

pub use crate::model::board::{Board, Published};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::view::LiveView;
    use std::time::Duration;

    #[test]
    fn a_reader_wakes_on_publish_and_sees_the_newest() {
        let board = Arc::new(Board::default());
        let b = board.clone();
        let waiter = std::thread::spawn(move || b.wait_newer(0, Duration::from_secs(10)));
        let live = LiveView {
            pos_s: 12.5,
            ..LiveView::default()
        };
        board.publish_live(live);
        let got = waiter.join().unwrap();
        assert_eq!(got.seq, 1);
        assert_eq!(got.live.pos_s, 12.5);
        assert_eq!(got.song_seq, 0);
    }

    #[test]
    fn a_reply_never_blocks_even_when_nobody_reads() {
        let (reply, rx) = Reply::channel();
        drop(rx);
        reply.send("ok".into());
        let (reply, rx) = Reply::channel();
        reply.send("ok: playing".into());
        assert_eq!(rx.recv().unwrap(), "ok: playing");
    }
}
