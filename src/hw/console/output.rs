//! The console's output queue, an owned value ([`ConsoleOutput`]): lines go into a bounded
//! queue that its `stembox-out` thread writes to stdout (or, in tests, to any writer), so
//! no caller ever blocks on a console nobody reads. Lines that do not fit are dropped and
//! counted (`console_dropped` on the stats line). The console reader paces its input on it
//! ([`OutputPacer`]): a pasted burst waits for room rather than losing answers.

use crate::base::text::escape_for_console;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lines the queue holds before it drops them: a few seconds of a busy console (answers,
/// stats, notices) at 115200 baud.
pub const OUTPUT_QUEUE_LINES: usize = 256;

/// Lines of output (queued plus answers still to come) at which the console reader waits
/// before taking the next command: room is left for stats lines and notices.
pub const PACE_LINES: u64 = (OUTPUT_QUEUE_LINES as u64) * 3 / 4;

/// Output that has not moved for this long while the reader waits is nobody reading.
pub const OUTPUT_STALL: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    written: AtomicU64,
    dropped: AtomicU64,
    /// Console actions the control thread has carried out (and answered).
    actions_done: AtomicU64,
    /// Console actions handed to the control thread (by [`OutputPacer::before_send`]).
    actions_sent: AtomicU64,
}

/// The output queue and its writer thread. Made once by `main_with` ([`ConsoleOutput::stdout`])
/// and shared (`Arc`) with every thread that prints; the writer thread ends when the last
/// `Arc` is dropped.
#[derive(Debug)]
pub struct ConsoleOutput {
    tx: Option<SyncSender<String>>,
    counts: Arc<Counters>,
}

impl ConsoleOutput {
    /// The queue to stdout, with its `stembox-out` writer thread. Main thread, at start.
    pub fn stdout() -> Arc<ConsoleOutput> {
        ConsoleOutput::to_writer(|| io::stdout().lock())
    }

    /// The queue to whatever `writer` gives for each line (stdout, or a test's buffer).
    pub fn to_writer<W: Write>(writer: impl Fn() -> W + Send + 'static) -> Arc<ConsoleOutput> {
        let (tx, rx) = mpsc::sync_channel::<String>(OUTPUT_QUEUE_LINES);
        let counts = Arc::new(Counters::default());
        let c = counts.clone();
        let spawned = std::thread::Builder::new()
            .name("stembox-out".into())
            .spawn(move || {
                for line in rx {
                    let mut out = writer();
                    // A write error (the reader hung up) loses the line, like a full queue.
                    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                        c.dropped.fetch_add(1, Relaxed);
                    }
                    drop(out);
                    c.written.fetch_add(1, Relaxed);
                }
            });
        Arc::new(ConsoleOutput {
            tx: spawned.ok().map(|_| tx),
            counts,
        })
    }

    /// One line, escaped ([`escape_for_console`]). Never blocks: queued for the writer, or
    /// dropped and counted when the queue is full because nobody reads. Any thread except
    /// the audio thread.
    pub fn say(&self, line: &str) {
        let Some(tx) = &self.tx else {
            self.counts.dropped.fetch_add(1, Relaxed);
            return;
        };
        match tx.try_send(escape_for_console(line).into_owned()) {
            Ok(()) => {
                self.counts.queued.fetch_add(1, Relaxed);
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counts.dropped.fetch_add(1, Relaxed);
            }
        }
    }

    /// Lines dropped so far because the output did not take them (`console_dropped`).
    pub fn dropped_lines(&self) -> u64 {
        self.counts.dropped.load(Relaxed)
    }

    /// The control thread has carried out a console action and queued its answer. Control
    /// thread, once per console action it handles.
    pub fn action_done(&self) {
        self.counts.actions_done.fetch_add(1, Relaxed);
    }

    /// Waits until every queued line is written, at most `timeout`; `false` if some were not
    /// (stdout blocked). The main thread calls it before the process exits.
    pub fn flush(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while self.counts.written.load(Relaxed) < self.counts.queued.load(Relaxed) {
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }
}

/// Whether the console reader should wait before taking the next command. Pure: `backlog`
/// lines queued and not yet written, `in_flight` commands sent and not yet answered,
/// `stalled_for` how long lines have waited with none written. With nothing queued, the
/// reader waits for the control thread to answer (it never blocks, so it will).
pub fn should_wait_for_output(backlog: u64, in_flight: u64, stalled_for: Duration) -> bool {
    backlog.saturating_add(in_flight) >= PACE_LINES && (backlog == 0 || stalled_for < OUTPUT_STALL)
}

/// Back-pressure from console output to console input: kept by the console reader, asked
/// before each command is handed to the control thread. It waits (sleeping, on the console
/// thread only) while the output queue would overflow, unless the output has stalled.
#[derive(Debug)]
pub struct OutputPacer {
    out: Arc<ConsoleOutput>,
    /// Lines written, as last seen, and since when (while lines wait) it has not moved.
    progress: Option<(u64, Instant)>,
}

impl OutputPacer {
    pub fn new(out: Arc<ConsoleOutput>) -> OutputPacer {
        OutputPacer {
            out,
            progress: None,
        }
    }

    /// Waits until there is room for one more answer (or the output has stalled), then
    /// counts the command as sent. Console thread, before handing a command over.
    pub fn before_send(&mut self) {
        self.wait_for_room();
        self.out.counts.actions_sent.fetch_add(1, Relaxed);
    }

    /// Waits until there is room for one more line (or the output has stalled). Console
    /// thread, before a command or an answer of its own.
    pub fn wait_for_room(&mut self) {
        let c = &self.out.counts;
        loop {
            let written = c.written.load(Relaxed);
            let done = c.actions_done.load(Relaxed);
            let backlog = c.queued.load(Relaxed).saturating_sub(written);
            let in_flight = c.actions_sent.load(Relaxed).saturating_sub(done);
            // Stalled: lines wait and none has been written for a while (an empty queue is
            // an idle writer, not a stalled one). Commands answered are no progress: with
            // nobody reading, each answer would otherwise restart the wait.
            let now = Instant::now();
            let since = match self.progress {
                Some((w, t)) if w == written && backlog > 0 => t,
                _ => {
                    self.progress = Some((written, now));
                    now
                }
            };
            if !should_wait_for_output(backlog, in_flight, now.duration_since(since)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// A `Write` that sends each complete line through a [`ConsoleOutput`]: the console's
/// answers share the queue (and its order) with the control thread's lines, and wait for
/// room like commands do ([`OutputPacer`]).
pub struct QueuedLines {
    partial: Vec<u8>,
    pacer: OutputPacer,
}

impl QueuedLines {
    pub fn new(out: Arc<ConsoleOutput>) -> QueuedLines {
        QueuedLines {
            partial: Vec::new(),
            pacer: OutputPacer::new(out),
        }
    }
}

impl Write for QueuedLines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &b in buf {
            if b == b'\n' {
                self.pacer.wait_for_room();
                self.pacer.out.say(&String::from_utf8_lossy(&self.partial));
                self.partial.clear();
            } else if self.partial.len() < 64 * 1024 {
                self.partial.push(b);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
