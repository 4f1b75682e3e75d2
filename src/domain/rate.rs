//! The acceptance rate (SPEC's formula), one definition for the CLI, /metrics and the TUI.

/// confirmed × 100 / (confirmed + refused), rounded to 0.1; None when nothing was decided.
pub fn acceptance_rate(confirmed: i64, refused: i64) -> Option<f64> {
    let decided = confirmed + refused;
    if decided == 0 {
        None
    } else {
        // Rounded to 0.1 so every surface prints the same figure.
        Some(((confirmed as f64) * 1000.0 / decided as f64).round() / 10.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptance_rate_is_the_seeds_formula() {
        assert_eq!(acceptance_rate(0, 0), None);
        assert_eq!(acceptance_rate(3, 1), Some(75.0));
        assert_eq!(acceptance_rate(1, 2), Some(33.3));
        assert_eq!(acceptance_rate(0, 5), Some(0.0));
    }
}
