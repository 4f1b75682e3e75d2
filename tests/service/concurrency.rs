//! Two connections (two Store instances, as two processes would have) race to accept the
//! last seat: exactly one wins and the offer is never overbooked.

use std::sync::{Arc, Barrier};

use crate::support::*;
use carette::domain::Status;
use carette::service::{Service, ServiceError, Settings};
use carette::store::Store;

#[test]
fn two_accepts_for_the_last_seat_exactly_one_wins() {
    for round in 0..10 {
        let f = fixture();
        let now = utc(2026, 12, 1, 8, 0);
        let offer = f
            .service
            .create_offer(&offer_input(utc(2026, 12, 3, 7, 0), 1), now)
            .unwrap();
        let a = f
            .service
            .request_seat(offer.id, &request("A", "a@example.org", 1), now)
            .unwrap();
        let b = f
            .service
            .request_seat(offer.id, &request("B", "b@example.org", 1), now)
            .unwrap();

        let other = Service::new(Arc::new(Store::open(&f.path).unwrap()), Settings::default());
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = [(f.service.clone(), a.id), (other, b.id)]
            .into_iter()
            .map(|(svc, id)| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    svc.accept(id, now)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(ServiceError::NoSeats(_)))),
            "the loser is told there is no seat left"
        );
        let statuses = [
            f.service.get_reservation(a.id).unwrap().status,
            f.service.get_reservation(b.id).unwrap().status,
        ];
        assert_eq!(
            statuses.iter().filter(|s| **s == Status::Confirmed).count(),
            1
        );
        assert_eq!(f.service.get_offer(offer.id).unwrap().seats_left, 0);
        // Only the winner's two emails were queued after the four request emails.
        assert_eq!(outbox(&f.path).len(), 6);
    }
}
