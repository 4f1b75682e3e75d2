//! Reservations: one tab per status, a keyset-paged table, sort and text filter.
//!
//! The table holds one page (`PAGE_SIZE` rows) at a time. Moving past either end of the
//! page reads the neighbouring page from that row's sort key, so every move costs one
//! short index walk however deep in a million rows the cursor is.

mod draw;

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::widgets::TableState;

use super::{Move, cycle, tab_step, thousands};
use crate::domain::Status;
use crate::store::browse::{Anchor, Query, Row, Sort, SortKey};
use crate::store::stats::Stats;
use crate::tui::data::{Request, ReservationsPage};

pub use draw::{DrawContext, draw};

/// Status tabs, most useful first; the last one lists every status.
pub const TABS: [Option<Status>; 7] = [
    Some(Status::Pending),
    Some(Status::Confirmed),
    Some(Status::Expired),
    Some(Status::Refused),
    Some(Status::Cancelled),
    Some(Status::Removed),
    None,
];

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

pub fn tab_label(status: Option<Status>) -> &'static str {
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

/// Reservations in `status` (None: all), from the monitoring figures.
pub fn status_total(stats: &Stats, status: Option<Status>) -> u64 {
    let n = match status {
        Some(Status::Pending) => stats.pending,
        Some(Status::Confirmed) => stats.confirmed,
        Some(Status::Expired) => stats.expired,
        Some(Status::Refused) => stats.refused,
        Some(Status::Cancelled) => stats.cancelled,
        Some(Status::Removed) => stats.removed,
        None => {
            stats.pending
                + stats.confirmed
                + stats.expired
                + stats.refused
                + stats.cancelled
                + stats.removed
        }
    };
    u64::try_from(n).unwrap_or(0)
}

/// Which row to select once a page arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    Index(usize),
    /// Counted from the end: 1 is the last row.
    FromEnd(usize),
    /// The same reservation if it is still there, else the same line.
    Keep {
        id: Option<i64>,
        index: usize,
    },
}

/// The absolute position of a page's first row, when it can be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    At(Option<usize>),
    /// The page ends just before this position (reading backwards).
    EndsAt(Option<usize>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Nav {
    pub anchor: Anchor,
    pub select: Select,
    pub position: Position,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    None,
    Load(Request, Nav),
    OpenDetail(i64),
    EditFilter,
}

#[derive(Debug, Clone, Default)]
pub struct ReservationsState {
    pub tab: usize,
    pub filter: String,
    pub sort: Sort,
    pub rows: Vec<Row>,
    /// Absolute index of `rows[0]` in the whole listing (unknown after jumping to the end
    /// of a filtered listing).
    pub offset: Option<usize>,
    pub more_before: bool,
    pub more_after: bool,
    pub selected: usize,
    pub loaded: bool,
    pub error: Option<String>,
    pub table: TableState,
    pending: Option<(u64, Nav)>,
}

impl ReservationsState {
    pub fn status(&self) -> Option<Status> {
        TABS.get(self.tab).copied().flatten()
    }

    pub fn query(&self) -> Query {
        Query {
            status: self.status(),
            filter: self.filter.trim().to_owned(),
            sort: self.sort,
        }
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.rows.get(self.selected)
    }

    fn load(&self, anchor: Anchor, select: Select, position: Position) -> Outcome {
        Outcome::Load(
            Request::Reservations {
                query: self.query(),
                anchor: anchor.clone(),
            },
            Nav {
                anchor,
                select,
                position,
            },
        )
    }

    /// The first page of the current tab, filter and order.
    pub fn reset(&self) -> Outcome {
        self.load(Anchor::First, Select::Index(0), Position::At(Some(0)))
    }

    /// The same page again (the data changed): the top stays the top so new rows show up.
    pub fn reload(&self) -> Outcome {
        let select = Select::Keep {
            id: self.selected_row().map(|r| r.id),
            index: self.selected,
        };
        match self.rows.first() {
            Some(first) if self.more_before => self.load(
                Anchor::From(first.key(self.sort.key)),
                select,
                Position::At(self.offset),
            ),
            _ => self.load(Anchor::First, select, Position::At(Some(0))),
        }
    }

    pub fn expect(&mut self, seq: u64, nav: Nav) {
        self.pending = Some((seq, nav));
    }

    pub fn is_loading(&self) -> bool {
        self.pending.is_some()
    }

    /// Takes a page in; may ask for another one (the page it was positioned on emptied).
    pub fn apply(&mut self, seq: u64, result: Result<ReservationsPage, String>) -> Option<Outcome> {
        let nav = match self.pending.take() {
            Some((s, nav)) if s == seq => nav,
            other => {
                self.pending = other;
                return None;
            }
        };
        let page = match result {
            Ok(p) => p,
            Err(e) => {
                self.error = Some(e);
                return None;
            }
        };
        self.error = None;
        if page.rows.is_empty() {
            match nav.anchor {
                Anchor::After(_) => self.more_after = false,
                Anchor::Before(_) => self.more_before = false,
                Anchor::From(_) => return Some(self.reset()),
                Anchor::First | Anchor::Last => self.take(Vec::new(), Some(0), false, false),
            }
            self.loaded = true;
            return None;
        }
        let len = page.rows.len();
        let (before, after) = match nav.anchor {
            Anchor::First => (false, page.more),
            Anchor::Last => (page.more, false),
            Anchor::After(_) => (true, page.more),
            Anchor::Before(_) => (page.more, true),
            Anchor::From(_) => (nav.position != Position::At(Some(0)), page.more),
        };
        let offset = if before {
            match nav.position {
                Position::At(o) => o,
                Position::EndsAt(end) => end.map(|e| e.saturating_sub(len)),
            }
        } else {
            Some(0)
        };
        let index = match nav.select {
            Select::Index(i) => i,
            Select::FromEnd(k) => len.saturating_sub(k.max(1)),
            Select::Keep { id, index } => id
                .and_then(|id| page.rows.iter().position(|r| r.id == id))
                .unwrap_or(index),
        };
        self.take(page.rows, offset, before, after);
        self.selected = index.min(len - 1);
        self.loaded = true;
        None
    }

    fn take(&mut self, rows: Vec<Row>, offset: Option<usize>, before: bool, after: bool) {
        self.rows = rows;
        self.offset = offset;
        self.more_before = before;
        self.more_after = after;
        self.selected = 0;
    }

    /// `step`: rows per screen (PgUp/PgDn); `total`: rows in this tab when known.
    pub fn handle_key(&mut self, key: &KeyEvent, step: usize, total: Option<u64>) -> Outcome {
        if let Some(d) = tab_step(key) {
            self.tab = cycle(self.tab, TABS.len(), d);
            return self.switched();
        }
        match key.code {
            KeyCode::Char('s') => {
                let i = SORTS.iter().position(|s| *s == self.sort).unwrap_or(0);
                self.sort = SORTS[cycle(i, SORTS.len(), 1)];
                return self.switched();
            }
            KeyCode::Char('/') => return Outcome::EditFilter,
            KeyCode::Enter => {
                return self
                    .selected_row()
                    .map_or(Outcome::None, |r| Outcome::OpenDetail(r.id));
            }
            _ => {}
        }
        match Move::from_key(key) {
            Some(m) => self.move_by(m, step.max(1), total),
            None => Outcome::None,
        }
    }

    /// The tab, filter or order changed: back to the first page.
    pub fn switched(&mut self) -> Outcome {
        self.rows.clear();
        self.selected = 0;
        self.offset = Some(0);
        self.more_before = false;
        self.more_after = false;
        self.loaded = false;
        *self.table.offset_mut() = 0;
        self.reset()
    }

    fn move_by(&mut self, m: Move, step: usize, total: Option<u64>) -> Outcome {
        let len = self.rows.len();
        let end = self.offset.map(|o| o + len);
        let (first, last) = match (self.rows.first(), self.rows.last()) {
            (Some(f), Some(l)) => (f.key(self.sort.key), l.key(self.sort.key)),
            _ => return Outcome::None,
        };
        let target = match m {
            Move::Down => self.selected + 1,
            Move::PageDown => self.selected + step,
            Move::Up | Move::PageUp => {
                let back = if m == Move::Up { 1 } else { step };
                if self.selected >= back {
                    self.selected -= back;
                } else if self.more_before {
                    let from_end = back - self.selected;
                    return self.load(
                        Anchor::Before(first),
                        Select::FromEnd(from_end),
                        Position::EndsAt(self.offset),
                    );
                } else {
                    self.selected = 0;
                }
                return Outcome::None;
            }
            Move::Top if self.more_before => {
                return self.load(Anchor::First, Select::Index(0), Position::At(Some(0)));
            }
            Move::Top => 0,
            Move::Bottom if self.more_after => {
                let total = total.and_then(|t| usize::try_from(t).ok());
                return self.load(Anchor::Last, Select::FromEnd(1), Position::EndsAt(total));
            }
            Move::Bottom => len - 1,
        };
        if target < len {
            self.selected = target;
        } else if self.more_after {
            return self.load(
                Anchor::After(last),
                Select::Index(target - len),
                Position::At(end),
            );
        } else {
            self.selected = len - 1;
        }
        Outcome::None
    }

    /// "12–111 of 50,000", or without a total when a filter makes it unknown.
    pub fn position_label(&self, total: Option<u64>) -> String {
        if self.rows.is_empty() {
            return String::new();
        }
        let len = self.rows.len() as u64;
        let total = match total {
            Some(t) if self.filter.trim().is_empty() => Some(t),
            _ if !self.more_before && !self.more_after => Some(len),
            _ => None,
        };
        let range = match self.offset {
            Some(o) => {
                let o = o as u64;
                format!(
                    "row {} · {}–{}",
                    thousands(o + self.selected as u64 + 1),
                    thousands(o + 1),
                    thousands(o + len)
                )
            }
            None => "last rows".to_owned(),
        };
        match total {
            Some(t) => format!("{range} of {}", thousands(t)),
            None => format!("{range} of many"),
        }
    }
}
