//! Every view of the TUI, drawn by the real event loop on a seeded database at a fixed
//! clock, at 80×24 (the minimum) and 120×40. `INSTA_UPDATE=always` re-records.

use crate::support::tui::{chars, drive, press, seeded};
use ratatui::crossterm::event::KeyCode;

fn both(name: &str, events: Vec<Option<ratatui::crossterm::event::Event>>) {
    let s = seeded();
    for (w, h) in [(80, 24), (120, 40)] {
        let terminal = drive(&s, w, h, events.clone());
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
    }
}

#[test]
fn overview() {
    both("overview", vec![]);
}

#[test]
fn reservations_pending() {
    both("reservations_pending", chars("2"));
}

#[test]
fn reservations_all_statuses() {
    // From the first tab (pending), one step left wraps to "All".
    both("reservations_all", chars("2h"));
}

#[test]
fn reservations_sorted_by_departure() {
    both("reservations_departure", chars("2hss"));
}

#[test]
fn reservations_filtered() {
    let mut events = chars("2h/lyon");
    events.push(press(KeyCode::Enter));
    both("reservations_filtered", events);
}

#[test]
fn filter_prompt() {
    both("filter_prompt", chars("2/bell"));
}

#[test]
fn detail() {
    // Confirmed tab, newest first: Émilie Fournier, accepted 90 minutes ago.
    let mut events = chars("2l");
    events.push(press(KeyCode::Enter));
    both("detail", events);
}

#[test]
fn outbox() {
    both("outbox", chars("3"));
}

#[test]
fn outbox_failed_with_retry_prompt() {
    both("outbox_failed_retry", chars("3hr"));
}

#[test]
fn test_send_idle() {
    both("test_send_idle", chars("4"));
}

#[test]
fn test_send_result() {
    let mut events = chars("4");
    events.push(press(KeyCode::Enter));
    events.extend(chars("ops@example.org"));
    events.push(press(KeyCode::Enter));
    both("test_send_result", events);
}

#[test]
fn help() {
    both("help_reservations", chars("2?"));
}

#[test]
fn too_small_is_a_message() {
    let s = seeded();
    let terminal = drive(&s, 60, 20, chars("23"));
    insta::assert_snapshot!("too_small_60x20", terminal.backend());
}

/// NO_COLOR: no cell carries a colour, yet the selection still stands out (reverse video).
#[test]
fn no_color_keeps_only_bold_and_reverse() {
    use ratatui::style::{Color, Modifier};
    let s = seeded();
    for color in [false, true] {
        for view in ["1", "2", "2h", "3", "3h", "4"] {
            let mut app = crate::support::tui::app();
            app.settings.color = color;
            let t = crate::support::tui::drive_with(
                &s,
                &mut app,
                crate::support::tui::accepting_sender(),
                120,
                40,
                chars(view),
            );
            let cells = &t.backend().buffer().content;
            let coloured = cells
                .iter()
                .any(|c| c.fg != Color::Reset || c.bg != Color::Reset);
            assert_eq!(coloured, color, "view {view}, color {color}");
            if view != "4" && view != "1" {
                assert!(
                    cells
                        .iter()
                        .any(|c| c.modifier.contains(Modifier::REVERSED)),
                    "view {view}: the selected row must stand out"
                );
            }
        }
    }
}
