//! f32 mix to device sample conversion: clamp at full scale, round to nearest.
//!
//! Integer formats map ±1.0 to ±2^(bits-1), the inverse of what the decoder does, so 16-bit
//! stems summed at unity come out bit-exact on an S16_LE device.

/// One ALSA sample format: how a mixed f32 becomes the raw sample the device buffer holds.
pub trait DeviceFormat: 'static {
    /// The sample as it sits in the mmap area.
    type Raw: Copy + Default + 'static;
    fn to_raw(x: f32) -> Self::Raw;
}

pub struct S16Le;
/// 24 bits, sign-extended in a 32-bit container (ALSA's S24_LE).
pub struct S24Le;
pub struct S32Le;
pub struct FloatLe;

impl DeviceFormat for S16Le {
    type Raw = i16;
    #[inline]
    fn to_raw(x: f32) -> i16 {
        (x * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16
    }
}

impl DeviceFormat for S24Le {
    type Raw = i32;
    #[inline]
    fn to_raw(x: f32) -> i32 {
        (x * 8_388_608.0).round().clamp(-8_388_608.0, 8_388_607.0) as i32
    }
}

impl DeviceFormat for S32Le {
    type Raw = i32;
    #[inline]
    fn to_raw(x: f32) -> i32 {
        // f64: 2^31 - 1 is not representable in f32.
        (x as f64 * 2_147_483_648.0)
            .round()
            .clamp(-2_147_483_648.0, 2_147_483_647.0) as i32
    }
}

impl DeviceFormat for FloatLe {
    type Raw = f32;
    #[inline]
    fn to_raw(x: f32) -> f32 {
        x.clamp(-1.0, 1.0)
    }
}

/// Converts a mixed block into the device's samples. `src` and `dst` have the same length.
#[inline]
pub fn convert<F: DeviceFormat>(src: &[f32], dst: &mut [F::Raw]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = F::to_raw(*s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s16_round_trip_of_decoded_values_is_exact() {
        for v in [-32_768i32, -32_767, -1, 0, 1, 12_345, 32_767] {
            let x = v as f32 / 32_768.0;
            assert_eq!(S16Le::to_raw(x) as i32, v);
        }
    }

    #[test]
    fn s16_rounds_to_nearest_and_clamps() {
        assert_eq!(S16Le::to_raw(0.6 / 32_768.0), 1);
        assert_eq!(S16Le::to_raw(0.4 / 32_768.0), 0);
        assert_eq!(S16Le::to_raw(-0.6 / 32_768.0), -1);
        assert_eq!(S16Le::to_raw(1.0), 32_767);
        assert_eq!(S16Le::to_raw(2.0), 32_767);
        assert_eq!(S16Le::to_raw(-1.0), -32_768);
        assert_eq!(S16Le::to_raw(-3.0), -32_768);
    }

    #[test]
    fn s24_and_s32_full_scale() {
        assert_eq!(S24Le::to_raw(1.0), 8_388_607);
        assert_eq!(S24Le::to_raw(-1.0), -8_388_608);
        assert_eq!(S24Le::to_raw(0.5), 4_194_304);
        assert_eq!(S24Le::to_raw(-0.6 / 8_388_608.0), -1);
        assert_eq!(S32Le::to_raw(1.0), i32::MAX);
        assert_eq!(S32Le::to_raw(-1.0), i32::MIN);
        assert_eq!(S32Le::to_raw(0.25), 536_870_912);
    }

    #[test]
    fn float_clamps_at_full_scale() {
        assert_eq!(FloatLe::to_raw(1.5), 1.0);
        assert_eq!(FloatLe::to_raw(-1.5), -1.0);
        assert_eq!(FloatLe::to_raw(0.123), 0.123);
    }
}
