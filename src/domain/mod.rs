//! The pure core: statuses, transitions, seat rules, validation, magic-link tokens, time rules.
//! No I/O here and nothing from the other layers.

pub mod lang;
pub mod model;
pub mod rules;
pub mod seats;
pub mod status;
pub mod time;
pub mod token;
pub mod validate;

pub use lang::Lang;
pub use rules::{Refusal, check_action, request_deadline};
pub use status::{Action, Actor, IllegalTransition, Status, next_status};
