//! The email outbox: queued, sending, sent and failed emails; retrying failures.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row as TableRow, Table, TableState, Wrap};

use super::{Move, age_since, cycle, local, tab_step, thousands};
use crate::store::outbox::{EmailStatus, OutboxEmail};
use crate::store::stats::Stats;
use crate::tui::data::{OutboxPage, PAGE_SIZE, Request};
use crate::tui::theme::{Theme, tabs_line};

pub const TABS: [Option<EmailStatus>; 5] = [
    None,
    Some(EmailStatus::Queued),
    Some(EmailStatus::Sending),
    Some(EmailStatus::Sent),
    Some(EmailStatus::Failed),
];

pub fn tab_label(status: Option<EmailStatus>) -> &'static str {
    match status {
        None => "All",
        Some(EmailStatus::Queued) => "Queued",
        Some(EmailStatus::Sending) => "Sending",
        Some(EmailStatus::Sent) => "Sent",
        Some(EmailStatus::Failed) => "Failed",
    }
}

pub fn status_total(stats: &Stats, status: Option<EmailStatus>) -> u64 {
    let n = match status {
        None => {
            stats.outbox_queued + stats.outbox_sending + stats.outbox_sent + stats.outbox_failed
        }
        Some(EmailStatus::Queued) => stats.outbox_queued,
        Some(EmailStatus::Sending) => stats.outbox_sending,
        Some(EmailStatus::Sent) => stats.outbox_sent,
        Some(EmailStatus::Failed) => stats.outbox_failed,
    };
    u64::try_from(n).unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    Index(usize),
    FromEnd(usize),
    Keep { id: Option<i64>, index: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nav {
    pub offset: usize,
    pub select: Select,
}

/// The email a retry prompt is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryTarget {
    pub id: i64,
    pub template: String,
    pub recipient: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    None,
    Load(Request, Nav),
    ConfirmRetry(RetryTarget),
    ConfirmRetryAll(u64),
    Notice(String),
}

#[derive(Debug, Clone, Default)]
pub struct OutboxState {
    pub tab: usize,
    pub rows: Vec<OutboxEmail>,
    pub offset: usize,
    pub more: bool,
    pub selected: usize,
    pub loaded: bool,
    pub error: Option<String>,
    pub table: TableState,
    pending: Option<(u64, Nav)>,
}

impl OutboxState {
    pub fn status(&self) -> Option<EmailStatus> {
        TABS.get(self.tab).copied().flatten()
    }

    pub fn selected_email(&self) -> Option<&OutboxEmail> {
        self.rows.get(self.selected)
    }

    fn load(&self, offset: usize, select: Select) -> Outcome {
        Outcome::Load(
            Request::Outbox {
                status: self.status(),
                offset,
            },
            Nav { offset, select },
        )
    }

    pub fn reload(&self) -> Outcome {
        self.load(
            self.offset,
            Select::Keep {
                id: self.selected_email().map(|e| e.id),
                index: self.selected,
            },
        )
    }

    pub fn expect(&mut self, seq: u64, nav: Nav) {
        self.pending = Some((seq, nav));
    }

    pub fn is_loading(&self) -> bool {
        self.pending.is_some()
    }

    pub fn apply(&mut self, seq: u64, result: Result<OutboxPage, String>) -> Option<Outcome> {
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
        self.loaded = true;
        if page.rows.is_empty() && nav.offset > 0 {
            // The rows this page showed are gone (sent, retried): start over at the top.
            return Some(self.load(0, Select::Index(0)));
        }
        let len = page.rows.len();
        let index = match nav.select {
            Select::Index(i) => i,
            Select::FromEnd(k) => len.saturating_sub(k.max(1)),
            Select::Keep { id, index } => id
                .and_then(|id| page.rows.iter().position(|e| e.id == id))
                .unwrap_or(index),
        };
        self.rows = page.rows;
        self.more = page.more;
        self.offset = nav.offset;
        self.selected = index.min(len.saturating_sub(1));
        None
    }

    pub fn switched(&mut self) -> Outcome {
        self.rows.clear();
        self.offset = 0;
        self.selected = 0;
        self.more = false;
        self.loaded = false;
        *self.table.offset_mut() = 0;
        self.load(0, Select::Index(0))
    }

    pub fn handle_key(&mut self, key: &KeyEvent, step: usize, stats: Option<&Stats>) -> Outcome {
        if let Some(d) = tab_step(key) {
            self.tab = cycle(self.tab, TABS.len(), d);
            return self.switched();
        }
        match key.code {
            KeyCode::Char('r') => {
                return match self.selected_email() {
                    Some(e) if e.status == EmailStatus::Failed => {
                        Outcome::ConfirmRetry(RetryTarget {
                            id: e.id,
                            template: e.template.clone(),
                            recipient: e.recipient.clone(),
                        })
                    }
                    Some(e) => Outcome::Notice(format!(
                        "Email #{} is {}: only failed emails can be retried",
                        e.id,
                        e.status.as_str()
                    )),
                    None => Outcome::None,
                };
            }
            KeyCode::Char('R') => {
                let failed = stats.map_or(0, |s| status_total(s, Some(EmailStatus::Failed)));
                return if failed == 0 {
                    Outcome::Notice("No failed email to retry".into())
                } else {
                    Outcome::ConfirmRetryAll(failed)
                };
            }
            _ => {}
        }
        let total = stats.map(|s| status_total(s, self.status()));
        match Move::from_key(key) {
            Some(m) => self.move_by(m, step.max(1), total),
            None => Outcome::None,
        }
    }

    fn move_by(&mut self, m: Move, step: usize, total: Option<u64>) -> Outcome {
        let len = self.rows.len();
        if len == 0 {
            return Outcome::None;
        }
        let prev = self.offset.saturating_sub(PAGE_SIZE);
        match m {
            Move::Down | Move::PageDown => {
                let target = self.selected + if m == Move::Down { 1 } else { step };
                if target < len {
                    self.selected = target;
                } else if self.more {
                    return self.load(self.offset + len, Select::Index(target - len));
                } else {
                    self.selected = len - 1;
                }
            }
            Move::Up | Move::PageUp => {
                let back = if m == Move::Up { 1 } else { step };
                if self.selected >= back {
                    self.selected -= back;
                } else if self.offset > 0 {
                    return self.load(prev, Select::FromEnd(back - self.selected));
                } else {
                    self.selected = 0;
                }
            }
            Move::Top if self.offset > 0 => return self.load(0, Select::Index(0)),
            Move::Top => self.selected = 0,
            Move::Bottom if self.more => {
                let last = match total {
                    Some(t) if t > 0 => {
                        usize::try_from((t - 1) / PAGE_SIZE as u64 * PAGE_SIZE as u64)
                            .unwrap_or(self.offset + len)
                    }
                    _ => self.offset + len,
                };
                return self.load(last, Select::FromEnd(1));
            }
            Move::Bottom => self.selected = len - 1,
        }
        Outcome::None
    }
}

pub fn draw(
    f: &mut Frame,
    area: Rect,
    s: &mut OutboxState,
    stats: Option<&Stats>,
    now: DateTime<Utc>,
    tz: Tz,
    theme: Theme,
) {
    let panel = if area.height >= 14 { 5 } else { 0 };
    let [tabs_area, table_area, panel_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(panel),
    ])
    .areas(area);
    let labels: Vec<(String, String)> = TABS
        .iter()
        .map(|t| {
            let n = stats.map(|st| thousands(status_total(st, *t)));
            (tab_label(*t).to_owned(), n.unwrap_or_default())
        })
        .collect();
    f.render_widget(tabs_line(&labels, s.tab, tabs_area.width, theme), tabs_area);

    let total = stats.map(|st| status_total(st, s.status()));
    let range = match (s.rows.len(), total) {
        (0, _) => String::new(),
        (len, t) => format!(
            " row {} · {}–{}{} ",
            thousands((s.offset + s.selected + 1) as u64),
            thousands(s.offset as u64 + 1),
            thousands((s.offset + len) as u64),
            t.map(|t| format!(" of {}", thousands(t)))
                .unwrap_or_default()
        ),
    };
    let mut block = Block::bordered()
        .title(Span::styled(
            format!(" Outbox · {} · newest first ", tab_label(s.status())),
            theme.title(),
        ))
        .title_bottom(Line::from(range).right_aligned());
    if s.is_loading() {
        block = block.title_bottom(Line::from(Span::styled(" loading… ", theme.dim())));
    }
    if let Some(e) = &s.error {
        let p = Paragraph::new(format!("Cannot read the outbox: {e}"))
            .style(theme.error())
            .block(block);
        f.render_widget(p, table_area);
        return;
    }
    if s.rows.is_empty() {
        let text = if s.loaded {
            format!("No {} email.", tab_label(s.status()).to_lowercase())
        } else {
            "Loading…".to_owned()
        };
        f.render_widget(
            Paragraph::new(text).style(theme.dim()).block(block),
            table_area,
        );
        return;
    }
    let wide = table_area.width >= 110;
    let mut header = vec!["#", "Status", "Template", "Recipient", "Att.", "Age"];
    let mut widths = vec![
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(24),
        Constraint::Fill(2),
        Constraint::Length(4),
        Constraint::Length(4),
    ];
    if wide {
        header.push("Last error");
        widths.push(Constraint::Fill(3));
    }
    let rows = s.rows.iter().map(|e| {
        let mut cells = vec![
            Cell::from(e.id.to_string()),
            Cell::from(e.status.as_str()).style(theme.email(e.status)),
            Cell::from(e.template.clone()),
            Cell::from(e.recipient.clone()),
            Cell::from(format!("{:>4}", e.attempts)),
            Cell::from(format!("{:>4}", age_since(now, e.created_at))),
        ];
        if wide {
            cells.push(Cell::from(e.last_error.clone().unwrap_or_default()).style(theme.error()));
        }
        TableRow::new(cells)
    });
    let table = Table::new(rows, widths)
        .header(TableRow::new(header).style(theme.header()))
        .row_highlight_style(theme.selected())
        .block(block);
    s.table.select(Some(s.selected));
    f.render_stateful_widget(table, table_area, &mut s.table);

    if panel > 0
        && let Some(e) = s.selected_email()
    {
        f.render_widget(panel_text(e, now, tz, theme), panel_area);
    }
}

fn panel_text(e: &OutboxEmail, now: DateTime<Utc>, tz: Tz, theme: Theme) -> Paragraph<'static> {
    let mut about = format!("#{} {} → {}", e.id, e.template, e.recipient);
    if let Some(r) = e.reservation_id {
        about.push_str(&format!(" · reservation #{r}"));
    }
    let when = match e.status {
        EmailStatus::Sent => e
            .sent_at
            .map(|t| format!("sent {}", local(t, tz)))
            .unwrap_or_else(|| "sent".into()),
        EmailStatus::Queued if e.next_attempt_at > now => format!(
            "next attempt {} (in {})",
            local(e.next_attempt_at, tz),
            super::age((e.next_attempt_at - now).num_seconds())
        ),
        EmailStatus::Queued => "due now".into(),
        EmailStatus::Sending => "being sent".into(),
        EmailStatus::Failed => "gave up: press r to retry".into(),
    };
    let lines = vec![
        Line::from(format!(
            "{about} · created {} · {} attempt(s) · {when}",
            local(e.created_at, tz),
            e.attempts
        )),
        match &e.last_error {
            Some(err) => Line::styled(format!("Last error: {err}"), theme.error()),
            None => Line::styled("No error", theme.dim()),
        },
    ];
    Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .block(Block::bordered().title(Span::styled(" Selected email ", theme.title())))
}
