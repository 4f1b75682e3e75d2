//! Reservations: one tab per status, a keyset-paged table, sort and text filter.
//!
//! The table holds one page (`PAGE_SIZE` rows) at a time. Moving past either end of the
//! page reads the neighbouring page from that row's sort key, so every move costs one
//! short index walk however deep in a million rows the cursor is.

mod draw;

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::pager::{Jump, Listing, Load, Pager, Placed};
use super::{cycle, thousands};
use crate::domain::Status;
use crate::store::browse::{Anchor, Query, Row, Sort, SortKey};
use crate::store::stats::Stats;
use crate::tui::data::Request;

pub use draw::{DrawContext, draw};

const SORTS: [Sort; 4] = [
    Sort {
        key: SortKey::Created,
        descending: true,
    },
    Sort {
        key: SortKey::Created,
        descending: false,
    },
    Sort {
        key: SortKey::Departure,
        descending: false,
    },
    Sort {
        key: SortKey::Departure,
        descending: true,
    },
];

pub fn sort_label(sort: Sort) -> &'static str {
    match (sort.key, sort.descending) {
        (SortKey::Created, true) => "newest request first",
        (SortKey::Created, false) => "oldest request first",
        (SortKey::Departure, false) => "earliest departure first",
        (SortKey::Departure, true) => "latest departure first",
    }
}

/// The absolute position of a page's first row, when it can be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    At(Option<usize>),
    /// The page ends just before this position (reading backwards).
    EndsAt(Option<usize>),
}

/// Where a requested page starts reading, and where it will sit.
#[derive(Debug, Clone, PartialEq)]
pub struct Where {
    pub anchor: Anchor,
    pub position: Position,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    None,
    Load(Load<Where>),
    OpenDetail(i64),
    EditFilter,
}

/// What the reservations list keeps besides its page: the text filter and the order.
#[derive(Debug, Clone, Default)]
pub struct ReservationList {
    pub filter: String,
    pub sort: Sort,
}

pub type ReservationsState = Pager<ReservationList>;

impl Listing for ReservationList {
    type Row = Row;
    type Status = Status;
    type At = Where;

    /// Most useful first; the last one lists every status.
    const TABS: &'static [Option<Status>] = &[
        Some(Status::Pending),
        Some(Status::Confirmed),
        Some(Status::Expired),
        Some(Status::Refused),
        Some(Status::Cancelled),
        Some(Status::Removed),
        None,
    ];

    fn tab_label(status: Option<Status>) -> &'static str {
        match status {
            Some(Status::Pending) => "Pending",
            Some(Status::Confirmed) => "Confirmed",
            Some(Status::Expired) => "Expired",
            Some(Status::Refused) => "Refused",
            Some(Status::Cancelled) => "Cancelled",
            Some(Status::Removed) => "Removed",
            None => "All",
        }
    }

    fn count(stats: &Stats, status: Status) -> i64 {
        match status {
            Status::Pending => stats.pending,
            Status::Confirmed => stats.confirmed,
            Status::Expired => stats.expired,
            Status::Refused => stats.refused,
            Status::Cancelled => stats.cancelled,
            Status::Removed => stats.removed,
        }
    }

    fn id(row: &Row) -> i64 {
        row.id
    }

    fn locate(p: &Pager<Self>, jump: Jump) -> (Request, Where) {
        let key = |r: &Row| r.key(p.list.sort.key);
        let (anchor, position) = match (jump, p.rows.first(), p.rows.last()) {
            (Jump::Here, Some(first), _) if p.more_before => {
                (Anchor::From(key(first)), Position::At(p.offset))
            }
            (Jump::Before, Some(first), _) => {
                (Anchor::Before(key(first)), Position::EndsAt(p.offset))
            }
            (Jump::After, _, Some(last)) => (
                Anchor::After(key(last)),
                Position::At(p.offset.map(|o| o + p.rows.len())),
            ),
            (Jump::Last(total), _, _) => (
                Anchor::Last,
                Position::EndsAt(total.and_then(|t| usize::try_from(t).ok())),
            ),
            (Jump::First | Jump::Here | Jump::Before | Jump::After, _, _) => {
                (Anchor::First, Position::At(Some(0)))
            }
        };
        let request = Request::Reservations {
            query: p.query(),
            anchor: anchor.clone(),
        };
        (request, Where { anchor, position })
    }

    fn place(at: &Where, len: usize, more: bool) -> Placed {
        if len == 0 {
            return match at.anchor {
                Anchor::After(_) => Placed::NoneAfter,
                Anchor::Before(_) => Placed::NoneBefore,
                Anchor::From(_) => Placed::Restart,
                Anchor::First | Anchor::Last => Placed::Show {
                    offset: Some(0),
                    more_before: false,
                    more_after: false,
                },
            };
        }
        let (before, after) = match at.anchor {
            Anchor::First => (false, more),
            Anchor::Last => (more, false),
            Anchor::After(_) => (true, more),
            Anchor::Before(_) => (more, true),
            Anchor::From(_) => (at.position != Position::At(Some(0)), more),
        };
        let offset = if before {
            match at.position {
                Position::At(o) => o,
                Position::EndsAt(end) => end.map(|e| e.saturating_sub(len)),
            }
        } else {
            Some(0)
        };
        Placed::Show {
            offset,
            more_before: before,
            more_after: after,
        }
    }
}

impl Pager<ReservationList> {
    pub fn query(&self) -> Query {
        Query {
            status: self.status(),
            filter: self.list.filter.trim().to_owned(),
            sort: self.list.sort,
        }
    }

    /// `step`: rows per screen (PgUp/PgDn).
    pub fn handle_key(&mut self, key: &KeyEvent, step: usize, stats: Option<&Stats>) -> Outcome {
        match key.code {
            KeyCode::Char('s') => {
                let i = SORTS.iter().position(|s| *s == self.list.sort).unwrap_or(0);
                self.list.sort = SORTS[cycle(i, SORTS.len(), 1)];
                return Outcome::Load(self.switched());
            }
            KeyCode::Char('/') => return Outcome::EditFilter,
            KeyCode::Enter => {
                return self
                    .selected_row()
                    .map_or(Outcome::None, |r| Outcome::OpenDetail(r.id));
            }
            _ => {}
        }
        self.page_key(key, step, stats)
            .map_or(Outcome::None, Outcome::Load)
    }

    /// "row 12 · 12–111 of 50,000", "… of many" when a filter makes the total unknown.
    pub fn position_label(&self, total: Option<u64>) -> String {
        if self.rows.is_empty() {
            return String::new();
        }
        let len = self.rows.len() as u64;
        let total = match total {
            Some(t) if self.list.filter.trim().is_empty() => Some(t),
            _ if !self.more_before && !self.more_after => Some(len),
            _ => None,
        };
        let range = self.range_label();
        match total {
            Some(t) => format!("{range} of {}", thousands(t)),
            None => format!("{range} of many"),
        }
    }
}
