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

/// Pure property tests: the domain rules alone (transitions + seat checks), applied the way
/// the service applies them, never overbook and never leave SPEC's lifecycle.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::{Action, Status, next_status};

    #[derive(Debug, Clone)]
    enum Op {
        Request(i64),
        Act(usize, Action),
    }

    fn op() -> impl Strategy<Value = Op> {
        let action = prop_oneof![
            Just(Action::Accept),
            Just(Action::Refuse),
            Just(Action::Cancel),
            Just(Action::Remove),
            Just(Action::Expire),
            Just(Action::CancelOffer),
        ];
        prop_oneof![
            (0i64..5).prop_map(Op::Request),
            (0usize..10, action).prop_map(|(i, a)| Op::Act(i, a)),
        ]
    }

    proptest! {
        #[test]
        fn rules_never_overbook_or_leave_the_lifecycle(capacity in 1i64..6, ops in proptest::collection::vec(op(), 0..60)) {
            let mut res: Vec<(i64, Status)> = Vec::new();
            for op in ops {
                let confirmed: i64 = res.iter().filter(|r| r.1.holds_seats()).map(|r| r.0).sum();
                let left = seats_left(capacity, confirmed);
                match op {
                    Op::Request(seats) => {
                        if check_seats(seats, left).is_ok() {
                            res.push((seats, Status::Pending));
                        }
                    }
                    Op::Act(i, action) => {
                        let Some(r) = res.get_mut(i) else { continue };
                        let Ok(to) = next_status(r.1, action) else { continue };
                        if action == Action::Accept && check_seats(r.0, left).is_err() {
                            continue;
                        }
                        prop_assert!(!r.1.is_final(), "a final status moved");
                        r.1 = to;
                    }
                }
                let confirmed: i64 = res.iter().filter(|r| r.1.holds_seats()).map(|r| r.0).sum();
                prop_assert!(confirmed <= capacity);
                prop_assert_eq!(seats_left(capacity, confirmed), capacity - confirmed);
            }
        }
    }
}
