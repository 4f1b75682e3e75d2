//! Email tests: templates, delivery through a real in-process SMTP server, and the email CLI.

#[path = "../support/mod.rs"]
mod support;

mod cli;
mod delivery;
mod templates;
