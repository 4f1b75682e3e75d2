//! Drawing the reservations table: status tabs, the page, and where it sits in the listing.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row as TableRow, Table};

use super::{ReservationsState, sort_label, tab_label};
use crate::store::stats::Stats;
use crate::tui::components::{age_since, local_near};
use crate::tui::theme::Theme;

pub struct DrawContext<'a> {
    pub stats: Option<&'a Stats>,
    pub now: DateTime<Utc>,
    pub tz: Tz,
    pub theme: Theme,
}

pub fn draw(f: &mut Frame, area: Rect, s: &mut ReservationsState, cx: &DrawContext<'_>) {
    let [tabs_area, table_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    f.render_widget(s.tabs(cx.stats, tabs_area.width, cx.theme), tabs_area);

    let total = s.total(cx.stats);
    let filter = s.list.filter.trim();
    let mut title = format!(" {} · {} ", tab_label(s.status()), sort_label(s.list.sort));
    if !filter.is_empty() {
        title.push_str(&format!("· filter \"{filter}\" "));
    }
    let mut block = Block::bordered()
        .title(Span::styled(title, cx.theme.title()))
        .title_bottom(Line::from(format!(" {} ", s.position_label(total))).right_aligned());
    if s.is_loading() {
        block = block.title_bottom(Line::from(Span::styled(" loading… ", cx.theme.dim())));
    }
    if let Some(e) = &s.error {
        let p = Paragraph::new(format!("Cannot read reservations: {e}"))
            .style(cx.theme.error())
            .block(block);
        f.render_widget(p, table_area);
        return;
    }
    if s.rows.is_empty() {
        let text = if !s.loaded {
            "Loading…".to_owned()
        } else if filter.is_empty() {
            format!("No {} reservations.", tab_label(s.status()).to_lowercase())
        } else {
            format!("No reservation matches \"{filter}\".")
        };
        f.render_widget(
            Paragraph::new(text).style(cx.theme.dim()).block(block),
            table_area,
        );
        return;
    }
    let wide = table_area.width >= 110;
    let show_status = s.status().is_none();
    let mut header = vec!["#", "Trip", "Passenger"];
    let mut widths = vec![
        Constraint::Length(7),
        Constraint::Fill(3),
        Constraint::Fill(2),
    ];
    if wide {
        header.push("Email");
        widths.push(Constraint::Fill(2));
    }
    if show_status {
        header.push("Status");
        widths.push(Constraint::Length(9));
    }
    header.extend(["Seats", "Age", "Departure"]);
    widths.extend([
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Length(12),
    ]);
    let rows = s.rows.iter().map(|r| {
        let mut cells = vec![
            Cell::from(r.id.to_string()),
            Cell::from(format!("{} → {}", r.origin, r.destination)),
            Cell::from(r.passenger_name.clone()),
        ];
        if wide {
            cells.push(Cell::from(r.passenger_email.clone()));
        }
        if show_status {
            cells.push(Cell::from(r.status.as_str()).style(cx.theme.status(r.status)));
        }
        let departed = r.departure_at <= cx.now;
        cells.extend([
            Cell::from(format!("{:>5}", r.seats)),
            Cell::from(format!("{:>4}", age_since(cx.now, r.created_at))),
            Cell::from(local_near(r.departure_at, cx.now, cx.tz)).style(if departed {
                cx.theme.dim()
            } else {
                ratatui::style::Style::default()
            }),
        ]);
        TableRow::new(cells)
    });
    let table = Table::new(rows, widths)
        .header(TableRow::new(header).style(cx.theme.header()))
        .row_highlight_style(cx.theme.selected())
        .block(block);
    s.table.select(Some(s.selected));
    f.render_stateful_widget(table, table_area, &mut s.table);
}
