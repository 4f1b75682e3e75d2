//! What the app asks the loader for, and what it does with the answers: one ticket per
//! request, only the newest answer of each kind taken in.

use chrono::Duration;

use super::{Action, App, Prompt, View};
use crate::tui::components::detail::DetailState;
use crate::tui::components::pager::Load;
use crate::tui::components::{outbox, reservations};
use crate::tui::data::{Loaded, Request, Ticket};
use crate::tui::loader::Message;

/// Another process's change shows up within this (plus the loader's 250 ms poll).
const MIN_REFRESH_GAP: Duration = Duration::seconds(1);
/// Ages, "emails sent today" and due-ness move with the clock even when nothing is written.
const PERIODIC_REFRESH: Duration = Duration::seconds(30);

impl App {
    fn ticket(&mut self, request: Request) -> Ticket {
        self.seq += 1;
        self.wanted.insert(request.kind(), self.seq);
        Ticket {
            seq: self.seq,
            request,
        }
    }

    pub(super) fn res_ticket(&mut self, outcome: reservations::Outcome, out: &mut Vec<Ticket>) {
        match outcome {
            reservations::Outcome::Load(load) => self.res_load(load, out),
            reservations::Outcome::OpenDetail(id) => {
                self.detail = Some(DetailState::new(id));
                out.push(self.ticket(Request::Detail(id)));
            }
            reservations::Outcome::EditFilter => {
                self.prompt = Some(Prompt::Filter(self.reservations.list.filter.clone()));
            }
            reservations::Outcome::None => {}
        }
    }

    pub(super) fn res_load(&mut self, load: Load<reservations::Where>, out: &mut Vec<Ticket>) {
        let t = self.ticket(load.request);
        self.reservations.expect(t.seq, load.nav);
        out.push(t);
    }

    pub(super) fn outbox_load(&mut self, load: Load<usize>, out: &mut Vec<Ticket>) {
        let t = self.ticket(load.request);
        self.outbox.expect(t.seq, load.nav);
        out.push(t);
    }

    pub(super) fn outbox_ticket(&mut self, outcome: outbox::Outcome, out: &mut Vec<Ticket>) {
        match outcome {
            outbox::Outcome::Load(load) => self.outbox_load(load, out),
            outbox::Outcome::ConfirmRetry(e) => self.prompt = Some(Prompt::ConfirmRetry(e)),
            outbox::Outcome::ConfirmRetryAll(n) => self.prompt = Some(Prompt::ConfirmRetryAll(n)),
            outbox::Outcome::Notice(text) => self.say(text, false),
            outbox::Outcome::None => {}
        }
    }

    pub(super) fn load(tickets: Vec<Ticket>) -> Action {
        if tickets.is_empty() {
            Action::None
        } else {
            Action::Load(tickets)
        }
    }

    /// The first loads, before any key.
    pub fn start(&mut self) -> Action {
        self.refresh()
    }

    /// The figures plus what the current view shows, keeping every cursor where it is.
    pub fn refresh(&mut self) -> Action {
        self.last_refresh = Some(self.now);
        self.dirty = false;
        let mut out = vec![self.ticket(Request::Stats)];
        self.view_loads(&mut out);
        App::load(out)
    }

    pub(super) fn view_loads(&mut self, out: &mut Vec<Ticket>) {
        match self.view {
            View::Overview => out.push(self.ticket(Request::Activity)),
            View::Reservations => {
                if let Some(id) = self.detail.as_ref().map(|d| d.id) {
                    out.push(self.ticket(Request::Detail(id)));
                }
                let load = if self.reservations.loaded {
                    self.reservations.reload()
                } else {
                    self.reservations.reset()
                };
                self.res_load(load, out);
            }
            View::Outbox => {
                let load = self.outbox.reload();
                self.outbox_load(load, out);
            }
            View::TestSend => {}
        }
    }

    /// An answer from the loader, a change notice, or the database going away.
    pub fn on_message(&mut self, message: Message) -> Action {
        match message {
            Message::DataChanged => {
                self.dirty = true;
                self.maybe_refresh()
            }
            Message::Unavailable(e) => {
                self.unavailable = Some(e);
                Action::None
            }
            Message::Loaded { ticket, result } => {
                let kind = ticket.request.kind();
                if self.wanted.get(&kind) != Some(&ticket.seq) {
                    return Action::None;
                }
                if result.is_ok() {
                    self.unavailable = None;
                }
                self.take_loaded(ticket, result)
            }
        }
    }

    fn take_loaded(&mut self, ticket: Ticket, result: Result<Loaded, String>) -> Action {
        let mut out = Vec::new();
        match (ticket.request, result) {
            (_, Ok(Loaded::Stats(s))) => self.stats = Some(*s),
            (_, Ok(Loaded::Activity(a))) => self.activity = Some(a),
            (Request::Reservations { .. }, r) => {
                let page = answer(r, |l| match l {
                    Loaded::Reservations(p) => Some(p),
                    _ => None,
                });
                if let Some(load) = self.reservations.apply(ticket.seq, page) {
                    self.res_load(load, &mut out);
                }
            }
            (Request::Outbox { .. }, r) => {
                let page = answer(r, |l| match l {
                    Loaded::Outbox(p) => Some(p),
                    _ => None,
                });
                if let Some(load) = self.outbox.apply(ticket.seq, page) {
                    self.outbox_load(load, &mut out);
                }
            }
            (Request::Detail(id), r) => {
                if let Some(d) = self.detail.as_mut().filter(|d| d.id == id) {
                    d.apply(answer(r, |l| match l {
                        Loaded::Detail(d) => Some(d),
                        _ => None,
                    }));
                }
            }
            (Request::Stats | Request::Activity, Err(e)) => {
                self.say(format!("Cannot read the figures: {e}"), true);
            }
            (Request::Stats | Request::Activity, Ok(_)) => {}
        }
        App::load(out)
    }

    pub(super) fn maybe_refresh(&mut self) -> Action {
        let due = |gap| self.last_refresh.is_none_or(|t| self.now - t >= gap);
        if (self.dirty && due(MIN_REFRESH_GAP)) || due(PERIODIC_REFRESH) {
            self.refresh()
        } else {
            Action::None
        }
    }
}

/// The answer to a request of one kind; the loader answering with another is an error.
fn answer<T>(
    r: Result<Loaded, String>,
    pick: impl FnOnce(Loaded) -> Option<T>,
) -> Result<T, String> {
    r.and_then(|l| pick(l).ok_or_else(|| "unexpected answer".to_owned()))
}
