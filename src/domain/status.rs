//! Reservation statuses and the transition table of SPEC's lifecycle.

use std::fmt;
use std::str::FromStr;

/// Stored as these exact lowercase words (`carpool_reservations.status`): operators' SQL relies on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Pending,
    Confirmed,
    Refused,
    Expired,
    Cancelled,
    Removed,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Pending,
        Status::Confirmed,
        Status::Refused,
        Status::Expired,
        Status::Cancelled,
        Status::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Confirmed => "confirmed",
            Status::Refused => "refused",
            Status::Expired => "expired",
            Status::Cancelled => "cancelled",
            Status::Removed => "removed",
        }
    }

    /// A final status never changes again.
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Pending | Status::Confirmed)
    }

    /// Seats held by a reservation in this status count against the offer's capacity.
    pub fn holds_seats(self) -> bool {
        self == Status::Confirmed
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reservation status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// What somebody (or the clock) does to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The driver accepts a pending request.
    Accept,
    /// The driver refuses a pending request.
    Refuse,
    /// The passenger withdraws (pending or confirmed).
    Cancel,
    /// The driver removes a confirmed passenger.
    Remove,
    /// Nobody answered in time, or the trip departed.
    Expire,
    /// The driver cancels the whole offer.
    CancelOffer,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Refuse => "refuse",
            Action::Cancel => "cancel",
            Action::Remove => "remove",
            Action::Expire => "expire",
            Action::CancelOffer => "cancel_offer",
        }
    }
}

/// Who caused a transition; recorded in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Driver,
    Passenger,
    System,
    Operator,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Driver => "driver",
            Actor::Passenger => "passenger",
            Actor::System => "system",
            Actor::Operator => "operator",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe_illegal(*.from, *.action))]
pub struct IllegalTransition {
    pub from: Status,
    pub action: Action,
}

fn describe_illegal(from: Status, action: Action) -> String {
    let what = match action {
        Action::Accept => "accepted",
        Action::Refuse => "refused",
        Action::Cancel => "cancelled",
        Action::Remove => "removed",
        Action::Expire => "expired",
        Action::CancelOffer => "cancelled with its offer",
    };
    let hint = match (from, action) {
        (Status::Pending, Action::Remove) => {
            " (only confirmed passengers can be removed; refuse the request instead)"
        }
        (Status::Confirmed, Action::Refuse) => {
            " (it is already confirmed; remove the passenger instead)"
        }
        (Status::Confirmed, Action::Expire) => " (confirmed reservations do not expire)",
        _ => "",
    };
    format!("a {from} reservation cannot be {what}{hint}")
}

/// SPEC's lifecycle: pending → confirmed | refused | expired | cancelled;
/// confirmed → cancelled | removed. Everything else is refused.
pub fn next_status(from: Status, action: Action) -> Result<Status, IllegalTransition> {
    use Action as A;
    use Status as S;
    match (from, action) {
        (S::Pending, A::Accept) => Ok(S::Confirmed),
        (S::Pending, A::Refuse) => Ok(S::Refused),
        (S::Pending, A::Expire) => Ok(S::Expired),
        (S::Pending | S::Confirmed, A::Cancel | A::CancelOffer) => Ok(S::Cancelled),
        (S::Confirmed, A::Remove) => Ok(S::Removed),
        _ => Err(IllegalTransition { from, action }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_stored_words() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
        }
        assert!("Pending".parse::<Status>().is_err());
    }

    #[test]
    fn the_transition_table_is_exactly_specs() {
        let allowed = [
            (Status::Pending, Action::Accept, Status::Confirmed),
            (Status::Pending, Action::Refuse, Status::Refused),
            (Status::Pending, Action::Expire, Status::Expired),
            (Status::Pending, Action::Cancel, Status::Cancelled),
            (Status::Pending, Action::CancelOffer, Status::Cancelled),
            (Status::Confirmed, Action::Cancel, Status::Cancelled),
            (Status::Confirmed, Action::CancelOffer, Status::Cancelled),
            (Status::Confirmed, Action::Remove, Status::Removed),
        ];
        let actions = [
            Action::Accept,
            Action::Refuse,
            Action::Cancel,
            Action::Remove,
            Action::Expire,
            Action::CancelOffer,
        ];
        let mut ok = 0;
        for from in Status::ALL {
            for action in actions {
                let expected = allowed
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .map(|(_, _, to)| *to);
                match (next_status(from, action), expected) {
                    (Ok(to), Some(exp)) => {
                        assert_eq!(to, exp);
                        ok += 1;
                    }
                    (Err(e), None) => assert_eq!(e, IllegalTransition { from, action }),
                    (got, exp) => panic!("{from} + {action:?}: got {got:?}, expected {exp:?}"),
                }
            }
        }
        assert_eq!(ok, allowed.len());
    }

    #[test]
    fn illegal_transitions_explain_themselves() {
        let e = next_status(Status::Refused, Action::Accept).unwrap_err();
        assert_eq!(e.to_string(), "a refused reservation cannot be accepted");
        let e = next_status(Status::Pending, Action::Remove).unwrap_err();
        assert!(e.to_string().contains("refuse the request instead"), "{e}");
    }
}
