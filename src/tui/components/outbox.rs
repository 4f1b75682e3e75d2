//! The email outbox: queued, sending, sent and failed emails; retrying failures.

mod draw;

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::pager::{Jump, Listing, Load, Pager, Placed, status_total};
use crate::store::outbox::{EmailStatus, OutboxEmail};
use crate::store::stats::Stats;
use crate::tui::data::{PAGE_SIZE, Request};

pub use draw::draw;

/// The outbox has nothing to keep besides its page: a tab and an offset say it all.
#[derive(Debug, Clone, Default)]
pub struct OutboxList;

pub type OutboxState = Pager<OutboxList>;

impl Listing for OutboxList {
    type Row = OutboxEmail;
    type Status = EmailStatus;
    /// The offset of the page's first row.
    type At = usize;

    const TABS: &'static [Option<EmailStatus>] = &[
        None,
        Some(EmailStatus::Queued),
        Some(EmailStatus::Sending),
        Some(EmailStatus::Sent),
        Some(EmailStatus::Failed),
    ];

    fn tab_label(status: Option<EmailStatus>) -> &'static str {
        match status {
            None => "All",
            Some(EmailStatus::Queued) => "Queued",
            Some(EmailStatus::Sending) => "Sending",
            Some(EmailStatus::Sent) => "Sent",
            Some(EmailStatus::Failed) => "Failed",
        }
    }

    fn count(stats: &Stats, status: EmailStatus) -> i64 {
        match status {
            EmailStatus::Queued => stats.outbox_queued,
            EmailStatus::Sending => stats.outbox_sending,
            EmailStatus::Sent => stats.outbox_sent,
            EmailStatus::Failed => stats.outbox_failed,
        }
    }

    fn id(row: &OutboxEmail) -> i64 {
        row.id
    }

    fn locate(p: &Pager<Self>, jump: Jump) -> (Request, usize) {
        let offset = p.offset.unwrap_or(0);
        let end = offset + p.rows.len();
        let at = match jump {
            Jump::First => 0,
            Jump::Here => offset,
            Jump::Before => offset.saturating_sub(PAGE_SIZE),
            Jump::After => end,
            Jump::Last(Some(t)) if t > 0 => {
                usize::try_from((t - 1) / PAGE_SIZE as u64 * PAGE_SIZE as u64).unwrap_or(end)
            }
            Jump::Last(_) => end,
        };
        let request = Request::Outbox {
            status: p.status(),
            offset: at,
        };
        (request, at)
    }

    fn place(at: &usize, len: usize, more: bool) -> Placed {
        if len == 0 && *at > 0 {
            // The rows this page showed are gone (sent, retried): start over at the top.
            return Placed::Restart;
        }
        Placed::Show {
            offset: Some(*at),
            more_before: *at > 0,
            more_after: more,
        }
    }
}

/// The email a retry prompt is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryTarget {
    pub id: i64,
    pub template: String,
    pub recipient: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    None,
    Load(Load<usize>),
    ConfirmRetry(RetryTarget),
    ConfirmRetryAll(u64),
    Notice(String),
}

impl Pager<OutboxList> {
    pub fn handle_key(&mut self, key: &KeyEvent, step: usize, stats: Option<&Stats>) -> Outcome {
        match key.code {
            KeyCode::Char('r') => {
                return match self.selected_row() {
                    Some(e) if e.status == EmailStatus::Failed => {
                        Outcome::ConfirmRetry(RetryTarget {
                            id: e.id,
                            template: e.template.clone(),
                            recipient: e.recipient.clone(),
                        })
                    }
                    Some(e) => Outcome::Notice(format!(
                        "Email #{} is {}: only failed emails can be retried",
                        e.id,
                        e.status.as_str()
                    )),
                    None => Outcome::None,
                };
            }
            KeyCode::Char('R') => {
                let failed = stats.map_or(0, |s| {
                    status_total::<OutboxList>(s, Some(EmailStatus::Failed))
                });
                return if failed == 0 {
                    Outcome::Notice("No failed email to retry".into())
                } else {
                    Outcome::ConfirmRetryAll(failed)
                };
            }
            _ => {}
        }
        self.page_key(key, step, stats)
            .map_or(Outcome::None, Outcome::Load)
    }
}
