//! One reservation: its offer, its passenger, its audit trail and every email sent for it.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::{Move, age, age_since, local, local_short};
use crate::service::browse::ReservationDetail;
use crate::store::outbox::EmailStatus;
use crate::tui::theme::Theme;

#[derive(Debug, Clone)]
pub struct DetailState {
    pub id: i64,
    pub data: Option<Box<ReservationDetail>>,
    pub error: Option<String>,
    pub scroll: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    None,
    Close,
}

impl DetailState {
    pub fn new(id: i64) -> DetailState {
        DetailState {
            id,
            data: None,
            error: None,
            scroll: 0,
        }
    }

    pub fn apply(&mut self, result: Result<Box<ReservationDetail>, String>) {
        match result {
            Ok(d) => {
                self.data = Some(d);
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
    }

    pub fn handle_key(&mut self, key: &KeyEvent, step: usize) -> Outcome {
        if matches!(
            key.code,
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Left | KeyCode::Char('h')
        ) {
            return Outcome::Close;
        }
        let step = u16::try_from(step.max(1)).unwrap_or(u16::MAX);
        match Move::from_key(key) {
            Some(Move::Down) => self.scroll = self.scroll.saturating_add(1),
            Some(Move::Up) => self.scroll = self.scroll.saturating_sub(1),
            Some(Move::PageDown) => self.scroll = self.scroll.saturating_add(step),
            Some(Move::PageUp) => self.scroll = self.scroll.saturating_sub(step),
            Some(Move::Top) => self.scroll = 0,
            // Clamped to the text's length when drawn.
            Some(Move::Bottom) => self.scroll = u16::MAX,
            None => {}
        }
        Outcome::None
    }
}

fn field<'a>(label: &'a str, value: String, theme: Theme) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("  {label:<12}"), theme.dim()),
        Span::raw(value),
    ])
}

fn lines(d: &ReservationDetail, now: DateTime<Utc>, tz: Tz, theme: Theme) -> Vec<Line<'static>> {
    let r = &d.reservation;
    let o = &d.offer;
    let departs = if o.departure_at <= now {
        format!("departed {}", local(o.departure_at, tz))
    } else {
        format!(
            "departs {} (in {})",
            local(o.departure_at, tz),
            age((o.departure_at - now).num_seconds())
        )
    };
    let mut out = vec![
        Line::from(vec![
            Span::styled(r.status.as_str().to_owned(), theme.status(r.status)),
            Span::raw(format!(
                " · {} seat(s) · requested {} ({} ago) · changed {}",
                r.seats,
                local_short(r.created_at, tz),
                age_since(now, r.created_at),
                local_short(r.updated_at, tz)
            )),
        ]),
        Line::default(),
        Line::from(vec![
            Span::styled(format!("Offer #{}  ", o.id), theme.header()),
            Span::raw(format!("{} → {}", o.origin.label, o.destination.label)),
        ]),
        field("Departure", departs, theme),
        field(
            "Driver",
            format!("{} <{}>", o.driver_name, o.driver_email),
            theme,
        ),
        field(
            "Seats",
            format!(
                "{} offered, {} left · offer {}",
                o.seats,
                o.seats_left,
                o.status.as_str()
            ),
            theme,
        ),
        Line::from(vec![
            Span::styled("Passenger  ", theme.header()),
            Span::raw(format!("{} <{}>", r.passenger_name, r.passenger_email)),
        ]),
    ];
    if let Some(p) = &r.pickup {
        let at = r
            .pickup_at
            .map(|t| format!(" at {}", local(t, tz)))
            .unwrap_or_default();
        out.push(field("Pickup", format!("{}{at}", p.label), theme));
    }
    if let Some(m) = &r.message {
        out.push(field("Message", m.replace(['\n', '\r'], " "), theme));
    }
    out.push(Line::default());
    out.push(Line::styled(
        format!("History ({})", d.history.len()),
        theme.header(),
    ));
    for h in &d.history {
        out.push(Line::from(format!(
            "  {}  {:<9} {} → {}",
            local_short(h.at, tz),
            h.actor,
            h.from_status.as_deref().unwrap_or("(new)"),
            h.to_status
        )));
    }
    out.push(Line::default());
    out.push(Line::styled(
        format!("Emails ({})", d.emails.len()),
        theme.header(),
    ));
    if d.emails.is_empty() {
        out.push(Line::styled("  none", theme.dim()));
    }
    for e in &d.emails {
        let when = match (e.status, e.sent_at) {
            (EmailStatus::Sent, Some(t)) => local_short(t, tz),
            _ => format!("queued {}", local_short(e.created_at, tz)),
        };
        out.push(Line::from(vec![
            Span::raw(format!("  #{:<6} ", e.id)),
            Span::styled(format!("{:<7}", e.status.as_str()), theme.email(e.status)),
            Span::raw(format!(
                " {when} · {} → {} · {} attempt(s)",
                e.template, e.recipient, e.attempts
            )),
        ]));
        if let Some(err) = &e.last_error {
            out.push(Line::styled(
                format!("          last error: {err}"),
                theme.error(),
            ));
        }
    }
    out
}

pub fn draw(
    f: &mut Frame,
    area: Rect,
    s: &mut DetailState,
    now: DateTime<Utc>,
    tz: Tz,
    theme: Theme,
) {
    let mut block = Block::bordered().title(Span::styled(
        format!(" Reservation #{} ", s.id),
        theme.title(),
    ));
    let (text, style) = match (&s.data, &s.error) {
        (_, Some(e)) => (
            vec![Line::from(format!(
                "Cannot read reservation #{}: {e}",
                s.id
            ))],
            theme.error(),
        ),
        (Some(d), None) => (lines(d, now, tz, theme), ratatui::style::Style::default()),
        (None, None) => (vec![Line::from("Loading…")], theme.dim()),
    };
    // Lines are not wrapped, so their count is the text's height: scroll stops at the
    // last screenful instead of into emptiness.
    let inner_height = area.height.saturating_sub(2);
    let max = u16::try_from(text.len())
        .unwrap_or(u16::MAX)
        .saturating_sub(inner_height);
    s.scroll = s.scroll.min(max);
    if max > 0 {
        let shown = (s.scroll + inner_height).min(max + inner_height);
        block = block.title_bottom(
            Line::from(format!(
                " lines {}–{shown} of {} · j/k scroll ",
                s.scroll + 1,
                max + inner_height
            ))
            .right_aligned(),
        );
    }
    let p = Paragraph::new(text)
        .style(style)
        .block(block)
        .scroll((s.scroll, 0));
    f.render_widget(p, area);
}
