//! Route recalculation over OSRM (`routing.osrm_url`): orders the pickups, asks OSRM for
//! the legs' durations and derives each passenger's pickup time. The network call happens
//! outside any database transaction; the results are applied by the service.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Orders up to this many pickups by exhaustive search; beyond it, cheapest insertion.
const EXHAUSTIVE_MAX: usize = 6;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RouteError {
    /// OSRM unreachable, slow or failing (5xx): worth retrying later.
    #[error("OSRM unavailable: {0}")]
    Unavailable(String),
    /// OSRM answered but cannot route these places (`NoRoute`, `NoSegment`, …): retrying won't help.
    #[error("OSRM cannot route these places: {0}")]
    NoRoute(String),
    #[error("unexpected OSRM answer: {0}")]
    BadResponse(String),
    /// OSRM answered with numbers no route can have (a duration not finite, negative or
    /// over a day): asking again gives the same answer, so it is given up on like `NoRoute`.
    #[error("implausible OSRM answer: {0}")]
    Implausible(String),
}

impl RouteError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RouteError::Unavailable(_) | RouteError::BadResponse(_)
        )
    }
}

/// (lat, lon).
pub type Coord = (f64, f64);

#[derive(Debug, Deserialize)]
struct RouteResponse {
    code: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    routes: Vec<OsrmRoute>,
}

#[derive(Debug, Deserialize)]
struct OsrmRoute {
    legs: Vec<OsrmLeg>,
}

#[derive(Debug, Deserialize)]
struct OsrmLeg {
    duration: f64,
}

#[derive(Debug, Deserialize)]
struct TableResponse {
    code: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    durations: Vec<Vec<Option<f64>>>,
}

/// The OSRM HTTP API over one ureq Agent with explicit timeouts (ureq's default is none).
#[derive(Debug, Clone)]
pub struct OsrmClient {
    agent: ureq::Agent,
    base_url: String,
}

fn coords_path(coords: &[Coord]) -> String {
    // OSRM wants lon,lat.
    coords
        .iter()
        .map(|(lat, lon)| format!("{lon:.6},{lat:.6}"))
        .collect::<Vec<_>>()
        .join(";")
}

impl OsrmClient {
    pub fn new(base_url: &str, timeout: Duration) -> OsrmClient {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        OsrmClient {
            agent,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<(u16, T), RouteError> {
        let resp = self
            .agent
            .get(url)
            .call()
            .map_err(|e| RouteError::Unavailable(e.to_string()))?;
        let status = resp.status().as_u16();
        if status >= 500 {
            return Err(RouteError::Unavailable(format!("HTTP {status}")));
        }
        let body = resp.into_body().read_json::<T>().map_err(|e| match e {
            // A complete answer that is not the JSON we expect (e.g. `1e999`, which is no
            // f64) is a bad answer; a cut-off body is the network's fault and retried.
            ureq::Error::Json(j)
                if matches!(
                    j.classify(),
                    serde_json::error::Category::Syntax | serde_json::error::Category::Data
                ) =>
            {
                RouteError::Implausible(format!("HTTP {status}: {j}"))
            }
            e => RouteError::BadResponse(format!("HTTP {status}: {e}")),
        })?;
        Ok((status, body))
    }

    /// Durations in seconds of each leg of the route through `coords` in that order.
    pub fn leg_durations(&self, coords: &[Coord]) -> Result<Vec<f64>, RouteError> {
        let url = format!(
            "{}/route/v1/driving/{}?overview=false",
            self.base_url,
            coords_path(coords)
        );
        let (status, r): (u16, RouteResponse) = self.get_json(&url)?;
        if r.code != "Ok" {
            return Err(classify(&r.code, r.message.as_deref(), status));
        }
        let legs: Vec<f64> = r
            .routes
            .first()
            .ok_or_else(|| RouteError::BadResponse("no route in an Ok answer".into()))?
            .legs
            .iter()
            .map(|l| l.duration)
            .collect();
        if legs.len() + 1 != coords.len() {
            return Err(RouteError::BadResponse(format!(
                "{} legs for {} places",
                legs.len(),
                coords.len()
            )));
        }
        for &d in &legs {
            plausible(d)?;
        }
        Ok(legs)
    }

    /// The duration matrix between all `coords` (seconds).
    pub fn table(&self, coords: &[Coord]) -> Result<Vec<Vec<f64>>, RouteError> {
        let url = format!("{}/table/v1/driving/{}", self.base_url, coords_path(coords));
        let (status, t): (u16, TableResponse) = self.get_json(&url)?;
        if t.code != "Ok" {
            return Err(classify(&t.code, t.message.as_deref(), status));
        }
        if t.durations.len() != coords.len() {
            return Err(RouteError::BadResponse("table size does not match".into()));
        }
        t.durations
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|d| {
                        d.ok_or_else(|| RouteError::NoRoute("a pickup cannot be reached".into()))
                            .and_then(plausible)
                    })
                    .collect()
            })
            .collect()
    }

    /// Orders the pickups between `origin` and `destination` and returns the order (indices
    /// into `pickups`) with the duration of each leg along it.
    pub fn plan(
        &self,
        origin: Coord,
        pickups: &[Coord],
        destination: Coord,
    ) -> Result<Plan, RouteError> {
        let order = if pickups.len() <= 1 {
            (0..pickups.len()).collect()
        } else {
            let mut all = vec![origin];
            all.extend_from_slice(pickups);
            all.push(destination);
            best_order(&self.table(&all)?, pickups.len())
        };
        let mut path = vec![origin];
        path.extend(order.iter().map(|&i| pickups[i]));
        path.push(destination);
        let legs = self.leg_durations(&path)?;
        Ok(Plan { order, legs })
    }
}

/// The longest leg a carpool trip can have; anything longer is a broken answer, and would
/// push pickup times (and calendar dates) absurdly far.
const MAX_LEG_SECONDS: f64 = 24.0 * 3600.0;

/// A leg duration in seconds, if it is one a road route can have.
fn plausible(seconds: f64) -> Result<f64, RouteError> {
    if seconds.is_finite() && (0.0..=MAX_LEG_SECONDS).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(RouteError::Implausible(format!(
            "leg duration {seconds} s is not between 0 and 24 h"
        )))
    }
}

fn classify(code: &str, message: Option<&str>, status: u16) -> RouteError {
    let detail = match message {
        Some(m) => format!("{code}: {m}"),
        None => code.to_owned(),
    };
    match code {
        "NoRoute" | "NoSegment" | "NoTable" | "InvalidQuery" | "InvalidValue"
        | "InvalidOptions" | "TooBig" => RouteError::NoRoute(detail),
        _ if status == 429 => RouteError::Unavailable(detail),
        _ => RouteError::BadResponse(detail),
    }
}

/// The visiting order of the pickups and the durations (s) of the legs
/// origin → p[order[0]] → … → destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub order: Vec<usize>,
    pub legs: Vec<f64>,
}

impl Plan {
    /// Pickup time of each pickup (same indexing as the input pickups): departure plus the
    /// legs driven so far plus a short stop at each earlier pickup.
    pub fn pickup_times(
        &self,
        departure: DateTime<Utc>,
        stop: chrono::Duration,
    ) -> Vec<DateTime<Utc>> {
        let mut times = vec![departure; self.order.len()];
        let mut elapsed = 0.0_f64;
        for (k, &i) in self.order.iter().enumerate() {
            elapsed += self.legs.get(k).copied().unwrap_or(0.0);
            let stops = stop * i32::try_from(k).unwrap_or(0);
            times[i] = departure + chrono::Duration::seconds(elapsed.round() as i64) + stops;
        }
        times
    }
}

/// Shortest order through the pickups. `m` is the duration matrix over
/// [origin, pickups…, destination].
pub fn best_order(m: &[Vec<f64>], n: usize) -> Vec<usize> {
    let dest = n + 1;
    let cost = |order: &[usize]| -> f64 {
        let mut prev = 0;
        let mut total = 0.0;
        for &i in order {
            total += m[prev][i + 1];
            prev = i + 1;
        }
        total + m[prev][dest]
    };
    if n <= EXHAUSTIVE_MAX {
        let mut best: Vec<usize> = (0..n).collect();
        let mut best_cost = cost(&best);
        let mut perm: Vec<usize> = (0..n).collect();
        while next_permutation(&mut perm) {
            let c = cost(&perm);
            if c < best_cost {
                best_cost = c;
                best = perm.clone();
            }
        }
        best
    } else {
        // Cheapest insertion: good enough for a car, and O(n³) at worst.
        let mut order: Vec<usize> = Vec::new();
        for p in 0..n {
            let mut best_pos = 0;
            let mut best_cost = f64::INFINITY;
            for pos in 0..=order.len() {
                let mut trial = order.clone();
                trial.insert(pos, p);
                let c = cost(&trial);
                if c < best_cost {
                    best_cost = c;
                    best_pos = pos;
                }
            }
            order.insert(best_pos, p);
        }
        order
    }
}

fn next_permutation(v: &mut [usize]) -> bool {
    let Some(i) = v.windows(2).rposition(|w| w[0] < w[1]) else {
        return false;
    };
    let Some(j) = v.iter().rposition(|&x| x > v[i]) else {
        return false;
    };
    v.swap(i, j);
    v[i + 1..].reverse();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn exhaustive_order_finds_the_shortest_tour() {
        // Points on a line: origin 0, pickups at 3, 1, 2, destination 10.
        let pos = [0.0, 3.0, 1.0, 2.0, 10.0];
        let m: Vec<Vec<f64>> = pos
            .iter()
            .map(|a| pos.iter().map(|b| f64::abs(a - b)).collect())
            .collect();
        assert_eq!(best_order(&m, 3), vec![1, 2, 0]);
    }

    #[test]
    fn insertion_handles_many_pickups() {
        let pos: Vec<f64> = std::iter::once(0.0)
            .chain((1..=8).rev().map(f64::from))
            .chain([20.0])
            .collect();
        let m: Vec<Vec<f64>> = pos
            .iter()
            .map(|a| pos.iter().map(|b| f64::abs(a - b)).collect())
            .collect();
        assert_eq!(best_order(&m, 8), vec![7, 6, 5, 4, 3, 2, 1, 0]);
    }

    #[test]
    fn pickup_times_add_legs_and_stops() {
        let dep = Utc.with_ymd_and_hms(2026, 12, 3, 7, 0, 0).unwrap();
        let plan = Plan {
            order: vec![1, 0],
            legs: vec![600.0, 300.0, 1800.0],
        };
        let t = plan.pickup_times(dep, chrono::Duration::minutes(2));
        assert_eq!(t[1], dep + chrono::Duration::minutes(10));
        assert_eq!(t[0], dep + chrono::Duration::minutes(17));
    }

    #[test]
    fn osrm_codes_are_triaged() {
        assert!(matches!(
            classify("NoRoute", None, 400),
            RouteError::NoRoute(_)
        ));
        assert!(!classify("NoSegment", Some("x"), 400).is_transient());
        assert!(classify("Weird", None, 200).is_transient());
        assert_eq!(coords_path(&[(45.76, 4.83)]), "4.830000,45.760000");
    }
}
