//! HTTP tests over loopback: the JSON API, magic links, the HTML pages and the server's limits.
#![allow(clippy::unwrap_used)] // a test that cannot set up should panic

#[path = "../support/mod.rs"]
mod support;

mod api;
mod limits;
mod links;
mod pages;
mod riders;
mod server;
