//! Which buses a stem plays on, decided from its name, its `song.json` `"bus"` and the
//! buses the config defines. Pure: the loader applies it (the mask goes into the `Song`)
//! and `stembox check` prints it, with the reason.

use crate::base::limits::MAX_BUSES;

/// Stems that go to the `cue` bus unless `song.json` says otherwise, when there is one.
pub const CUE_STEM_NAMES: [&str; 3] = ["click", "cue", "guide"];

/// A stem's routing: the mask over the bus order (bit 0: main), and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub mask: u8,
    /// `"song.json"`, `"default for click"`, `"default"`.
    pub why: String,
    /// Names in `song.json` that are no bus of the config (the stem goes to main then).
    pub unknown: Vec<String>,
}

impl Route {
    /// The bus names of `mask`, joined by `+`.
    pub fn names<'a>(&self, buses: &'a [String]) -> String {
        buses
            .iter()
            .enumerate()
            .filter(|(i, _)| self.mask & (1 << i) != 0)
            .map(|(_, n)| n.as_str())
            .collect::<Vec<&'a str>>()
            .join("+")
    }
}

/// Where the stem `stem` goes: `given` (its `song.json` `"bus"`, empty when not given)
/// among `buses` (the config's names, `main` first). Unknown names are left out (reported
/// in [`Route::unknown`]); when none of `given` is known the stem goes to main.
pub fn route(buses: &[String], stem: &str, given: &[String]) -> Route {
    let index = |name: &str| buses.iter().take(MAX_BUSES).position(|b| b == name);
    if !given.is_empty() {
        let mut mask = 0u8;
        let mut unknown = Vec::new();
        for name in given {
            match index(name) {
                Some(i) => mask |= 1 << i,
                None => unknown.push(name.clone()),
            }
        }
        let why = if mask == 0 {
            mask = 1;
            "song.json names no bus of the config: main".to_string()
        } else {
            "song.json".to_string()
        };
        return Route { mask, why, unknown };
    }
    let lower = stem.to_ascii_lowercase();
    if let (Some(default), Some(cue)) = (CUE_STEM_NAMES.iter().find(|&&n| n == lower), index("cue"))
    {
        return Route {
            mask: 1 << cue,
            why: format!("default for {default}"),
            unknown: Vec::new(),
        };
    }
    Route {
        mask: 1,
        why: "default".into(),
        unknown: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_given_and_unknown_names() {
        let b = names(&["main", "cue", "fx"]);
        let r = route(&b, "drums", &[]);
        assert_eq!((r.mask, r.why.as_str()), (1, "default"));
        let r = route(&b, "Click", &[]);
        assert_eq!((r.mask, r.why.as_str()), (0b10, "default for click"));
        assert_eq!(r.names(&b), "cue");
        assert_eq!(route(&b, "guide", &[]).mask, 0b10);
        // No cue bus: click stays on main.
        assert_eq!(route(&names(&["main"]), "click", &[]).mask, 1);
        // song.json wins over the name.
        let r = route(&b, "click", &names(&["main"]));
        assert_eq!((r.mask, r.why.as_str()), (1, "song.json"));
        let r = route(&b, "keys", &names(&["main", "cue"]));
        assert_eq!((r.mask, r.names(&b)), (0b11, "main+cue".to_string()));
        let r = route(&b, "keys", &names(&["fx", "nope"]));
        assert_eq!((r.mask, r.unknown.clone()), (0b100, names(&["nope"])));
        // Hostile: nothing known, empty name, control characters: main, reported.
        let r = route(&b, "keys", &names(&["", "mai\u{0}n", "MAIN"]));
        assert_eq!(r.mask, 1);
        assert_eq!(r.unknown.len(), 3);
        assert!(r.why.contains("main"));
    }
}
