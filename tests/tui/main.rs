//! Operator TUI tests: snapshots, key handling as pure state, paged queries, live refresh.
#![allow(clippy::unwrap_used)] // a test that cannot set up should panic

#[path = "../support/mod.rs"]
mod support;

mod browse;
mod keys;
mod live;
mod views;
