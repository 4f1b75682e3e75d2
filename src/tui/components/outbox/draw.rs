//! Drawing the outbox: status tabs, the page of emails, and the selected email in full.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row as TableRow, Wrap};

use super::OutboxState;
use crate::store::outbox::{EmailStatus, OutboxEmail};
use crate::store::stats::Stats;
use crate::tui::components::pager::Look;
use crate::tui::components::{age, age_since, local, thousands};
use crate::tui::theme::Theme;

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
    let look = Look {
        title: format!(" Outbox · {} · newest first ", s.tab_label()),
        range,
        unreadable: "the outbox",
        empty: format!("No {} email.", s.tab_label().to_lowercase()),
        header,
        widths,
    };
    let row = |e: &OutboxEmail| {
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
    };
    if s.draw_page(f, table_area, look, row, theme)
        && panel > 0
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
            age((e.next_attempt_at - now).num_seconds())
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
