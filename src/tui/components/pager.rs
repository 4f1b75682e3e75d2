//! One paged table, shared by the reservations and the outbox: the page of rows on screen,
//! the selected row, the status tab and the page being read.
//!
//! A list (`Listing`) says only how a neighbouring page is asked for and where a page that
//! arrives sits (keyset anchors for reservations, plain offsets for the outbox); moving the
//! selection, crossing a page edge and taking a page in are the same for both.

mod draw;

use ratatui::crossterm::event::KeyEvent;
use ratatui::text::Line;
use ratatui::widgets::TableState;

use super::{Move, cycle, tab_step, thousands};
use crate::store::stats::Stats;
use crate::tui::data::{Page, Request};
use crate::tui::theme::{Theme, tabs_line};

pub use draw::Look;

/// What a paged list adds to the pager.
pub trait Listing: Sized {
    type Row: std::fmt::Debug;
    type Status: Copy + std::fmt::Debug + 'static;
    /// Where a requested page will sit, kept until it arrives.
    type At: Clone + std::fmt::Debug + PartialEq;

    /// Status tabs in screen order; `None` lists every status.
    const TABS: &'static [Option<Self::Status>];

    fn tab_label(status: Option<Self::Status>) -> &'static str;
    /// Rows in `status`, from the monitoring figures.
    fn count(stats: &Stats, status: Self::Status) -> i64;
    fn id(row: &Self::Row) -> i64;
    /// The request for the page `jump` leads to from the one on screen, and where it sits.
    fn locate(p: &Pager<Self>, jump: Jump) -> (Request, Self::At);
    /// Where a page read at `at` sits, given its row count and whether more lie beyond it.
    fn place(at: &Self::At, len: usize, more: bool) -> Placed;
}

/// A page to read, relative to the one on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jump {
    First,
    /// The same page again (the data changed).
    Here,
    Before,
    After,
    /// The last page, knowing how many rows the tab holds when the figures are in.
    Last(Option<u64>),
}

/// Where a page that arrived goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// On screen: the absolute index of its first row when known, and what lies around it.
    Show {
        offset: Option<usize>,
        more_before: bool,
        more_after: bool,
    },
    /// Nothing is left before the page on screen, which stays.
    NoneBefore,
    /// Nothing is left after the page on screen, which stays.
    NoneAfter,
    /// The page it was positioned on emptied: start over at the top.
    Restart,
}

/// Which row to select once a page arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    Index(usize),
    /// Counted from the end: 1 is the last row.
    FromEnd(usize),
    /// The same row if it is still there, else the same line.
    Keep {
        id: Option<i64>,
        index: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Nav<A> {
    pub at: A,
    pub select: Select,
}

/// A page to ask the loader for, and what to do with it when it comes.
#[derive(Debug, Clone, PartialEq)]
pub struct Load<A> {
    pub request: Request,
    pub nav: Nav<A>,
}

#[derive(Debug)]
pub struct Pager<L: Listing> {
    /// What the list itself keeps (the reservations' filter and order).
    pub list: L,
    pub tab: usize,
    pub rows: Vec<L::Row>,
    /// Absolute index of `rows[0]` in the whole listing, when it can be known.
    pub offset: Option<usize>,
    pub more_before: bool,
    pub more_after: bool,
    pub selected: usize,
    pub loaded: bool,
    pub error: Option<String>,
    pub table: TableState,
    pending: Option<(u64, Nav<L::At>)>,
}

impl<L: Listing + Default> Default for Pager<L> {
    fn default() -> Self {
        Pager {
            list: L::default(),
            tab: 0,
            rows: Vec::new(),
            offset: None,
            more_before: false,
            more_after: false,
            selected: 0,
            loaded: false,
            error: None,
            table: TableState::default(),
            pending: None,
        }
    }
}

/// Rows in `status` (None: every status), from the monitoring figures.
pub fn status_total<L: Listing>(stats: &Stats, status: Option<L::Status>) -> u64 {
    let n = match status {
        Some(s) => L::count(stats, s),
        None => L::TABS.iter().flatten().map(|s| L::count(stats, *s)).sum(),
    };
    u64::try_from(n).unwrap_or(0)
}

impl<L: Listing> Pager<L> {
    pub fn status(&self) -> Option<L::Status> {
        L::TABS.get(self.tab).copied().flatten()
    }

    /// The name of the current tab.
    pub fn tab_label(&self) -> &'static str {
        L::tab_label(self.status())
    }

    pub fn selected_row(&self) -> Option<&L::Row> {
        self.rows.get(self.selected)
    }

    /// Rows in the current tab, once the figures are in.
    pub fn total(&self, stats: Option<&Stats>) -> Option<u64> {
        stats.map(|s| status_total::<L>(s, self.status()))
    }

    /// The status tabs with their counts, the current one highlighted.
    pub fn tabs(&self, stats: Option<&Stats>, width: u16, theme: Theme) -> Line<'static> {
        let labels: Vec<(String, String)> = L::TABS
            .iter()
            .map(|t| {
                let n = stats.map(|st| thousands(status_total::<L>(st, *t)));
                (L::tab_label(*t).to_owned(), n.unwrap_or_default())
            })
            .collect();
        tabs_line(&labels, self.tab, width, theme)
    }

    /// "row 12 · 1–100" ("last rows" where the position is unknown), empty without rows.
    pub fn range_label(&self) -> String {
        if self.rows.is_empty() {
            return String::new();
        }
        let len = self.rows.len() as u64;
        match self.offset {
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
        }
    }

    fn load(&self, jump: Jump, select: Select) -> Load<L::At> {
        let (request, at) = L::locate(self, jump);
        Load {
            request,
            nav: Nav { at, select },
        }
    }

    /// The first page of the current tab.
    pub fn reset(&self) -> Load<L::At> {
        self.load(Jump::First, Select::Index(0))
    }

    /// The same page again (the data changed), keeping the selected row.
    pub fn reload(&self) -> Load<L::At> {
        self.load(
            Jump::Here,
            Select::Keep {
                id: self.selected_row().map(L::id),
                index: self.selected,
            },
        )
    }

    /// The tab (or what the list shows) changed: back to the first page.
    pub fn switched(&mut self) -> Load<L::At> {
        self.rows.clear();
        self.selected = 0;
        self.offset = Some(0);
        self.more_before = false;
        self.more_after = false;
        self.loaded = false;
        *self.table.offset_mut() = 0;
        self.reset()
    }

    pub fn expect(&mut self, seq: u64, nav: Nav<L::At>) {
        self.pending = Some((seq, nav));
    }

    pub fn is_loading(&self) -> bool {
        self.pending.is_some()
    }

    /// Takes a page in; may ask for another one (the page it was positioned on emptied).
    pub fn apply(&mut self, seq: u64, result: Result<Page<L::Row>, String>) -> Option<Load<L::At>> {
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
        let len = page.rows.len();
        match L::place(&nav.at, len, page.more) {
            Placed::Restart => return Some(self.reset()),
            Placed::NoneBefore => self.more_before = false,
            Placed::NoneAfter => self.more_after = false,
            Placed::Show {
                offset,
                more_before,
                more_after,
            } => {
                let index = match nav.select {
                    Select::Index(i) => i,
                    Select::FromEnd(k) => len.saturating_sub(k.max(1)),
                    Select::Keep { id, index } => id
                        .and_then(|id| page.rows.iter().position(|r| L::id(r) == id))
                        .unwrap_or(index),
                };
                self.rows = page.rows;
                self.offset = offset;
                self.more_before = more_before;
                self.more_after = more_after;
                self.selected = index.min(len.saturating_sub(1));
            }
        }
        self.loaded = true;
        None
    }

    /// Tab and movement keys; `step`: rows per screen (PgUp/PgDn). Some page to read, or
    /// None when the key moved within the page or is not the pager's.
    pub fn page_key(
        &mut self,
        key: &KeyEvent,
        step: usize,
        stats: Option<&Stats>,
    ) -> Option<Load<L::At>> {
        if let Some(d) = tab_step(key) {
            self.tab = cycle(self.tab, L::TABS.len(), d);
            return Some(self.switched());
        }
        let m = Move::from_key(key)?;
        self.move_by(m, step.max(1), self.total(stats))
    }

    fn move_by(&mut self, m: Move, step: usize, total: Option<u64>) -> Option<Load<L::At>> {
        let len = self.rows.len();
        if len == 0 {
            return None;
        }
        match m {
            Move::Down | Move::PageDown => {
                let target = self.selected + if m == Move::Down { 1 } else { step };
                if target < len {
                    self.selected = target;
                } else if self.more_after {
                    return Some(self.load(Jump::After, Select::Index(target - len)));
                } else {
                    self.selected = len - 1;
                }
            }
            Move::Up | Move::PageUp => {
                let back = if m == Move::Up { 1 } else { step };
                if self.selected >= back {
                    self.selected -= back;
                } else if self.more_before {
                    let from_end = back - self.selected;
                    return Some(self.load(Jump::Before, Select::FromEnd(from_end)));
                } else {
                    self.selected = 0;
                }
            }
            Move::Top if self.more_before => return Some(self.reset()),
            Move::Top => self.selected = 0,
            Move::Bottom if self.more_after => {
                return Some(self.load(Jump::Last(total), Select::FromEnd(1)));
            }
            Move::Bottom => self.selected = len - 1,
        }
        None
    }
}
