//! The real binary: the daemon's lifecycle under signals and crashes, attacks and a locked
//! database, the one-shot commands, and the operator's tools (backup, Litestream, retention,
//! forget, check, the systemd unit).
#![allow(clippy::unwrap_used)] // a test that cannot set up should panic

#[path = "../support/mod.rs"]
mod support;

mod commands;
mod file_modes;
mod hardening;
mod lifecycle;
mod ops;
mod riders;
