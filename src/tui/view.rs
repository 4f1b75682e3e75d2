//! The four views the operator switches between: a leaf the frame, the keys and the help share.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Overview,
    Reservations,
    Outbox,
    TestSend,
}

impl View {
    pub const ALL: [View; 4] = [
        View::Overview,
        View::Reservations,
        View::Outbox,
        View::TestSend,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Reservations => "Reservations",
            View::Outbox => "Outbox",
            View::TestSend => "SMTP test",
        }
    }

    pub fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }
}
