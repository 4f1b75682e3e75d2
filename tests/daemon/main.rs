//! The real binary: the daemon's lifecycle under signals and crashes, and the one-shot commands.
#![allow(clippy::unwrap_used)] // a test that cannot set up should panic

#[path = "../support/mod.rs"]
mod support;

mod commands;
mod file_modes;
mod hardening;
mod lifecycle;
mod riders;
