//! The monitoring figures (the same `Service::stats` as `carette stats`), outbox health,
//! the last run of each job, the email mode, and 30 days of requests and acceptance.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Sparkline};

use super::{age, age_since, count, local_short};
use crate::service::browse::DayActivity;
use crate::store::stats::Stats;
use crate::tui::data::{Activity, CHART_DAYS};
use crate::tui::settings::MailSummary;
use crate::tui::theme::Theme;

pub struct DrawContext<'a> {
    pub stats: Option<&'a Stats>,
    pub activity: Option<&'a Activity>,
    pub mail: &'a MailSummary,
    pub now: DateTime<Utc>,
    pub tz: Tz,
    pub expire_after_hours: u32,
    pub theme: Theme,
}

fn figure(label: &str, value: String, width: usize) -> Line<'static> {
    Line::from(format!(" {label:<width$}{value:>9}"))
}

pub fn rate(r: Option<f64>) -> String {
    r.map_or_else(|| "n/a".to_owned(), |r| format!("{r:.1} %"))
}

pub fn draw(f: &mut Frame, area: Rect, cx: &DrawContext<'_>) {
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Length(10),
        Constraint::Length(5),
        Constraint::Min(0),
    ])
    .areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);
    let t = cx.theme;
    let Some(s) = cx.stats else {
        let p = Paragraph::new("Loading the figures…")
            .style(t.dim())
            .block(Block::bordered().title(Span::styled(" Overview ", t.title())));
        f.render_widget(p, area);
        return;
    };

    let overdue_label = format!("Pending > {} h", cx.expire_after_hours);
    let mut res = vec![
        figure("Pending", count(s.pending), 20),
        figure("Confirmed", count(s.confirmed), 20),
        figure("Refused", count(s.refused), 20),
        figure("Expired", count(s.expired), 20),
        figure("Cancelled", count(s.cancelled), 20),
        figure("Removed", count(s.removed), 20),
        figure("Acceptance rate", rate(s.acceptance_rate), 20),
    ];
    let overdue = figure(&overdue_label, count(s.pending_overdue), 20);
    res.push(if s.pending_overdue > 0 {
        overdue.style(t.warn())
    } else {
        overdue
    });
    f.render_widget(
        Paragraph::new(res)
            .block(Block::bordered().title(Span::styled(" Reservations ", t.title()))),
        left,
    );

    let oldest = s
        .oldest_queued_age_seconds
        .map_or_else(|| "-".to_owned(), age);
    let failed = figure("Failed", count(s.outbox_failed), 20);
    let outbox = vec![
        figure("Emails sent today", count(s.emails_sent_today), 20),
        figure("Emails logged today", count(s.emails_logged_today), 20),
        figure("Queued", count(s.outbox_queued), 20),
        figure("Sending", count(s.outbox_sending), 20),
        if s.outbox_failed > 0 {
            failed.style(t.error())
        } else {
            failed
        },
        figure("Sent (all time)", count(s.outbox_sent), 20),
        figure("Oldest queued", oldest, 20),
    ];
    f.render_widget(
        Paragraph::new(outbox).block(Block::bordered().title(Span::styled(" Outbox ", t.title()))),
        right,
    );

    let mut jobs: Vec<Line> = match cx.activity {
        Some(a) => a
            .jobs
            .iter()
            .map(|(job, run)| {
                let text = match run {
                    Some(r) => format!(
                        "{} ({} ago) · {}",
                        local_short(r.started_at, cx.tz),
                        age_since(cx.now, r.started_at),
                        r.summary.as_deref().unwrap_or("ok")
                    ),
                    None => "never run".to_owned(),
                };
                Line::from(vec![
                    Span::styled(format!(" {:<10}", job.as_str()), t.dim()),
                    Span::raw(text),
                ])
            })
            .collect(),
        None => vec![Line::styled(" Loading…", t.dim())],
    };
    if s.routes_pending + s.routes_failed > 0 {
        // Route recalculation problems (OSRM down or unable to route) need an operator's eye.
        let text = match &s.route_last_failure {
            Some(last) => format!(
                "{} pending · {} failed · last: {last}",
                s.routes_pending, s.routes_failed
            ),
            None => format!("{} pending · {} failed", s.routes_pending, s.routes_failed),
        };
        jobs.push(Line::from(vec![
            Span::styled(format!(" {:<10}", "routes"), t.dim()),
            Span::styled(
                text,
                if s.routes_failed > 0 {
                    t.error()
                } else {
                    t.warn()
                },
            ),
        ]));
    }
    jobs.push(Line::from(vec![
        Span::styled(format!(" {:<10}", "email"), t.dim()),
        Span::styled(
            cx.mail.headline.clone(),
            if cx.mail.dev_mode { t.warn() } else { t.ok() },
        ),
    ]));
    f.render_widget(
        Paragraph::new(jobs)
            .block(Block::bordered().title(Span::styled(" Jobs (last run) & email ", t.title()))),
        middle,
    );

    draw_activity(f, bottom, cx);
}

/// Each day gets the same number of columns, so the chart fills the block.
fn stretch<T: Copy>(values: &[T], width: u16) -> Vec<T> {
    let per = (usize::from(width) / values.len().max(1)).max(1);
    values
        .iter()
        .flat_map(|v| std::iter::repeat_n(*v, per))
        .collect()
}

fn draw_activity(f: &mut Frame, area: Rect, cx: &DrawContext<'_>) {
    let t = cx.theme;
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let Some(a) = cx.activity else {
        return;
    };
    let days: &[DayActivity] = &a.days;
    let requests: Vec<u64> = days.iter().map(|d| d.requests).collect();
    let total: u64 = requests.iter().sum();
    let max = requests.iter().copied().max().unwrap_or(0);
    let today = requests.last().copied().unwrap_or(0);
    let (confirmed, refused) = days
        .iter()
        .fold((0, 0), |(c, r), d| (c + d.confirmed, r + d.refused));
    let month_rate = crate::store::stats::acceptance_rate(
        i64::try_from(confirmed).unwrap_or(i64::MAX),
        i64::try_from(refused).unwrap_or(i64::MAX),
    );
    let rates: Vec<Option<u64>> = days
        .iter()
        .map(|d| d.acceptance_rate().map(|r| r.round() as u64))
        .collect();
    let span = match (days.first(), days.last()) {
        (Some(first), Some(last)) => format!(
            "{} – {}",
            first.date.format("%b %d"),
            last.date.format("%b %d")
        ),
        _ => String::new(),
    };

    for (side, title, caption) in [
        (
            left,
            format!(" Requests per day, {span} "),
            format!(
                "{} requests · max {max}/day · today {today}",
                count_u(total)
            ),
        ),
        (
            right,
            " Acceptance rate per day ".to_owned(),
            format!(
                "{} in {CHART_DAYS} days (blank: undecided)",
                rate(month_rate)
            ),
        ),
    ] {
        let block = Block::bordered().title(Span::styled(title, t.title()));
        let inner = block.inner(side);
        f.render_widget(block, side);
        if inner.height == 0 {
            continue;
        }
        let [cap, chart] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
        f.render_widget(Paragraph::new(caption).style(t.dim()), cap);
        let spark = if side == left {
            Sparkline::default().data(stretch(&requests, chart.width))
        } else {
            Sparkline::default()
                .data(stretch(&rates, chart.width))
                .max(100)
                .absent_value_symbol(" ")
        };
        f.render_widget(spark.style(t.chart()), chart);
    }
}

fn count_u(n: u64) -> String {
    super::thousands(n)
}
