//! "Can this link act?": the one rule the confirmation page (GET), the action (POST) and
//! the emails share, so what a page offers, what a click does and the deadline an email
//! prints can never disagree.

use chrono::{DateTime, Duration, Utc};

use super::model::{Offer, Reservation};
use super::seats::{SeatError, check_seats};
use super::status::{Action, IllegalTransition, Status, next_status};

/// When an unanswered request expires: `expire_after` after it was made, or when the trip
/// departs, whichever comes first. The driver's email prints this instant.
pub fn request_deadline(
    created_at: DateTime<Utc>,
    expire_after: Duration,
    departure_at: DateTime<Utc>,
) -> DateTime<Utc> {
    (created_at + expire_after).min(departure_at)
}

/// Whether `now` is past the deadline ("avant 06 h 33": at 06:33 it is too late).
pub fn deadline_passed(deadline: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now >= deadline
}

/// Why an action cannot happen as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The reservation is not in a status that allows it (a replayed link, a race).
    Illegal(IllegalTransition),
    /// The trip has departed: nothing about it changes any more.
    Departed,
    /// The driver answers a request after its deadline: the request expires instead
    /// (that is the only change, and it is the one the expiry job would have made).
    DeadlinePassed,
    /// Accepting would overbook.
    NoSeats(SeatError),
}

/// The status `action` moves `r` to at `now`, or why it cannot. Order matters: a replay
/// shows the current state first; an answer to a request after its deadline (the trip's
/// departure included) expires it; any other change to a departed trip is refused.
pub fn check_action(
    r: &Reservation,
    o: &Offer,
    action: Action,
    now: DateTime<Utc>,
    expire_after: Duration,
) -> Result<Status, Refusal> {
    let to = next_status(r.status, action).map_err(Refusal::Illegal)?;
    let answers_request =
        r.status == Status::Pending && matches!(action, Action::Accept | Action::Refuse);
    if answers_request
        && deadline_passed(
            request_deadline(r.created_at, expire_after, o.departure_at),
            now,
        )
    {
        return Err(Refusal::DeadlinePassed);
    }
    if o.departure_at <= now {
        return Err(Refusal::Departed);
    }
    if action == Action::Accept {
        check_seats(r.seats, o.seats_left).map_err(Refusal::NoSeats)?;
    }
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{OfferStatus, Place};
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, h, m, 0).unwrap()
    }

    fn place() -> Place {
        Place {
            label: "Lyon".into(),
            lat: None,
            lon: None,
        }
    }

    fn offer(departure: DateTime<Utc>, seats_left: i64) -> Offer {
        Offer {
            id: 1,
            driver_name: "Alice".into(),
            driver_email: "alice@example.org".into(),
            origin: place(),
            destination: place(),
            departure_at: departure,
            seats: 3,
            seats_left,
            status: OfferStatus::Active,
            created_at: at(0, 0),
            lang: crate::domain::Lang::Fr,
        }
    }

    fn reservation(status: Status, created_at: DateTime<Utc>) -> Reservation {
        Reservation {
            id: 7,
            offer_id: 1,
            passenger_name: "Bob".into(),
            passenger_email: "bob@example.org".into(),
            seats: 1,
            status,
            pickup: None,
            message: None,
            pickup_at: None,
            created_at,
            updated_at: created_at,
            lang: crate::domain::Lang::Fr,
            calendar_sequence: 0,
        }
    }

    const DAY: Duration = Duration::hours(24);

    #[test]
    fn the_deadline_is_capped_at_departure() {
        let d = request_deadline(at(6, 33), DAY, at(20, 0) + DAY * 3);
        assert_eq!(d, at(6, 33) + DAY);
        assert_eq!(request_deadline(at(6, 33), DAY, at(9, 0)), at(9, 0));
    }

    #[test]
    fn answers_after_the_deadline_expire_the_request() {
        let r = reservation(Status::Pending, at(6, 33) - DAY);
        let o = offer(at(20, 0), 3);
        let before = at(6, 32);
        assert_eq!(
            check_action(&r, &o, Action::Accept, before, DAY),
            Ok(Status::Confirmed)
        );
        for action in [Action::Accept, Action::Refuse] {
            assert_eq!(
                check_action(&r, &o, action, at(6, 33), DAY),
                Err(Refusal::DeadlinePassed)
            );
        }
        // The passenger may still withdraw a request nobody answered.
        assert_eq!(
            check_action(&r, &o, Action::Cancel, at(6, 40), DAY),
            Ok(Status::Cancelled)
        );
    }

    #[test]
    fn a_departed_trip_expires_requests_and_refuses_other_changes() {
        let o = offer(at(9, 0), 3);
        let pending = reservation(Status::Pending, at(8, 0));
        assert_eq!(
            check_action(&pending, &o, Action::Refuse, at(9, 0), DAY),
            Err(Refusal::DeadlinePassed)
        );
        let confirmed = reservation(Status::Confirmed, at(7, 0));
        assert_eq!(
            check_action(&confirmed, &o, Action::Remove, at(9, 30), DAY),
            Err(Refusal::Departed)
        );
    }

    #[test]
    fn replays_show_the_current_state_before_anything_else() {
        let o = offer(at(9, 0), 0);
        let r = reservation(Status::Refused, at(8, 0) - DAY * 2);
        assert!(matches!(
            check_action(&r, &o, Action::Accept, at(10, 0), DAY),
            Err(Refusal::Illegal(_))
        ));
    }

    #[test]
    fn accepting_never_overbooks() {
        let o = offer(at(20, 0), 0);
        let r = reservation(Status::Pending, at(8, 0));
        assert!(matches!(
            check_action(&r, &o, Action::Accept, at(9, 0), DAY),
            Err(Refusal::NoSeats(_))
        ));
        assert_eq!(
            check_action(&r, &o, Action::Refuse, at(9, 0), DAY),
            Ok(Status::Refused)
        );
    }
}
