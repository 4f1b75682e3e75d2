//! Property test: no sequence of operations overbooks an offer or reaches a state outside
//! SPEC's lifecycle, through the real service on a real SQLite file.

use std::collections::HashMap;

use crate::support::*;
use carette::domain::Status;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Request { seats: i64, who: u8 },
    Accept(usize),
    Refuse(usize),
    Cancel(usize),
    Remove(usize),
    Expire { hours: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..4, 0u8..6).prop_map(|(seats, who)| Op::Request { seats, who }),
        (0usize..8).prop_map(Op::Accept),
        (0usize..8).prop_map(Op::Refuse),
        (0usize..8).prop_map(Op::Cancel),
        (0usize..8).prop_map(Op::Remove),
        (0i64..30).prop_map(|hours| Op::Expire { hours }),
    ]
}

fn allowed(from: Status, to: Status) -> bool {
    matches!(
        (from, to),
        (
            Status::Pending,
            Status::Confirmed | Status::Refused | Status::Expired | Status::Cancelled
        ) | (Status::Confirmed, Status::Cancelled | Status::Removed)
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn no_sequence_overbooks_or_breaks_the_lifecycle(capacity in 1i64..5, ops in proptest::collection::vec(op(), 1..25)) {
        let f = fixture();
        let t0 = utc(2026, 12, 1, 8, 0);
        let offer = f.service.create_offer(&offer_input(utc(2026, 12, 5, 7, 0), capacity), t0).unwrap();
        let mut ids: Vec<i64> = Vec::new();
        let mut last: HashMap<i64, Status> = HashMap::new();
        let mut now = t0;
        for op in ops {
            now += chrono::Duration::minutes(30);
            let pick = |i: usize| ids.get(i % ids.len().max(1)).copied();
            let _ = match op {
                Op::Request { seats, who } => f
                    .service
                    .request_seat(offer.id, &request("P", &format!("p{who}@example.org"), seats), now)
                    .map(|r| { ids.push(r.id); }),
                Op::Accept(i) => pick(i).map_or(Ok(()), |id| f.service.accept(id, now).map(|_| ())),
                Op::Refuse(i) => pick(i).map_or(Ok(()), |id| f.service.refuse(id, now).map(|_| ())),
                Op::Cancel(i) => pick(i).map_or(Ok(()), |id| f.service.cancel(id, now).map(|_| ())),
                Op::Remove(i) => pick(i).map_or(Ok(()), |id| f.service.remove(id, now).map(|_| ())),
                Op::Expire { hours } => {
                    f.service.expire_due(now + chrono::Duration::hours(hours)).map(|_| ())
                }
            };
            let o = f.service.get_offer(offer.id).unwrap();
            let mut confirmed = 0;
            for id in &ids {
                let r = f.service.get_reservation(*id).unwrap();
                if r.status == Status::Confirmed {
                    confirmed += r.seats;
                }
                if let Some(prev) = last.insert(*id, r.status) {
                    prop_assert!(prev == r.status || allowed(prev, r.status), "{prev} -> {}", r.status);
                }
            }
            prop_assert!(confirmed <= capacity, "overbooked: {confirmed} > {capacity}");
            // The trigger-kept counts behind the monitoring figures match the rows.
            let s = f.service.stats(now).unwrap();
            let conn = rusqlite::Connection::open(&f.path).unwrap();
            for (status, n) in [("pending", s.pending), ("confirmed", s.confirmed), ("refused", s.refused), ("expired", s.expired), ("cancelled", s.cancelled), ("removed", s.removed)] {
                let actual: i64 = conn.query_row("SELECT COUNT(*) FROM carpool_reservations WHERE status = ?1", [status], |r| r.get(0)).unwrap();
                prop_assert_eq!(n, actual, "{}", status);
            }
            for status in ["queued", "sending", "sent", "failed"] {
                let kept: i64 = conn.query_row("SELECT COALESCE(SUM(n), 0) FROM outbox_status_counts WHERE status = ?1", [status], |r| r.get(0)).unwrap();
                let actual: i64 = conn.query_row("SELECT COUNT(*) FROM outbox WHERE status = ?1", [status], |r| r.get(0)).unwrap();
                prop_assert_eq!(kept, actual, "outbox {}", status);
            }
            // The activity chart's hourly counters match the rows too.
            let off: i64 = conn.query_row(
                "SELECT COUNT(*) FROM (SELECT substr(created_at, 1, 13) AS h, COUNT(*) AS c,
                        SUM(status = 'confirmed') AS cf, SUM(status = 'refused') AS rf
                     FROM carpool_reservations GROUP BY h) x
                 LEFT JOIN reservation_hourly_counts k ON k.hour = x.h
                 WHERE k.created IS NOT x.c OR k.confirmed IS NOT x.cf OR k.refused IS NOT x.rf",
                [], |r| r.get(0)).unwrap();
            prop_assert_eq!(off, 0);
            prop_assert_eq!(o.seats_left, capacity - confirmed);
        }
    }
}
