//! Route recalculation against a loopback OSRM stub: pickup times, `route_updated_passenger`
//! only for moves ≥ threshold, OSRM down then up, NoRoute.

use crate::support::osrm_stub::{Mode, OsrmStub};
use crate::support::*;
use carette::config::RoutingConfig;
use carette::routing::RouteWorker;
use carette::service::{PlaceInput, Settings};
use chrono::{DateTime, Duration, Utc};

fn at(label: &str, lat: f64, lon: f64) -> PlaceInput {
    PlaceInput {
        label: label.into(),
        lat: Some(lat),
        lon: Some(lon),
    }
}

struct Trip {
    f: Fixture,
    worker: RouteWorker,
    offer: i64,
    departure: DateTime<Utc>,
}

fn now() -> DateTime<Utc> {
    utc(2026, 12, 1, 8, 0)
}

fn trip(stub: &OsrmStub, threshold: u32) -> Trip {
    let f = fixture_with(Settings {
        routing_enabled: true,
        ..Settings::default()
    });
    let routing = RoutingConfig {
        osrm_url: Some(stub.url.clone()),
        notify_threshold_minutes: threshold,
        timeout_secs: 2,
        stop_minutes: 2,
    };
    let worker = RouteWorker::from_config(f.service.clone(), &routing).unwrap();
    let departure = utc(2026, 12, 3, 7, 0);
    let mut input = offer_input(departure, 4);
    input.origin = at("Lyon", 45.0, 4.0);
    input.destination = at("Grenoble", 45.0, 5.0);
    let offer = f.service.create_offer(&input, now()).unwrap().id;
    Trip {
        f,
        worker,
        offer,
        departure,
    }
}

impl Trip {
    fn confirm(&self, email: &str, pickup: PlaceInput) -> i64 {
        let mut req = request("P", email, 1);
        req.pickup = Some(pickup);
        let r = self
            .f
            .service
            .request_seat(self.offer, &req, now())
            .unwrap();
        self.f.service.accept(r.id, now()).unwrap();
        r.id
    }
    fn pickup(&self, id: i64) -> Option<DateTime<Utc>> {
        self.f.service.get_reservation(id).unwrap().pickup_at
    }
    fn route_updates(&self) -> Vec<String> {
        outbox(&self.f.path)
            .into_iter()
            .filter(|(t, _)| t == "route_updated_passenger")
            .map(|(_, to)| to)
            .collect()
    }
    fn route_state(&self) -> (String, i64, Option<String>) {
        let conn = rusqlite::Connection::open(&self.f.path).unwrap();
        conn.query_row(
            "SELECT status, attempts, last_error FROM route_state WHERE offer_id = ?1",
            [self.offer],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    }
}

#[test]
fn removing_an_earlier_passenger_moves_the_next_pickup_and_emails_only_them() {
    let stub = OsrmStub::start();
    let t = trip(&stub, 5);
    // A is a detour north; B lies on the straight line to Grenoble.
    let a = t.confirm("a@example.org", at("Détour", 45.1, 4.2));
    let b = t.confirm("b@example.org", at("Voiron", 45.0, 4.6));
    let report = t.worker.recalculate_due(now()).unwrap();
    assert_eq!(report.recalculated, 1);
    // Origin → A: 0.3 h = 18 min; A → B: 0.5 h = 30 min, plus a 2-minute stop at A.
    assert_eq!(t.pickup(a), Some(t.departure + Duration::minutes(18)));
    assert_eq!(t.pickup(b), Some(t.departure + Duration::minutes(50)));
    assert!(
        t.route_updates().is_empty(),
        "first computation is not a move"
    );
    assert!(
        stub.requests
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.starts_with("/table/v1/driving/"))
    );
    assert!(
        stub.requests
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.starts_with("/route/v1/driving/") && p.ends_with("?overview=false"))
    );

    t.f.service.remove(a, now()).unwrap();
    t.worker.recalculate_due(now()).unwrap();
    assert_eq!(t.pickup(b), Some(t.departure + Duration::minutes(36)));
    assert_eq!(
        t.route_updates(),
        vec!["b@example.org".to_string()],
        "exactly one email, to B"
    );
    let conn = rusqlite::Connection::open(&t.f.path).unwrap();
    let ctx: String = conn
        .query_row(
            "SELECT context FROM outbox WHERE template = 'route_updated_passenger'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let ctx: serde_json::Value = serde_json::from_str(&ctx).unwrap();
    assert_eq!(
        ctx["reservation"]["previous_pickup_at"],
        "2026-12-03T07:50:00Z"
    );
    assert_eq!(ctx["reservation"]["pickup_at"], "2026-12-03T07:36:00Z");
    // Nothing more is due: no recalculation, no email.
    assert_eq!(t.worker.recalculate_due(now()).unwrap(), Default::default());
}

#[test]
fn a_move_below_the_threshold_is_stored_but_not_emailed() {
    let stub = OsrmStub::start();
    let t = trip(&stub, 20);
    let a = t.confirm("a@example.org", at("Détour", 45.1, 4.2));
    let b = t.confirm("b@example.org", at("Voiron", 45.0, 4.6));
    t.worker.recalculate_due(now()).unwrap();
    t.f.service.remove(a, now()).unwrap();
    t.worker.recalculate_due(now()).unwrap();
    assert_eq!(
        t.pickup(b),
        Some(t.departure + Duration::minutes(36)),
        "14 minutes earlier"
    );
    assert!(t.route_updates().is_empty());
}

#[test]
fn osrm_down_never_blocks_and_is_retried_then_emailed() {
    let stub = OsrmStub::start();
    let t = trip(&stub, 5);
    let a = t.confirm("a@example.org", at("Détour", 45.1, 4.2));
    let b = t.confirm("b@example.org", at("Voiron", 45.0, 4.6));
    t.worker.recalculate_due(now()).unwrap();

    stub.set(Mode::Down);
    // The removal itself succeeds while OSRM is down.
    t.f.service.remove(a, now()).unwrap();
    let report = t.worker.recalculate_due(now()).unwrap();
    assert_eq!(report.retried, 1);
    let (status, attempts, error) = t.route_state();
    assert_eq!((status.as_str(), attempts), ("pending", 1));
    assert!(error.unwrap().contains("OSRM unavailable"));
    assert_eq!(
        t.pickup(b),
        Some(t.departure + Duration::minutes(50)),
        "unchanged meanwhile"
    );
    // Not due again before the backoff.
    assert_eq!(
        t.worker
            .recalculate_due(now() + Duration::seconds(30))
            .unwrap(),
        Default::default()
    );

    stub.set(Mode::Up);
    let report = t
        .worker
        .recalculate_due(now() + Duration::minutes(2))
        .unwrap();
    assert_eq!((report.recalculated, report.emails_queued), (1, 1));
    assert_eq!(t.pickup(b), Some(t.departure + Duration::minutes(36)));
    assert_eq!(t.route_updates(), vec!["b@example.org".to_string()]);
}

#[test]
fn no_route_is_recorded_as_failed_without_email() {
    let stub = OsrmStub::start();
    let t = trip(&stub, 5);
    stub.set(Mode::NoRoute);
    let a = t.confirm("a@example.org", at("Île", 45.1, 4.2));
    let report = t.worker.recalculate_due(now()).unwrap();
    assert_eq!(report.failed, 1);
    let (status, _, error) = t.route_state();
    assert_eq!(status, "failed");
    assert!(error.unwrap().contains("NoRoute"));
    assert_eq!(t.pickup(a), None);
    assert!(t.route_updates().is_empty());
    // Operators see it in the monitoring figures (stats, TUI overview).
    let stats = t.f.service.stats(now()).unwrap();
    assert_eq!((stats.routes_pending, stats.routes_failed), (0, 1));
    assert!(stats.route_last_failure.unwrap().contains("NoRoute"));
    // Permanent: not retried.
    assert_eq!(
        t.worker
            .recalculate_due(now() + Duration::hours(2))
            .unwrap(),
        Default::default()
    );
}

#[test]
fn implausible_durations_fail_once_without_panic_or_retry() {
    // Negative, not a finite f64, over 24 h: each one from the route and the table calls.
    for literal in ["-60", "1e999", "86401", "90000.5"] {
        let stub = OsrmStub::start();
        let t = trip(&stub, 5);
        stub.set(Mode::Durations(literal));
        // Two routed pickups: the order comes from the table, then the legs from the route.
        let a = t.confirm("a@example.org", at("Île", 45.1, 4.2));
        let b = t.confirm("b@example.org", at("Voiron", 45.0, 4.6));
        let report = t.worker.recalculate_due(now()).unwrap();
        assert_eq!((report.failed, report.retried), (1, 0), "{literal}");
        let (status, _, error) = t.route_state();
        assert_eq!(status, "failed", "{literal}");
        assert!(error.unwrap().contains("implausible"), "{literal}");
        assert_eq!((t.pickup(a), t.pickup(b)), (None, None));
        assert!(t.route_updates().is_empty());
        // Given up on: later ticks ask OSRM nothing more.
        let asked = stub.requests.lock().unwrap().len();
        for hours in [1, 2, 6] {
            assert_eq!(
                t.worker
                    .recalculate_due(now() + Duration::hours(hours))
                    .unwrap(),
                Default::default()
            );
        }
        assert_eq!(stub.requests.lock().unwrap().len(), asked, "{literal}");
    }
    // One leg only (no table call): the route answer alone is checked too.
    let stub = OsrmStub::start();
    let t = trip(&stub, 5);
    stub.set(Mode::Durations("-1"));
    t.confirm("a@example.org", at("Île", 45.1, 4.2));
    assert_eq!(t.worker.recalculate_due(now()).unwrap().failed, 1);
    assert!(stub.requests.lock().unwrap()[0].starts_with("/route/"));
}

#[test]
fn places_without_coordinates_are_skipped_with_the_reason() {
    let stub = OsrmStub::start();
    let t = trip(&stub, 5);
    let a = t.confirm("a@example.org", place("Chez moi"));
    let b = t.confirm("b@example.org", at("Voiron", 45.0, 4.6));
    t.worker.recalculate_due(now()).unwrap();
    assert_eq!(t.pickup(a), None);
    assert_eq!(t.pickup(b), Some(t.departure + Duration::minutes(36)));
    let (status, _, note) = t.route_state();
    assert_eq!(status, "ok");
    assert!(note.unwrap().contains("has no coordinates"));
}

/// The first pickup time a passenger gets: written into the confirmation while it is still
/// waiting in the outbox; once the confirmation has left, sent on its own, once.
#[test]
fn the_first_pickup_time_reaches_the_passenger_once() {
    let stub = OsrmStub::start();
    let t = trip(&stub, 5);
    let a = t.confirm("a@example.org", at("Détour", 45.1, 4.2));
    // A's confirmation has left already; B's is still queued when the route is known.
    let conn = rusqlite::Connection::open(&t.f.path).unwrap();
    conn.execute(
        "UPDATE outbox SET status = 'sent', sent_at = '2026-12-01 08:00:00'
         WHERE template = 'confirmed_passenger' AND reservation_id = ?1",
        [a],
    )
    .unwrap();
    let b = t.confirm("b@example.org", at("Voiron", 45.0, 4.6));
    t.worker.recalculate_due(now()).unwrap();
    let first_time: Vec<(String, String)> = outbox(&t.f.path)
        .into_iter()
        .filter(|(t, _)| t == "pickup_time_passenger")
        .collect();
    assert_eq!(
        first_time,
        [(
            "pickup_time_passenger".to_owned(),
            "a@example.org".to_owned()
        )]
    );
    let context = |template: &str, id: i64| -> serde_json::Value {
        let text: String = conn
            .query_row(
                "SELECT context FROM outbox WHERE template = ?1 AND reservation_id = ?2",
                rusqlite::params![template, id],
                |r| r.get(0),
            )
            .unwrap();
        serde_json::from_str(&text).unwrap()
    };
    assert_eq!(
        context("pickup_time_passenger", a)["reservation"]["pickup_at"],
        "2026-12-03T07:18:00Z"
    );
    // B's confirmation, not yet sent, now carries the time itself.
    assert_eq!(
        context("confirmed_passenger", b)["reservation"]["pickup_at"],
        "2026-12-03T07:50:00Z"
    );
    assert_eq!(t.pickup(b), Some(t.departure + Duration::minutes(50)));
    // Recomputing the same route announces nothing again.
    t.f.service.cancel(b, now()).unwrap();
    t.worker.recalculate_due(now()).unwrap();
    let count = outbox(&t.f.path)
        .into_iter()
        .filter(|(t, _)| t == "pickup_time_passenger" || t == "route_updated_passenger")
        .count();
    assert_eq!(count, 1, "A's time did not move: no second email");
}
