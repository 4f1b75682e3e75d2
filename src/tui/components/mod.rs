//! One module per view: its state, its keys and its drawing.

pub mod detail;
pub mod help;
pub mod outbox;
pub mod overview;
pub mod pager;
pub mod reservations;
pub mod test_send;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A movement in a list, from vim keys, arrows or paging keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
}

impl Move {
    pub fn from_key(key: &KeyEvent) -> Option<Move> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        Some(match key.code {
            KeyCode::Char('j') | KeyCode::Down => Move::Down,
            KeyCode::Char('k') | KeyCode::Up => Move::Up,
            KeyCode::PageDown => Move::PageDown,
            KeyCode::PageUp => Move::PageUp,
            KeyCode::Char('d' | 'f') if ctrl => Move::PageDown,
            KeyCode::Char('u' | 'b') if ctrl => Move::PageUp,
            KeyCode::Char('g') | KeyCode::Home => Move::Top,
            KeyCode::Char('G') | KeyCode::End => Move::Bottom,
            _ => return None,
        })
    }
}

/// Left/right between the tabs of a view (h/l, arrows).
pub fn tab_step(key: &KeyEvent) -> Option<isize> {
    match key.code {
        KeyCode::Char('h') | KeyCode::Left => Some(-1),
        KeyCode::Char('l') | KeyCode::Right => Some(1),
        _ => None,
    }
}

pub fn cycle(index: usize, len: usize, step: isize) -> usize {
    if len == 0 {
        return 0;
    }
    let len = len as isize;
    ((index as isize + step).rem_euclid(len)) as usize
}

/// "45s", "12m", "3h", "2d": how long ago, in the unit an operator reads at a glance.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

pub fn age_since(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    age((now - t).num_seconds())
}

/// A local date and time, the way the operator's riders read it (`jobs.timezone`).
pub fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

pub fn local_short(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%b %d %H:%M").to_string()
}

/// 12 columns either way: "Mar 20 20:46" this year, "2024-03-20" (no time) otherwise, so
/// an old or far row never passes for a recent one.
pub fn local_near(t: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> String {
    use chrono::Datelike;
    let (t, now) = (t.with_timezone(&tz), now.with_timezone(&tz));
    if t.year() == now.year() {
        t.format("%b %d %H:%M").to_string()
    } else {
        t.format("%Y-%m-%d").to_string()
    }
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn count(n: i64) -> String {
    thousands(u64::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(age(-5), "0s");
        assert_eq!(age(59), "59s");
        assert_eq!(age(61), "1m");
        assert_eq!(age(7200), "2h");
        assert_eq!(age(200_000), "2d");
        assert_eq!(cycle(0, 3, -1), 2);
        assert_eq!(cycle(2, 3, 1), 0);
    }
}
