//! f32 mix to device sample conversion: clamp at full scale, round to nearest.
//!
//! Integer formats map ±1.0 to ±2^(bits-1), the inverse of what the decoder does, so 16-bit
//! stems summed at unity come out bit-exact on an S16_LE device.

/// One sample in the device buffer.
pub trait DeviceSample: Copy + Default + 'static {
    fn from_f32(x: f32) -> Self;
}

impl DeviceSample for i16 {
    #[inline]
    fn from_f32(x: f32) -> i16 {
        let v = (x * 32_768.0).round();
        v.clamp(-32_768.0, 32_767.0) as i16
    }
}

/// S24_LE: 24 bits, sign-extended in a 32-bit container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct S24(pub i32);

impl DeviceSample for S24 {
    #[inline]
    fn from_f32(x: f32) -> S24 {
        let v = (x * 8_388_608.0).round();
        S24(v.clamp(-8_388_608.0, 8_388_607.0) as i32)
    }
}

impl DeviceSample for i32 {
    #[inline]
    fn from_f32(x: f32) -> i32 {
        // f64: 2^31 - 1 is not representable in f32.
        let v = (x as f64 * 2_147_483_648.0).round();
        v.clamp(-2_147_483_648.0, 2_147_483_647.0) as i32
    }
}

impl DeviceSample for f32 {
    #[inline]
    fn from_f32(x: f32) -> f32 {
        x.clamp(-1.0, 1.0)
    }
}

/// Converts a mixed block into the device's samples. `src` and `dst` have the same length.
#[inline]
pub fn convert<S: DeviceSample>(src: &[f32], dst: &mut [S]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = S::from_f32(*s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s16_round_trip_of_decoded_values_is_exact() {
        for v in [-32_768i32, -32_767, -1, 0, 1, 12_345, 32_767] {
            let x = v as f32 / 32_768.0;
            assert_eq!(i16::from_f32(x) as i32, v);
        }
    }

    #[test]
    fn s16_rounds_to_nearest_and_clamps() {
        assert_eq!(i16::from_f32(0.6 / 32_768.0), 1);
        assert_eq!(i16::from_f32(0.4 / 32_768.0), 0);
        assert_eq!(i16::from_f32(-0.6 / 32_768.0), -1);
        assert_eq!(i16::from_f32(1.0), 32_767);
        assert_eq!(i16::from_f32(2.0), 32_767);
        assert_eq!(i16::from_f32(-1.0), -32_768);
        assert_eq!(i16::from_f32(-3.0), -32_768);
    }

    #[test]
    fn s24_and_s32_full_scale() {
        assert_eq!(S24::from_f32(1.0).0, 8_388_607);
        assert_eq!(S24::from_f32(-1.0).0, -8_388_608);
        assert_eq!(S24::from_f32(0.5).0, 4_194_304);
        assert_eq!(i32::from_f32(1.0), i32::MAX);
        assert_eq!(i32::from_f32(-1.0), i32::MIN);
        assert_eq!(i32::from_f32(0.25), 536_870_912);
    }

    #[test]
    fn float_clamps_at_full_scale() {
        assert_eq!(f32::from_f32(1.5), 1.0);
        assert_eq!(f32::from_f32(-1.5), -1.0);
        assert_eq!(f32::from_f32(0.123), 0.123);
    }
}
