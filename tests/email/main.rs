//! Email tests: templates, delivery through a real in-process SMTP server, and the email CLI.
#![allow(clippy::unwrap_used)] // a test that cannot set up should panic

#[path = "../support/mod.rs"]
mod support;

mod cli;
mod delivery;
mod privacy;
mod templates;
mod templates_cli;
