//! The loader thread (`stembox-loader`): takes song requests (setlist indices) from control
//! and starts each song's decode on a thread of its own (`stembox-load`), waiting only until
//! that song is playable before taking the next request, so a song asked for while another
//! still decodes its tail starts at once. What it finds goes back through the `report`
//! callback control gives it ([`LoadReport`]); it never blocks control.

use super::*;
use std::thread::JoinHandle;

/// What a load tells control. Loader threads.
#[derive(Debug)]
pub enum LoadReport {
    /// The song at `index` is playable (or could not be loaded, and why).
    Playable {
        index: usize,
        song: Result<Arc<Song>, String>,
    },
    /// A line worth showing (a stem's damage, a `song.json` problem).
    Warning(String),
}

/// The running loader thread. Dropping it ends the request queue: the dispatcher stops
/// after the song it waits for is playable. Decodes already running finish on their own
/// threads (a decode stops only at a packet boundary; [`LoadOptions::cancel`] calls it off
/// there), so the drop never waits for a long decode: the dispatcher is detached, not joined.
pub struct LoaderThread {
    requests: mpsc::Sender<usize>,
    _dispatcher: JoinHandle<()>,
}

impl LoaderThread {
    /// Starts the loader for `songs` (setlist order) at the device `rate`. Control thread.
    /// `report` returns false once control is gone; the dispatcher then stops.
    pub fn spawn(
        songs: Arc<[SongEntry]>,
        rate: u32,
        opts: LoadOptions,
        report: impl Fn(LoadReport) -> bool + Send + Sync + 'static,
    ) -> std::io::Result<LoaderThread> {
        let (tx, rx) = mpsc::channel::<usize>();
        let report = Arc::new(report);
        let dispatcher = std::thread::Builder::new()
            .name("stembox-loader".into())
            .spawn(move || {
                for index in rx {
                    let (playable_tx, playable) = mpsc::channel::<()>();
                    let (songs, opts, report2) = (songs.clone(), opts.clone(), report.clone());
                    let song_thread = std::thread::Builder::new()
                        .name("stembox-load".into())
                        .spawn(move || {
                            load_one(&songs[index], index, rate, &opts, &*report2, &playable_tx)
                        });
                    if let Err(e) = song_thread {
                        let song = Err(format!("cannot start a loader thread: {e}"));
                        if !report(LoadReport::Playable { index, song }) {
                            break;
                        }
                        continue;
                    }
                    // Either a word or the thread's end (a send or a panic).
                    let _ = playable.recv();
                }
            })?;
        Ok(LoaderThread {
            requests: tx,
            _dispatcher: dispatcher,
        })
    }

    /// Asks for the song at `index`; false when the loader has stopped. Control thread.
    pub fn load(&self, index: usize) -> bool {
        self.requests.send(index).is_ok()
    }
}

/// Loads one song on the calling (`stembox-load`) thread and reports it playable; a decoder
/// panic becomes an error for that song, never a song change that waits for ever.
fn load_one(
    entry: &SongEntry,
    index: usize,
    rate: u32,
    opts: &LoadOptions,
    report: &(dyn Fn(LoadReport) -> bool + Send + Sync),
    playable: &mpsc::Sender<()>,
) {
    let mut handed = false;
    let budget = opts.budget_bytes as usize;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        load_song_progressive(entry, rate, opts, &mut |s, warnings| {
            handed = true;
            for w in warnings {
                report(LoadReport::Warning(w));
            }
            let song = if s.ram_bytes() > budget {
                Err(format!(
                    "song {} needs {} MB, over memory.budget_mb",
                    entry.name,
                    s.ram_bytes() / 1048576
                ))
            } else {
                Ok(s)
            };
            report(LoadReport::Playable { index, song });
            let _ = playable.send(());
        })
    }))
    .unwrap_or_else(|_| {
        Err(LoadError {
            message: format!("song {}: the decoder failed (panic)", entry.name),
        })
    });
    match r {
        Ok(later) => later.into_iter().for_each(|w| {
            report(LoadReport::Warning(w));
        }),
        Err(e) if !handed => {
            report(LoadReport::Playable {
                index,
                song: Err(e.to_string()),
            });
            let _ = playable.send(());
        }
        Err(e) => {
            report(LoadReport::Warning(e.to_string()));
        }
    }
}

/// What [`load_now`] says as it goes.
pub enum LoadNowReport<'a> {
    Playable(&'a Song, std::time::Duration),
    Loaded(&'a str, std::time::Duration),
    Warning(String),
}

/// Loads a song at `rate` and returns it as soon as it is playable (its first
/// [`PLAYABLE_LEAD_S`] decoded); a `stembox-load` thread goes on decoding the rest into it
/// and reports what it finds. Control thread, at start (`run`'s first song, `play`).
pub fn load_now(
    entry: &SongEntry,
    rate: u32,
    opts: &LoadOptions,
    report: impl Fn(LoadNowReport<'_>) + Send + 'static,
) -> Result<Arc<Song>, LoadError> {
    let t0 = std::time::Instant::now();
    let (tx, rx) = mpsc::channel();
    let name = entry.name.clone();
    let (entry, opts) = (entry.clone(), opts.clone());
    let spawned = std::thread::Builder::new()
        .name("stembox-load".into())
        .spawn(move || {
            let mut handed = false;
            let r = load_song_progressive(&entry, rate, &opts, &mut |song, warnings| {
                for w in warnings {
                    report(LoadNowReport::Warning(w));
                }
                report(LoadNowReport::Playable(&song, t0.elapsed()));
                handed = true;
                let _ = tx.send(Ok(song));
            });
            match r {
                Ok(later) => {
                    for w in later {
                        report(LoadNowReport::Warning(w));
                    }
                    report(LoadNowReport::Loaded(&entry.name, t0.elapsed()));
                }
                Err(e) if !handed => {
                    let _ = tx.send(Err(e));
                }
                Err(e) => report(LoadNowReport::Warning(e.to_string())),
            }
        })
        .map_err(|e| LoadError {
            message: format!("cannot start the loader thread: {e}"),
        })?;
    match rx.recv() {
        Ok(r) => r,
        Err(_) => {
            // The thread ended without a word: it panicked (a decoder bug).
            let _ = spawned.join();
            Err(LoadError {
                message: format!("song {name}: the decoder failed (panic)"),
            })
        }
    }
}
