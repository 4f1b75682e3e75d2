//! The keys of each view: a one-line footer and the `?` overlay.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::tui::theme::Theme;
use crate::tui::view::View;

/// Where the keyboard is: a view, or the detail page over the reservations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    View(View),
    Detail,
}

type Keys = &'static [(&'static str, &'static str)];

const GLOBAL: Keys = &[
    ("1-4, Tab", "switch view (Shift-Tab: back)"),
    ("?", "this help"),
    ("F5", "reload now (changes also show up by themselves)"),
    ("q, Esc", "quit (Esc first closes a prompt, help or detail)"),
    ("Ctrl-C", "quit"),
];

const LIST: Keys = &[
    ("j/k, ↓/↑", "move"),
    ("PgDn/PgUp", "one screen down/up (also Ctrl-D/Ctrl-U)"),
    ("g/G, Home/End", "first/last row"),
    ("h/l, ←/→", "previous/next status tab"),
];

pub fn keys(cx: Context) -> (Keys, Keys) {
    match cx {
        Context::View(View::Overview) => (&[], &[]),
        Context::View(View::Reservations) => (
            LIST,
            &[
                ("/", "filter: name, email or place (empty: clear)"),
                ("s", "sort: request date or departure, both ways"),
                ("Enter", "reservation detail"),
            ],
        ),
        Context::Detail => (
            &[
                ("j/k, PgDn/PgUp", "scroll"),
                ("Esc, h, ←", "back to the list"),
            ],
            &[],
        ),
        Context::View(View::Outbox) => (
            LIST,
            &[
                ("r", "retry the selected failed email"),
                ("R", "retry every failed email"),
            ],
        ),
        Context::View(View::TestSend) => (&[("Enter", "send a test email to an address")], &[]),
    }
}

/// The footer: the few keys that matter here, shortest words first.
pub fn footer(cx: Context) -> &'static str {
    match cx {
        Context::View(View::Overview) => "1-4/Tab views  F5 reload  ? help  q quit",
        Context::View(View::Reservations) => {
            "j/k move  ←/→ status  / filter  s sort  ⏎ detail  Tab views  ? help  q quit"
        }
        Context::Detail => "j/k scroll  Esc back  Tab views  ? help  q quit",
        Context::View(View::Outbox) => {
            "j/k move  ←/→ status  r retry  R retry all failed  Tab views  ? help  q quit"
        }
        Context::View(View::TestSend) => "⏎ send a test email  Tab views  ? help  q quit",
    }
}

pub fn draw(f: &mut Frame, area: Rect, cx: Context, t: Theme) {
    let (list, own) = keys(cx);
    let mut lines = vec![Line::styled("Everywhere", t.header())];
    let row = |(k, what): &(&str, &str)| {
        Line::from(vec![
            Span::styled(format!("  {k:<16}"), t.key()),
            Span::raw((*what).to_owned()),
        ])
    };
    lines.extend(GLOBAL.iter().map(row));
    if !list.is_empty() || !own.is_empty() {
        lines.push(Line::default());
        lines.push(Line::styled("This view", t.header()));
        lines.extend(list.iter().chain(own.iter()).map(row));
    }
    lines.push(Line::default());
    lines.push(Line::styled("Press any key to close.", t.dim()));
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let [v] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(72)])
        .flex(Flex::Center)
        .areas(v);
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Span::styled(" Keys ", t.title()))),
        popup,
    );
}
