pub mod datetime_fr;
pub mod render;
