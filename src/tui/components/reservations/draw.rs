//! Drawing the reservations table: status tabs, the page, and where it sits in the listing.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Cell, Row as TableRow};

use super::{ReservationsState, sort_label};
use crate::store::browse::Row;
use crate::store::stats::Stats;
use crate::tui::components::pager::Look;
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
    let mut title = format!(" {} · {} ", s.tab_label(), sort_label(s.list.sort));
    if !filter.is_empty() {
        title.push_str(&format!("· filter \"{filter}\" "));
    }
    let empty = if filter.is_empty() {
        format!("No {} reservations.", s.tab_label().to_lowercase())
    } else {
        format!("No reservation matches \"{filter}\".")
    };
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
    let look = Look {
        title,
        range: format!(" {} ", s.position_label(total)),
        unreadable: "reservations",
        empty,
        header,
        widths,
    };
    let row = |r: &Row| {
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
                Style::default()
            }),
        ]);
        TableRow::new(cells)
    };
    s.draw_page(f, table_area, look, row, cx.theme);
}
