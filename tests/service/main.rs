//! Service-layer tests over real SQLite files: use cases, jobs, routing, the scheduler, group commit, concurrency and properties.

#[path = "../support/mod.rs"]
mod support;

mod concurrency;
mod flow;
mod group_commit;
mod jobs;
mod props;
mod routing;
mod scheduler;
