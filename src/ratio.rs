//! Exact decimal fractions for policy numbers such as `busy_threshold: 0.9`.
//!
//! `0.85 * 81920` in floating point can land a hair below 69632 and floor to 69631; fleetfit
//! counts MiB exactly, so fractions from input files are kept as the decimals the user wrote.

use std::fmt;

/// A non-negative decimal `numer / 10^scale`, taken from the shortest text of an `f64`.
/// (Its order is by representation, for map keys, not by value.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal {
    numer: u128,
    denom: u128,
}

impl Decimal {
    /// The decimal a person wrote, recovered from its `f64` (Rust prints the shortest round-trip
    /// text, so `0.85` comes back as `85/100`). `None` for negative, non-finite or absurdly
    /// precise values.
    pub fn from_f64(value: f64) -> Option<Decimal> {
        if !value.is_finite() || value < 0.0 {
            return None;
        }
        let text = format!("{value}");
        let (int_part, frac_part) = text.split_once('.').unwrap_or((&text, ""));
        if frac_part.len() > 18 || int_part.len() > 18 {
            return None;
        }
        let digits: String = format!("{int_part}{frac_part}");
        let numer: u128 = digits.parse().ok()?;
        let denom = 10u128.pow(frac_part.len() as u32);
        Some(Decimal { numer, denom })
    }

    /// `floor(self * n)`, exact.
    pub fn floor_mul(self, n: u64) -> u64 {
        let product = self.numer * n as u128 / self.denom;
        u64::try_from(product).unwrap_or(u64::MAX)
    }

    /// `a / b <= self`, exact (false when `b` is 0 and `a` is not).
    pub fn ratio_at_most(self, a: u64, b: u64) -> bool {
        a as u128 * self.denom <= self.numer * b as u128
    }

    /// The value as an `f64`, for display only.
    pub fn to_f64(self) -> f64 {
        self.numer as f64 / self.denom as f64
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_decimal_the_user_wrote() {
        let d = Decimal::from_f64(0.85).unwrap();
        assert_eq!(d.floor_mul(81920), 69632);
        assert_eq!(Decimal::from_f64(0.9).unwrap().floor_mul(81559), 73403);
        assert_eq!(Decimal::from_f64(1.0).unwrap().floor_mul(7), 7);
    }

    #[test]
    fn compares_ratios_exactly() {
        let d = Decimal::from_f64(0.9).unwrap();
        assert!(d.ratio_at_most(73728, 81920)); // exactly 0.9
        assert!(!d.ratio_at_most(73729, 81920));
        assert!(d.ratio_at_most(90, 100));
        assert!(!d.ratio_at_most(91, 100));
    }

    #[test]
    fn rejects_negative_and_non_finite() {
        assert!(Decimal::from_f64(-0.1).is_none());
        assert!(Decimal::from_f64(f64::NAN).is_none());
        assert!(Decimal::from_f64(f64::INFINITY).is_none());
    }
}
