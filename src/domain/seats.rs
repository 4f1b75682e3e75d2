//! Seat rules. `seats_left` is always derived from confirmed reservations, never stored,
//! so it cannot drift from the reservations themselves.

/// Seats still free on an offer of `capacity` seats with `confirmed` seats already taken.
pub fn seats_left(capacity: i64, confirmed: i64) -> i64 {
    (capacity - confirmed).max(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeatError {
    #[error("seats must be at least 1")]
    TooFew,
    #[error("only {left} seat(s) left on this ride, {asked} requested")]
    NotEnough { asked: i64, left: i64 },
}

/// A request (or an acceptance) for `asked` seats fits when 1 ≤ asked ≤ seats_left.
pub fn check_seats(asked: i64, left: i64) -> Result<(), SeatError> {
    if asked < 1 {
        Err(SeatError::TooFew)
    } else if asked > left {
        Err(SeatError::NotEnough { asked, left })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_follow_the_rules() {
        assert_eq!(seats_left(3, 1), 2);
        assert_eq!(seats_left(3, 5), 0);
        assert_eq!(check_seats(0, 3), Err(SeatError::TooFew));
        assert_eq!(check_seats(3, 3), Ok(()));
        assert_eq!(
            check_seats(4, 3),
            Err(SeatError::NotEnough { asked: 4, left: 3 })
        );
    }
}
