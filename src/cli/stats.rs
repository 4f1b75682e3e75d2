//! `carette stats [--json]`.

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;

use crate::app::Env;
use crate::store::stats::Stats;

pub fn stats(config: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let env = Env::load(config)?;
    let service = env.open_service()?;
    let stats = service.stats(Utc::now())?;
    if json {
        println!("{}", serde_json::to_string(&stats)?);
    } else {
        print!("{}", render_table(&stats));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn render_table(s: &Stats) -> String {
    let rate = s
        .acceptance_rate
        .map(|r| format!("{r:.1} %"))
        .unwrap_or_else(|| "n/a (nothing decided yet)".to_owned());
    let oldest = s
        .oldest_queued_age_seconds
        .map(|a| format!("{a} s"))
        .unwrap_or_else(|| "-".to_owned());
    format!(
        "Reservations\n  pending     {:>8}\n  confirmed   {:>8}\n  refused     {:>8}\n  expired     {:>8}\n  cancelled   {:>8}\n  removed     {:>8}\n\
         Acceptance rate   {rate}   (confirmed × 100 / (confirmed + refused))\n\
         Pending > 24 h    {}\n\
         Emails sent today {}\n\
         Emails logged today {}   (dev mode .eml files, not sent)\n\
         Outbox            {} queued, {} sending, {} failed, {} sent (oldest queued: {oldest})\n",
        s.pending,
        s.confirmed,
        s.refused,
        s.expired,
        s.cancelled,
        s.removed,
        s.pending_overdue,
        s.emails_sent_today,
        s.emails_logged_today,
        s.outbox_queued,
        s.outbox_sending,
        s.outbox_failed,
        s.outbox_sent,
    )
}
