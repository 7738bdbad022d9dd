//! Linear gain ramps: the one tool that keeps every gain change free of clicks and zipper
//! noise. Pure arithmetic, audio thread.

/// A gain that moves linearly to its target over a fixed number of frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ramp {
    current: f32,
    target: f32,
    step: f32,
    remaining_frames: u32,
    length_frames: u32,
}

impl Ramp {
    /// A ramp resting at `value`; changes take `length_frames` frames.
    pub const fn new(value: f32, length_frames: u32) -> Ramp {
        Ramp {
            current: value,
            target: value,
            step: 0.0,
            remaining_frames: 0,
            length_frames: if length_frames == 0 { 1 } else { length_frames },
        }
    }

    /// Starts moving to `target` from wherever the ramp is now.
    pub fn set_target(&mut self, target: f32) {
        if target == self.target {
            return;
        }
        self.target = target;
        self.remaining_frames = self.length_frames;
        self.step = (target - self.current) / self.length_frames as f32;
    }

    /// Jumps to `value` at once (only where nothing is audible yet).
    pub fn snap(&mut self, value: f32) {
        self.current = value;
        self.target = value;
        self.remaining_frames = 0;
        self.step = 0.0;
    }

    pub fn current(&self) -> f32 {
        self.current
    }

    pub fn target(&self) -> f32 {
        self.target
    }

    /// True while the gain is still moving.
    pub fn is_moving(&self) -> bool {
        self.remaining_frames > 0
    }

    /// Frames until the ramp rests at its target.
    pub fn remaining_frames(&self) -> u32 {
        self.remaining_frames
    }

    /// The gain for the next frame; the ramp lands exactly on its target.
    #[inline]
    pub fn next_gain(&mut self) -> f32 {
        if self.remaining_frames == 0 {
            return self.current;
        }
        self.remaining_frames -= 1;
        if self.remaining_frames == 0 {
            self.current = self.target;
        } else {
            self.current += self.step;
        }
        self.current
    }
}

/// Frames of a ramp of `ms` milliseconds at `rate_hz`.
pub fn ms_to_frames(ms: u32, rate_hz: u32) -> u32 {
    ((ms as u64 * rate_hz as u64) / 1000).max(1) as u32
}

/// dB to linear gain; anything at or below -120 dB is silence.
pub fn db_to_gain(db: f32) -> f32 {
    if db <= -120.0 {
        0.0
    } else {
        10f32.powf(db / 20.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lands_exactly_on_target_after_length_frames() {
        let mut r = Ramp::new(1.0, 480);
        r.set_target(0.0);
        let mut last = 1.0;
        for i in 0..480 {
            let g = r.next_gain();
            assert!(g <= last, "frame {i}: ramp went up");
            assert!(
                last - g <= 1.0 / 480.0 + 1e-6,
                "frame {i}: step {}",
                last - g
            );
            last = g;
        }
        assert_eq!(r.current(), 0.0);
        assert!(!r.is_moving());
        assert_eq!(r.next_gain(), 0.0);
    }

    #[test]
    fn retarget_mid_ramp_starts_from_current_value() {
        let mut r = Ramp::new(0.0, 100);
        r.set_target(1.0);
        for _ in 0..50 {
            r.next_gain();
        }
        let mid = r.current();
        assert!((mid - 0.5).abs() < 1e-4);
        r.set_target(0.0);
        let first = r.next_gain();
        assert!((mid - first - mid / 100.0).abs() < 1e-6);
    }

    #[test]
    fn db_conversion() {
        assert_eq!(db_to_gain(0.0), 1.0);
        assert!((db_to_gain(-6.0206) - 0.5).abs() < 1e-4);
        assert_eq!(db_to_gain(-200.0), 0.0);
        assert_eq!(ms_to_frames(10, 48_000), 480);
    }
}
