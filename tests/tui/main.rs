//! Operator TUI tests: snapshots, key handling as pure state, paged queries, live refresh.

#[path = "../support/mod.rs"]
mod support;

mod browse;
mod keys;
mod live;
mod views;
