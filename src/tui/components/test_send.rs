//! SMTP test send: the email configuration, a prompt for an address, and the result with
//! its diagnosis. The send itself runs on a background thread (see `tui::mod`).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::{age_since, local};
use crate::tui::settings::MailSummary;
use crate::tui::theme::Theme;

/// What a test send came to, in words an operator acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    pub ok: bool,
    pub summary: String,
    pub details: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SendState {
    #[default]
    Idle,
    Sending {
        to: String,
        since: DateTime<Utc>,
    },
    Done {
        to: String,
        at: DateTime<Utc>,
        outcome: SendOutcome,
    },
}

#[derive(Debug, Clone, Default)]
pub struct TestSendState {
    pub state: SendState,
    /// Offered again in the prompt: the operator usually tests the same mailbox twice.
    pub last_address: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    None,
    AskAddress(String),
    Notice(String),
}

impl TestSendState {
    pub fn is_sending(&self) -> bool {
        matches!(self.state, SendState::Sending { .. })
    }

    pub fn handle_key(&mut self, key: &KeyEvent) -> Outcome {
        match key.code {
            KeyCode::Enter | KeyCode::Char('s' | 'e') if self.is_sending() => {
                Outcome::Notice("A test send is already running".into())
            }
            KeyCode::Enter | KeyCode::Char('s' | 'e') => {
                Outcome::AskAddress(self.last_address.clone())
            }
            _ => Outcome::None,
        }
    }

    pub fn start(&mut self, to: String, now: DateTime<Utc>) {
        self.last_address.clone_from(&to);
        self.state = SendState::Sending { to, since: now };
    }

    pub fn finish(&mut self, outcome: SendOutcome, now: DateTime<Utc>) {
        let to = match &self.state {
            SendState::Sending { to, .. } => to.clone(),
            _ => self.last_address.clone(),
        };
        self.state = SendState::Done {
            to,
            at: now,
            outcome,
        };
    }
}

/// A plausible address: the real check is the SMTP server's.
pub fn valid_address(s: &str) -> bool {
    let s = s.trim();
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

pub fn draw(
    f: &mut Frame,
    area: Rect,
    s: &TestSendState,
    mail: &MailSummary,
    now: DateTime<Utc>,
    tz: Tz,
    t: Theme,
) {
    let config_height = u16::try_from(mail.details.len() + 3).unwrap_or(u16::MAX);
    let [config_area, result_area] =
        Layout::vertical([Constraint::Length(config_height), Constraint::Min(0)]).areas(area);
    let mut config = vec![Line::styled(
        format!(" {}", mail.headline),
        if mail.dev_mode { t.warn() } else { t.ok() },
    )];
    config.extend(mail.details.iter().map(|d| Line::from(format!(" {d}"))));
    f.render_widget(
        Paragraph::new(config)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(Span::styled(" Email configuration ", t.title()))),
        config_area,
    );

    let mut lines: Vec<Line> = Vec::new();
    match &s.state {
        SendState::Idle => {
            lines.push(Line::from(
                " Press Enter to send the test email (template \"test\") to an address.",
            ));
            lines.push(Line::styled(
                " It goes straight to the SMTP server, not through the outbox.",
                t.dim(),
            ));
        }
        SendState::Sending { to, since } => {
            lines.push(Line::styled(
                format!(" Sending to {to}… ({})", age_since(now, *since)),
                t.warn(),
            ));
            lines.push(Line::styled(
                " The screen stays usable; the result shows here.",
                t.dim(),
            ));
        }
        SendState::Done { to, at, outcome } => {
            let (word, style) = if outcome.ok {
                ("OK", t.ok())
            } else {
                ("FAILED", t.error())
            };
            lines.push(Line::from(vec![
                Span::styled(
                    format!(" {word} "),
                    style.add_modifier(ratatui::style::Modifier::BOLD),
                ),
                Span::raw(format!(" to {to} · {}", local(*at, tz))),
            ]));
            lines.push(Line::styled(format!(" {}", outcome.summary), style));
            lines.extend(outcome.details.iter().map(|d| Line::from(format!(" {d}"))));
            lines.push(Line::default());
            lines.push(Line::styled(" Press Enter to send another.", t.dim()));
        }
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(Span::styled(" SMTP test send ", t.title()))),
        result_area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(valid_address("ops@example.org"));
        assert!(valid_address("  ops@example.org "));
        assert!(!valid_address("ops"));
        assert!(!valid_address("@example.org"));
        assert!(valid_address("root@localhost"));
        assert!(!valid_address("a@b@c"));
        assert!(!valid_address("o ps@example.org"));
    }
}
