//! The output buses as the audio thread sees them: a fixed table, built once before the
//! audio thread starts, of which output channels each bus feeds. A stem's routing is a
//! bitmask over this table (bit `i`: bus `i`), computed by the loader and carried by the
//! `Song`, so the engine routes without a lookup. Bus 0 is always `main`.

pub use crate::base::limits::MAX_BUSES;

/// One bus's output channels (0-based): a pair, or one channel (mono: the engine writes
/// `0.5 * (l + r)` there, as a 1-channel device gets today).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusOut {
    ch: [u8; 2],
    mono: bool,
}

impl BusOut {
    pub const fn stereo(left: u8, right: u8) -> BusOut {
        BusOut {
            ch: [left, right],
            mono: false,
        }
    }

    pub const fn mono(ch: u8) -> BusOut {
        BusOut {
            ch: [ch, ch],
            mono: true,
        }
    }

    /// The bus's output channels, 0-based: one or two.
    #[inline]
    pub fn channels(&self) -> &[u8] {
        if self.mono {
            &self.ch[..1]
        } else {
            &self.ch
        }
    }

    pub fn is_mono(&self) -> bool {
        self.mono
    }

    /// Left and right channel (the same one for a mono bus).
    #[inline]
    pub fn pair(&self) -> (usize, usize) {
        (self.ch[0] as usize, self.ch[1] as usize)
    }
}

/// Every bus of the box, `main` first. `Copy`: moved into the engine whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusTable {
    outs: [BusOut; MAX_BUSES],
    len: u8,
    /// The `cue` bus, where the count-in and the generated click go; `None`: main.
    cue: Option<u8>,
}

impl BusTable {
    /// Today's layout for a device of `channels`: `main` on outputs 1-2, or mono on output
    /// 1 for a 1-channel device.
    pub fn main_only(channels: usize) -> BusTable {
        let main = if channels >= 2 {
            BusOut::stereo(0, 1)
        } else {
            BusOut::mono(0)
        };
        BusTable {
            outs: [main; MAX_BUSES],
            len: 1,
            cue: None,
        }
    }

    /// A table of `outs` (`outs[0]` is `main`) for a device of `channels`, `cue` the index
    /// of the cue bus. Refuses what the engine could not play: no bus or more than
    /// [`MAX_BUSES`], a channel outside the device, a channel used twice, a bad `cue`.
    pub fn new(outs: &[BusOut], cue: Option<usize>, channels: usize) -> Result<BusTable, String> {
        if outs.is_empty() || outs.len() > MAX_BUSES {
            return Err(format!("{} buses, 1..={MAX_BUSES} allowed", outs.len()));
        }
        let mut used = 0u32;
        for (i, b) in outs.iter().enumerate() {
            for &c in b.channels() {
                if c as usize >= channels {
                    return Err(format!(
                        "bus {i} uses output {} but the device has {channels}",
                        c as usize + 1
                    ));
                }
                if used & (1 << c) != 0 {
                    return Err(format!("bus {i} uses output {} twice", c as usize + 1));
                }
                used |= 1 << c;
            }
        }
        if cue.is_some_and(|c| c == 0 || c >= outs.len()) {
            return Err("the cue bus must be another bus than main".into());
        }
        let mut table = BusTable::main_only(channels);
        table.outs[..outs.len()].copy_from_slice(outs);
        table.len = outs.len() as u8;
        table.cue = cue.map(|c| c as u8);
        Ok(table)
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buses in table order.
    #[inline]
    pub fn buses(&self) -> &[BusOut] {
        &self.outs[..self.len as usize]
    }

    /// Where the count-in and the generated click go: `cue` when there is one, else main.
    #[inline]
    pub fn click_bus(&self) -> BusOut {
        self.outs[self.cue.unwrap_or(0) as usize]
    }

    /// `mask` with bits for buses this table lacks cleared; nothing left means main, so a
    /// stem is never lost by a routing this table cannot honour.
    #[inline]
    pub fn effective_mask(&self, mask: u8) -> u8 {
        let all = ((1u16 << self.len) - 1) as u8;
        match mask & all {
            0 => 1,
            m => m,
        }
    }

    /// True when the only bus is stereo `main` on outputs 1-2 of a 2-channel device:
    /// today's layout, mixed by the fast path.
    pub fn is_plain_stereo(&self, channels: usize) -> bool {
        channels == 2 && self.len == 1 && self.outs[0] == BusOut::stereo(0, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_refuses_what_the_device_cannot_play() {
        let main = BusOut::stereo(0, 1);
        let cue = BusOut::stereo(2, 3);
        assert!(BusTable::new(&[main, cue], Some(1), 4).is_ok());
        assert!(BusTable::new(&[main, cue], Some(1), 3)
            .unwrap_err()
            .contains("output 4"));
        assert!(BusTable::new(&[main, BusOut::mono(1)], None, 4)
            .unwrap_err()
            .contains("twice"));
        assert!(BusTable::new(&[], None, 2).is_err());
        assert!(BusTable::new(&[main; 9], None, 8).is_err());
        assert!(BusTable::new(&[main, cue], Some(0), 4).is_err());
        assert!(BusTable::new(&[main, cue], Some(2), 4).is_err());
    }

    #[test]
    fn masks_for_missing_buses_fall_back_to_main() {
        let t = BusTable::main_only(2);
        assert_eq!(t.effective_mask(0b10), 1);
        assert_eq!(t.effective_mask(0), 1);
        let t = BusTable::new(&[BusOut::stereo(0, 1), BusOut::mono(2)], Some(1), 3).unwrap();
        assert_eq!(t.effective_mask(0b110), 0b10);
        assert_eq!(t.effective_mask(0b11), 0b11);
        assert_eq!(t.click_bus(), BusOut::mono(2));
        assert_eq!(BusTable::main_only(1).buses(), &[BusOut::mono(0)]);
        assert!(BusTable::main_only(2).is_plain_stereo(2));
        assert!(!BusTable::main_only(2).is_plain_stereo(4));
    }
}
