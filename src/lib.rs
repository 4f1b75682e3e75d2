//! Carette: carpool seat reservations by email.
//!
//! Layers point one way: `domain` ← `store` / `mail` ← `service` ← `http` / `tui` / `cli`.

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
