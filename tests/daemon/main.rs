//! The real binary: the daemon's lifecycle under signals and crashes, and the one-shot commands.

#[path = "../support/mod.rs"]
mod support;

mod commands;
mod lifecycle;
