//! Emails, from an outbox row to the SMTP server: rendering (`render`, with the French
//! dates of `datetime_fr` and the calendar invites of `ics`), magic links signed at send
//! time (`links`), the MIME message (`message`), all of it put together per row
//! (`outgoing`), the pooled transport (`mailer`), the outbox worker (`sender`) and the SMTP
//! test (`test_send`). It sits above `service`, beside `http`, `tui` and `cli`: the sender
//! claims rows and records outcomes through `service::outbox`.

pub mod datetime_fr;
pub mod ics;
pub mod links;
pub mod mailer;
pub mod message;
pub mod outgoing;
pub mod render;
pub mod sender;
pub mod test_send;
pub mod words;
