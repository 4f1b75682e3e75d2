//! Operations on a small host, through the real binary where an operator would use it:
//! online backup and restore, Litestream replication with the real litestream, retention
//! and `forget` (RGPD), the `check` doctor, and the shipped systemd unit.

mod backup;
mod check;
mod contrib;
mod forget;
mod litestream;
mod retention;
