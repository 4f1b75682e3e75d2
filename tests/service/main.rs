//! Service-layer tests over real SQLite files: use cases, jobs, routing, the scheduler, group commit, concurrency and properties.
#![allow(clippy::unwrap_used)] // a test that cannot set up should panic

#[path = "../support/mod.rs"]
mod support;

mod concurrency;
mod flow;
mod group_commit;
mod itinerary;
mod jobs;
mod props;
mod scheduler;
mod search_index;
mod sqlite_process;
