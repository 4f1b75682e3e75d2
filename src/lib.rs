//! Carette: carpool seat reservations by email.
//!
//! Layers point one way: `domain` ← `store` ← `service` ← `mail` / `http` / `tui` / `cli`.
//! `service` is the only way to the database (the outbox sender in `mail::sender` claims
//! and records through `service::outbox`); `mail` renders, composes and sends, and the
//! HTTP pages reuse its renderer.

pub mod app;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod domain;
pub mod heartbeat;
pub mod http;
pub mod init;
pub mod mail;
pub mod net;
pub mod paths;
pub mod routing;
pub mod scheduler;
pub mod service;
pub mod signal;
pub mod store;
pub mod tui;
