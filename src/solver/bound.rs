//! The one rounding rule for bounds. Every objective value is a whole number, so a bound HiGHS or
//! an LP reports as a float rounds to the nearest whole number on the safe side, after a slack
//! that covers HiGHS's tolerances (1e-6, or 1e-9 of the value where that is larger).

/// The slack granted to a float bound of magnitude `x`.
fn slack(x: f64) -> f64 {
    (x.abs() * 1e-9).max(1e-6)
}

/// A float upper bound of a maximised whole-number objective, as a whole number: no solution
/// does better.
pub fn upper(x: f64) -> f64 {
    (x + slack(x)).floor()
}

/// A float lower bound of a minimised whole-number objective, as a whole number: no solution
/// does better.
pub fn lower(x: f64) -> f64 {
    (x - slack(x)).ceil()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_round_to_the_safe_side_after_the_slack() {
        assert_eq!(upper(2609.0), 2609.0);
        assert_eq!(upper(2608.9999999), 2609.0);
        assert_eq!(upper(2609.4), 2609.0);
        assert_eq!(lower(300.0000001), 300.0);
        assert_eq!(lower(299.6), 300.0);
        assert_eq!(lower(1e7 + 0.5), 1e7 + 1.0);
        assert_eq!(upper(1e7 + 0.999_999_9), 1e7 + 1.0);
    }
}
