//! Styles and the tab line every view draws: a leaf the components and the frame share.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use crate::domain::Status;
use crate::store::outbox::EmailStatus;

/// Styles. Without colour (NO_COLOR) only bold and reverse video remain, so the selection
/// and the headings still stand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    color: bool,
}

impl Theme {
    pub fn new(color: bool) -> Theme {
        Theme { color }
    }

    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn title(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    pub fn header(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    pub fn dim(self) -> Style {
        self.fg(Color::DarkGray)
    }
    pub fn ok(self) -> Style {
        self.fg(Color::Green)
    }
    pub fn warn(self) -> Style {
        self.fg(Color::Yellow)
    }
    pub fn error(self) -> Style {
        self.fg(Color::Red)
    }
    pub fn key(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    pub fn chart(self) -> Style {
        self.fg(Color::Cyan)
    }
    pub fn status(self, s: Status) -> Style {
        match s {
            Status::Pending => self.warn(),
            Status::Confirmed => self.ok(),
            Status::Refused | Status::Removed => self.error(),
            Status::Expired | Status::Cancelled => self.dim(),
        }
    }
    pub fn email(self, s: EmailStatus) -> Style {
        match s {
            EmailStatus::Queued => self.warn(),
            EmailStatus::Sending => self.fg(Color::Cyan),
            EmailStatus::Sent => self.ok(),
            EmailStatus::Failed => self.error(),
        }
    }
}

/// " Pending 12 │ Confirmed 40 │ …" with the current tab in reverse video; the counts go
/// first when the line does not fit.
pub fn tabs_line(
    labels: &[(String, String)],
    selected: usize,
    width: u16,
    t: Theme,
) -> Line<'static> {
    let render = |with_counts: bool| -> Vec<String> {
        labels
            .iter()
            .map(|(name, n)| {
                if with_counts && !n.is_empty() {
                    format!(" {name} {n} ")
                } else {
                    format!(" {name} ")
                }
            })
            .collect()
    };
    let full = render(true);
    let fits = full.iter().map(|s| s.chars().count() + 1).sum::<usize>() <= usize::from(width);
    let parts = if fits { full } else { render(false) };
    let mut spans = Vec::new();
    for (i, p) in parts.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled("│", t.dim()));
        }
        let style = if i == selected {
            t.selected().add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        spans.push(Span::styled(p, style));
    }
    Line::from(spans)
}
