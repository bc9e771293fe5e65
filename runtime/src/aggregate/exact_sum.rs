//! An exact, order-independent sum of `f64` values, rounded to the nearest `f64` once, on read.
//!
//! This is what makes `Sum` and `Avg` independent of arrival order and batching: adding and
//! removing values in any order leaves the same exact sum, and the single rounding at the end
//! gives the same bits whatever happened before. The result equals Python's `math.fsum`.
//!
//! Two representations share the work:
//! - the common case — values whose binary expansion fits between `2^-64` and `2^40` (prices,
//!   amounts, counts) — is a fixed-point `i128` in units of `2^-64`, one integer add per value;
//! - anything else (tiny, huge, or an `i128` overflow) goes to a superaccumulator: a fixed-point
//!   integer over the whole `f64` range in units of `2^-1074`, held as signed 32-bit digits in
//!   `i64` limbs so additions carry lazily.
//!
//! Non-finite values are counted apart, so that removing an infinity restores a finite sum.

use serde::{Deserialize, Serialize};

/// Units of the fast path: `2^-64`.
const SMALL_FRACTION_BITS: i32 = 64;
/// Values up to `2^40` in magnitude take the fast path.
const SMALL_MAX_EXPONENT: i32 = 40;
/// Limbs of the superaccumulator: 68 * 32 = 2176 bits, from `2^-1074` up past `2^1100`.
const LIMBS: usize = 68;
/// Normalize the limbs after this many additions, long before an `i64` limb could overflow.
const NORMALIZE_EVERY: u32 = 1 << 28;

/// An exact sum of `f64` values that supports removal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactSum {
    small: i128,
    big: Option<Box<SuperAccumulator>>,
    nan: i64,
    pos_inf: i64,
    neg_inf: i64,
}

impl ExactSum {
    /// An empty sum (zero).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` (`sign = 1`) or removes it (`sign = -1`).
    pub fn add(&mut self, value: f64, sign: i64) {
        debug_assert!(sign == 1 || sign == -1);
        if value.is_nan() {
            self.nan += sign;
        } else if value == f64::INFINITY {
            self.pos_inf += sign;
        } else if value == f64::NEG_INFINITY {
            self.neg_inf += sign;
        } else if value != 0.0 {
            let (mantissa, exponent) = decompose(value);
            let signed = if sign < 0 { -mantissa } else { mantissa };
            match small_units(mantissa, exponent) {
                Some(units) => {
                    let units = if signed < 0 { -units } else { units };
                    match self.small.checked_add(units) {
                        Some(sum) => self.small = sum,
                        None => {
                            let spilled = std::mem::replace(&mut self.small, units);
                            self.big_mut().add_i128(spilled, -SMALL_FRACTION_BITS);
                        }
                    }
                }
                None => self.big_mut().add_i128(signed as i128, exponent),
            }
        }
    }

    fn big_mut(&mut self) -> &mut SuperAccumulator {
        self.big.get_or_insert_with(Default::default)
    }

    /// The exact sum rounded to the nearest `f64` (ties to even). An exact zero is `+0.0`.
    pub fn value(&self) -> f64 {
        if self.nan > 0 || (self.pos_inf > 0 && self.neg_inf > 0) {
            return f64::NAN;
        }
        if self.pos_inf > 0 {
            return f64::INFINITY;
        }
        if self.neg_inf > 0 {
            return f64::NEG_INFINITY;
        }
        match &self.big {
            None => {
                // Converting an i128 rounds once, to nearest even; scaling by 2^-64 is exact.
                (self.small as f64) * (2f64).powi(-SMALL_FRACTION_BITS)
            }
            Some(big) => {
                let mut total = (**big).clone();
                total.add_i128(self.small, -SMALL_FRACTION_BITS);
                total.round()
            }
        }
    }
}

/// `value = mantissa * 2^exponent` with an integer mantissa below `2^53`.
fn decompose(value: f64) -> (i64, i32) {
    let bits = value.to_bits();
    let sign = if bits >> 63 == 1 { -1 } else { 1 };
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = (bits & ((1 << 52) - 1)) as i64;
    if biased == 0 { (sign * fraction, -1074) } else { (sign * (fraction | (1 << 52)), biased - 1075) }
}

/// The value `|mantissa| * 2^exponent` in units of `2^-64`, if it is a whole number of units
/// no larger than `2^(40 + 64)`.
fn small_units(mantissa: i64, exponent: i32) -> Option<i128> {
    let magnitude = mantissa.unsigned_abs() as i128;
    let shift = exponent + SMALL_FRACTION_BITS;
    if exponent + 53 > SMALL_MAX_EXPONENT {
        return None;
    }
    if shift >= 0 {
        Some(magnitude << shift)
    } else if shift > -64 && magnitude.trailing_zeros() as i32 >= -shift {
        Some(magnitude >> -shift)
    } else {
        None
    }
}

/// A fixed-point integer in units of `2^-1074` spanning the whole `f64` range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct SuperAccumulator {
    /// Little-endian base-2^32 digits, each a signed partial sum.
    limbs: Vec<i64>,
    adds: u32,
}

impl Default for SuperAccumulator {
    fn default() -> Self {
        SuperAccumulator { limbs: vec![0; LIMBS], adds: 0 }
    }
}

impl SuperAccumulator {
    /// Adds `value * 2^exponent`, with `exponent >= -1074`.
    fn add_i128(&mut self, value: i128, exponent: i32) {
        if value == 0 {
            return;
        }
        let negative = value < 0;
        let magnitude = value.unsigned_abs();
        let position = (exponent + 1074) as usize;
        let (limb, shift) = (position / 32, position % 32);
        // Up to 128 + 31 bits, spread over at most five 32-bit digits.
        let low = magnitude << shift;
        let high = if shift == 0 { 0 } else { magnitude >> (128 - shift) };
        let digits = [low as u32, (low >> 32) as u32, (low >> 64) as u32, (low >> 96) as u32, high as u32];
        for (i, digit) in digits.into_iter().enumerate() {
            if digit != 0 {
                let d = digit as i64;
                self.limbs[limb + i] += if negative { -d } else { d };
            }
        }
        self.adds += 1;
        if self.adds >= NORMALIZE_EVERY {
            self.normalize();
        }
    }

    /// Propagates carries so every limb but the top one is in `[0, 2^32)`.
    fn normalize(&mut self) {
        for i in 0..LIMBS - 1 {
            let carry = self.limbs[i] >> 32;
            self.limbs[i] -= carry << 32;
            self.limbs[i + 1] += carry;
        }
        self.adds = 0;
    }

    /// Rounds to the nearest `f64`, ties to even.
    fn round(mut self) -> f64 {
        self.normalize();
        let negative = self.limbs[LIMBS - 1] < 0;
        if negative {
            for limb in &mut self.limbs {
                *limb = -*limb;
            }
            self.normalize();
        }
        let digits: Vec<u32> = self.limbs.iter().map(|&l| l as u32).collect();
        let magnitude = round_magnitude(&digits);
        if negative { -magnitude } else { magnitude }
    }
}

/// Rounds `sum(digits[i] * 2^(32 i)) * 2^-1074` to the nearest `f64`.
fn round_magnitude(digits: &[u32]) -> f64 {
    let Some(top) = digits.iter().rposition(|&d| d != 0) else {
        return 0.0;
    };
    let highest_bit = top * 32 + 31 - digits[top].leading_zeros() as usize;
    let bit = |i: usize| (digits[i / 32] >> (i % 32)) & 1 == 1;
    if highest_bit < 53 {
        // Below 2^53 units the value is exact: a subnormal, or the smallest normal binade,
        // whose bit pattern is the unit count itself.
        let units = (0..=highest_bit).fold(0u64, |acc, i| acc | ((bit(i) as u64) << i));
        return f64::from_bits(units);
    }
    // Keep 53 bits, round on the next one and the sticky rest.
    let lowest_kept = highest_bit - 52;
    let mut mantissa =
        (lowest_kept..=highest_bit).fold(0u64, |acc, i| acc | ((bit(i) as u64) << (i - lowest_kept)));
    let round_bit = bit(lowest_kept - 1);
    let sticky = (0..lowest_kept - 1).any(bit);
    let mut exponent = lowest_kept as i32 - 1074;
    if round_bit && (sticky || mantissa & 1 == 1) {
        mantissa += 1;
        if mantissa == 1 << 53 {
            mantissa >>= 1;
            exponent += 1;
        }
    }
    // value = mantissa * 2^exponent with 2^52 <= mantissa < 2^53.
    let biased = exponent + 52 + 1023;
    if biased >= 0x7ff {
        return f64::INFINITY;
    }
    f64::from_bits(((biased as u64) << 52) | (mantissa & ((1 << 52) - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Exact reference: sum with rationals as (numerator, 2^-1074 units) in a big integer via
    /// the superaccumulator alone, independent of the fast path.
    fn reference(values: &[f64]) -> f64 {
        let mut acc = SuperAccumulator::default();
        for &v in values {
            let (m, e) = decompose(v);
            acc.add_i128(m as i128, e);
        }
        acc.round()
    }

    #[test]
    fn sums_simple_values_exactly() {
        let mut s = ExactSum::new();
        for _ in 0..10 {
            s.add(0.1, 1);
        }
        // math.fsum([0.1] * 10) == 1.0, while naive summation gives 0.9999999999999999.
        assert_eq!(s.value(), 1.0);
    }

    #[test]
    fn removal_restores_previous_sum() {
        let mut s = ExactSum::new();
        s.add(1e300, 1);
        s.add(1.0, 1);
        s.add(-1e300, 1);
        assert_eq!(s.value(), 1.0);
        s.add(1.0, -1);
        assert_eq!(s.value(), 0.0);
        s.add(f64::INFINITY, 1);
        assert_eq!(s.value(), f64::INFINITY);
        s.add(f64::INFINITY, -1);
        assert_eq!(s.value(), 0.0);
    }

    #[test]
    fn handles_subnormals_and_extremes() {
        let mut s = ExactSum::new();
        s.add(5e-324, 1);
        s.add(5e-324, 1);
        assert_eq!(s.value(), 1e-323);
        let mut s = ExactSum::new();
        s.add(f64::MAX, 1);
        s.add(f64::MAX, 1);
        assert_eq!(s.value(), f64::INFINITY);
        let mut s = ExactSum::new();
        s.add(f64::MAX, 1);
        s.add(-f64::MAX, 1);
        s.add(-0.5, 1);
        assert_eq!(s.value(), -0.5);
    }

    #[test]
    fn rounds_ties_to_even() {
        // 2^53 + 1 is a tie between 2^53 and 2^53 + 2: even wins.
        let mut s = ExactSum::new();
        s.add(9007199254740992.0, 1);
        s.add(1.0, 1);
        assert_eq!(s.value(), 9007199254740992.0);
        s.add(1e-30, 1);
        assert_eq!(s.value(), 9007199254740994.0);
    }

    fn any_float() -> impl Strategy<Value = f64> {
        prop_oneof![
            (-1_000_000i64..1_000_000).prop_map(|c| c as f64 / 100.0),
            proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL,
            (-1e6f64..1e6),
        ]
    }

    proptest! {
        #[test]
        fn order_and_removals_do_not_change_the_sum(
            values in proptest::collection::vec(any_float(), 0..60),
            extra in proptest::collection::vec(any_float(), 0..20),
            seed in any::<u64>(),
        ) {
            let mut forward = ExactSum::new();
            for &v in &values { forward.add(v, 1); }
            let mut shuffled: Vec<f64> = values.clone();
            let n = shuffled.len();
            for i in 0..n { shuffled.swap(i, (seed as usize ^ (i * 7919)) % n.max(1)); }
            let mut other = ExactSum::new();
            for &v in &extra { other.add(v, 1); }
            for &v in &shuffled { other.add(v, 1); }
            for &v in &extra { other.add(v, -1); }
            prop_assert_eq!(forward.value().to_bits(), other.value().to_bits());
            prop_assert_eq!(forward.value().to_bits(), reference(&values).to_bits());
        }

        #[test]
        fn matches_correctly_rounded_two_term_sums(a in any_float(), b in any_float()) {
            // For two terms, a + b in IEEE arithmetic is the correctly rounded exact sum.
            let mut s = ExactSum::new();
            s.add(a, 1);
            s.add(b, 1);
            let expected = a + b;
            if expected.is_finite() {
                prop_assert_eq!(s.value().to_bits(), (if expected == 0.0 { 0.0 } else { expected }).to_bits());
            }
        }
    }
}
