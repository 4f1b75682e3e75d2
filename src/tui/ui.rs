//! Drawing: the frame around the views (view tabs, footer, prompts, help).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::app::{App, Prompt};
use super::components::{detail, help, outbox, overview, reservations, test_send};
use super::theme::{Theme, tabs_line};
use super::view::View;

/// The smallest screen every view is laid out for.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

pub fn draw(f: &mut Frame, app: &mut App) {
    let area = f.area();
    let t = Theme::new(app.settings.color);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        draw_too_small(f, area, t);
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(f, header, app, t);
    let (now, tz) = (app.now, app.settings.tz);
    match app.view {
        View::Overview => overview::draw(
            f,
            body,
            &overview::DrawContext {
                stats: app.stats.as_ref(),
                activity: app.activity.as_ref(),
                mail: &app.settings.mail,
                now,
                tz,
                expire_after_hours: app.settings.expire_after_hours,
                theme: t,
            },
        ),
        View::Reservations => match app.detail.as_mut() {
            Some(d) => detail::draw(f, body, d, now, tz, t),
            None => reservations::draw(
                f,
                body,
                &mut app.reservations,
                &reservations::DrawContext {
                    stats: app.stats.as_ref(),
                    now,
                    tz,
                    theme: t,
                },
            ),
        },
        View::Outbox => outbox::draw(f, body, &mut app.outbox, app.stats.as_ref(), now, tz, t),
        View::TestSend => test_send::draw(f, body, &app.test, &app.settings.mail, now, tz, t),
    }
    draw_footer(f, footer, app, t);
    if app.help {
        help::draw(f, body, app.context(), t);
    }
}

fn draw_header(f: &mut Frame, area: Rect, app: &App, t: Theme) {
    let labels: Vec<(String, String)> = View::ALL
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("{} {}", i + 1, v.title()), String::new()))
        .collect();
    let mut spans = vec![Span::styled(" Carette ", t.title())];
    spans.extend(tabs_line(&labels, app.view.index(), area.width, t).spans);
    let right = match &app.unavailable {
        Some(_) => Span::styled(
            " DATABASE UNAVAILABLE ",
            t.error().add_modifier(Modifier::BOLD),
        ),
        None => Span::styled(
            format!(
                " live {} ",
                app.now.with_timezone(&app.settings.tz).format("%H:%M:%S")
            ),
            t.dim(),
        ),
    };
    let [left_area, right_area] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(u16::try_from(right.width()).unwrap_or(0)),
    ])
    .areas(area);
    f.render_widget(Line::from(spans), left_area);
    f.render_widget(Line::from(right), right_area);
}

fn draw_footer(f: &mut Frame, area: Rect, app: &App, t: Theme) {
    let (text, cursor): (Line, Option<usize>) = match &app.prompt {
        Some(Prompt::Filter(s)) => {
            let head = "Filter (name, email, place; empty clears): ";
            (
                Line::from(vec![Span::styled(head, t.key()), Span::raw(s.clone())]),
                Some(head.chars().count() + s.chars().count()),
            )
        }
        Some(Prompt::Address(s)) => {
            let head = "Send the test email to: ";
            (
                Line::from(vec![Span::styled(head, t.key()), Span::raw(s.clone())]),
                Some(head.chars().count() + s.chars().count()),
            )
        }
        Some(Prompt::ConfirmRetry(e)) => (
            Line::styled(
                format!(
                    "Retry email #{} ({} → {}) now? y/n",
                    e.id, e.template, e.recipient
                ),
                t.warn().add_modifier(Modifier::BOLD),
            ),
            None,
        ),
        Some(Prompt::ConfirmRetryAll(n)) => (
            Line::styled(
                format!("Retry all {n} failed email(s) now? y/n"),
                t.warn().add_modifier(Modifier::BOLD),
            ),
            None,
        ),
        None => match &app.notice {
            Some(n) => (
                Line::styled(n.text.clone(), if n.error { t.error() } else { t.ok() }),
                None,
            ),
            None => (Line::styled(help::footer(app.context()), t.dim()), None),
        },
    };
    f.render_widget(text, area);
    if let Some(x) = cursor {
        let x = u16::try_from(x)
            .unwrap_or(u16::MAX)
            .min(area.width.saturating_sub(1));
        f.set_cursor_position(Position::new(area.x + x, area.y));
    }
}

fn draw_too_small(f: &mut Frame, area: Rect, t: Theme) {
    let text = format!(
        "Carette needs a terminal of at least {MIN_WIDTH}×{MIN_HEIGHT}; this one is {}×{}. \
         Enlarge the window, or press q to quit.",
        area.width, area.height
    );
    f.render_widget(
        Paragraph::new(text)
            .style(t.warn())
            .wrap(Wrap { trim: true }),
        area,
    );
}
