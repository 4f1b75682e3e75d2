//! Drawing a pager's page: the bordered table, or what stands in place of its rows.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row as TableRow, Table};

use super::{Listing, Pager};
use crate::tui::theme::Theme;

/// How a list shows its page.
pub struct Look {
    pub title: String,
    /// Where the page sits ("row 12 · 1–100 of 250"), at the bottom right.
    pub range: String,
    /// What could not be read ("the outbox"), should reading fail.
    pub unreadable: &'static str,
    /// What an empty tab says once it is loaded.
    pub empty: String,
    pub header: Vec<&'static str>,
    pub widths: Vec<Constraint>,
}

impl<L: Listing> Pager<L> {
    /// The page as a table with the selected row highlighted; the read error, "Loading…" or
    /// the empty text in its place. True when the rows are on screen.
    pub fn draw_page<'r>(
        &mut self,
        f: &mut Frame,
        area: Rect,
        look: Look,
        row: impl Fn(&L::Row) -> TableRow<'r>,
        theme: Theme,
    ) -> bool {
        let mut block = Block::bordered()
            .title(Span::styled(look.title, theme.title()))
            .title_bottom(Line::from(look.range).right_aligned());
        if self.is_loading() {
            block = block.title_bottom(Line::from(Span::styled(" loading… ", theme.dim())));
        }
        if let Some(e) = &self.error {
            let p = Paragraph::new(format!("Cannot read {}: {e}", look.unreadable))
                .style(theme.error())
                .block(block);
            f.render_widget(p, area);
            return false;
        }
        if self.rows.is_empty() {
            let text = if self.loaded {
                look.empty
            } else {
                "Loading…".to_owned()
            };
            f.render_widget(Paragraph::new(text).style(theme.dim()).block(block), area);
            return false;
        }
        let table = Table::new(self.rows.iter().map(row), look.widths)
            .header(TableRow::new(look.header).style(theme.header()))
            .row_highlight_style(theme.selected())
            .block(block);
        self.table.select(Some(self.selected));
        f.render_stateful_widget(table, area, &mut self.table);
        true
    }
}
