//! Carette: carpool seat reservations by email.
//!
//! Layers point one way: `domain` ← `store` ← `service` ← `mail` / `http` / `tui` / `cli`.
//! `service` is the only way to the database (the outbox sender in `mail::sender` claims
//! and records through `service::outbox`); `mail` renders, composes and sends; `page`
//! renders the web pages with the same compiled templates. `wiring` loads the
//! configuration and opens the service for every command; `daemon` starts and stops the
//! workers (`itinerary`, `scheduler`, the sender) and the HTTP server, woken and stopped
//! through `wakeup`.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod domain;
pub mod heartbeat;
pub mod http;
pub mod init;
pub mod itinerary;
pub mod mail;
pub mod net;
pub mod page;
pub mod paths;
pub mod scheduler;
pub mod service;
pub mod store;
pub mod tui;
pub mod wakeup;
pub mod wiring;
