//! The email outbox: queued, sending, sent and failed emails; retrying failures.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row as TableRow, Table, Wrap};

use super::pager::{Jump, Listing, Load, Pager, Placed, status_total};
use super::{age_since, local, thousands};
use crate::store::outbox::{EmailStatus, OutboxEmail};
use crate::store::stats::Stats;
use crate::tui::data::{PAGE_SIZE, Request};
use crate::tui::theme::Theme;

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

/// The outbox has nothing to keep besides its page: a tab and an offset say it all.
#[derive(Debug, Clone, Default)]
pub struct OutboxList;

pub type OutboxState = Pager<OutboxList>;

impl Listing for OutboxList {
    type Row = OutboxEmail;
    type Status = EmailStatus;
    /// The offset of the page's first row.
    type At = usize;

    const TABS: &'static [Option<EmailStatus>] = &TABS;

    fn tab_label(status: Option<EmailStatus>) -> &'static str {
        tab_label(status)
    }

    fn count(stats: &Stats, status: EmailStatus) -> i64 {
        match status {
            EmailStatus::Queued => stats.outbox_queued,
            EmailStatus::Sending => stats.outbox_sending,
            EmailStatus::Sent => stats.outbox_sent,
            EmailStatus::Failed => stats.outbox_failed,
        }
    }

    fn id(row: &OutboxEmail) -> i64 {
        row.id
    }

    fn locate(p: &Pager<Self>, jump: Jump) -> (Request, usize) {
        let offset = p.offset.unwrap_or(0);
        let end = offset + p.rows.len();
        let at = match jump {
            Jump::First => 0,
            Jump::Here => offset,
            Jump::Before => offset.saturating_sub(PAGE_SIZE),
            Jump::After => end,
            Jump::Last(Some(t)) if t > 0 => {
                usize::try_from((t - 1) / PAGE_SIZE as u64 * PAGE_SIZE as u64).unwrap_or(end)
            }
            Jump::Last(_) => end,
        };
        let request = Request::Outbox {
            status: p.status(),
            offset: at,
        };
        (request, at)
    }

    fn place(at: &usize, len: usize, more: bool) -> Placed {
        if len == 0 && *at > 0 {
            // The rows this page showed are gone (sent, retried): start over at the top.
            return Placed::Restart;
        }
        Placed::Show {
            offset: Some(*at),
            more_before: *at > 0,
            more_after: more,
        }
    }
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
    Load(Load<usize>),
    ConfirmRetry(RetryTarget),
    ConfirmRetryAll(u64),
    Notice(String),
}

impl Pager<OutboxList> {
    pub fn handle_key(&mut self, key: &KeyEvent, step: usize, stats: Option<&Stats>) -> Outcome {
        match key.code {
            KeyCode::Char('r') => {
                return match self.selected_row() {
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
                let failed = stats.map_or(0, |s| {
                    status_total::<OutboxList>(s, Some(EmailStatus::Failed))
                });
                return if failed == 0 {
                    Outcome::Notice("No failed email to retry".into())
                } else {
                    Outcome::ConfirmRetryAll(failed)
                };
            }
            _ => {}
        }
        self.page_key(key, step, stats)
            .map_or(Outcome::None, Outcome::Load)
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
    f.render_widget(s.tabs(stats, tabs_area.width, theme), tabs_area);

    let range = match (s.range_label(), s.total(stats)) {
        (r, _) if r.is_empty() => r,
        (r, Some(t)) => format!(" {r} of {} ", thousands(t)),
        (r, None) => format!(" {r} "),
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
        && let Some(e) = s.selected_row()
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
