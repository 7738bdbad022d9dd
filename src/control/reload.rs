//! What a SIGHUP reload changes, decided without I/O: given the running config and the one
//! just read (and checked), which parts apply now and which need a restart. The session
//! reads the file, rescans the library and carries the plan out.
//!
//! `audio`, `rt` and `state_dir` need the device reopened at another rate or the process
//! restarted, and `midi` the sequencer ports opened again: changes there are reported as
//! needing a restart and the running values stay. `buttons` (the input thread restarts),
//! `leds`, `stats`, `memory` and the library apply at once.

use crate::storage::config::Config;

/// The outcome of comparing the running config with a new one.
#[derive(Clone, Debug, PartialEq)]
pub struct ReloadPlan {
    /// The config to run with from now on: the new one, with the parts that need a
    /// restart kept as they run.
    pub cfg: Config,
    /// Top-level keys that changed but need a restart, in the order the config lists them.
    pub needs_restart: Vec<&'static str>,
    pub buttons_changed: bool,
    pub leds_changed: bool,
}

/// Plans a reload from `running` to `new`. Pure.
pub fn plan(running: &Config, mut new: Config) -> ReloadPlan {
    let mut needs_restart = Vec::new();
    if new.audio != running.audio {
        needs_restart.push("audio");
        new.audio = running.audio.clone();
    }
    if new.rt != running.rt {
        needs_restart.push("rt");
        new.rt = running.rt.clone();
    }
    if new.midi != running.midi {
        needs_restart.push("midi");
        new.midi = running.midi.clone();
    }
    if new.state_dir != running.state_dir {
        needs_restart.push("state_dir");
        new.state_dir = running.state_dir.clone();
    }
    ReloadPlan {
        buttons_changed: new.buttons != running.buttons,
        leds_changed: new.leds != running.leds,
        needs_restart,
        cfg: new,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> Config {
        Config::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn an_unchanged_config_changes_nothing() {
        let c = cfg(r#"{"library": "/songs"}"#);
        let p = plan(&c, c.clone());
        assert_eq!(p.cfg, c);
        assert!(p.needs_restart.is_empty());
        assert!(!p.buttons_changed && !p.leds_changed);
    }

    #[test]
    fn device_rt_midi_and_state_changes_wait_for_a_restart_and_keep_the_running_values() {
        let running = cfg(r#"{"audio": {"rate": 48000}, "rt": {"priority": 70}}"#);
        let new = cfg(
            r#"{"audio": {"rate": 44100}, "rt": {"priority": 80}, "state_dir": "/elsewhere",
                "midi": {"inputs": ["FCB1010"]}, "stats": {"interval_s": 5}}"#,
        );
        let p = plan(&running, new);
        assert_eq!(p.needs_restart, ["audio", "rt", "midi", "state_dir"]);
        assert_eq!(p.cfg.audio, running.audio);
        assert_eq!(p.cfg.rt, running.rt);
        assert_eq!(p.cfg.midi, running.midi);
        assert_eq!(p.cfg.state_dir, running.state_dir);
        // What applies now does.
        assert_eq!(p.cfg.stats.interval_s, 5);
    }

    #[test]
    fn buttons_leds_memory_and_library_apply_now() {
        let running = cfg(r#"{"library": "/a"}"#);
        let new = cfg(r#"{"library": "/b", "memory": {"budget_mb": 512},
                "buttons": {"devices": ["/dev/input/event3"]},
                "leds": {"playing": {"chip": "/dev/gpiochip0", "offset": 17}}}"#);
        let p = plan(&running, new.clone());
        assert!(p.needs_restart.is_empty());
        assert!(p.buttons_changed && p.leds_changed);
        assert_eq!(p.cfg, new);
    }
}
