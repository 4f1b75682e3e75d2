//! Email (and web page) rendering with `upon`.
//!
//! Template files live in `templates/` and are compiled into the binary, so a fresh
//! install needs no files; `email.templates_dir` may hold replacements:
//! `<dir>/<file>` replaces `templates/email/<file>` and `<dir>/page/<file>` replaces
//! `templates/page/<file>` (new partials may be added the same way).
//!
//! Conventions for template authors:
//! - Each email `<name>` has `email/<name>.subject`, `.txt` and `.html`. Templates are
//!   registered under their path below `templates/`, so includes read
//!   `{% include "email/_footer.txt" %}`.
//! - `.html` files go to an engine whose default formatter HTML-escapes every value
//!   (upon itself escapes nothing); `.txt` and `.subject` go to one that writes values raw.
//!   `{{ x | nl2br }}` (HTML only) escapes and keeps the rider's line breaks.
//! - upon errors on a missing key even inside `{% if %}`, and `?.` does not help when
//!   the parent is null. So the context is normalized first (see `context.rs`):
//!   every optional field exists (`null` when absent) and can be tested with `if`;
//!   `links.accept|refuse|cancel|offer_cancel|offer_page|dashboard` always exist;
//!   `passengers[i].remove_url` is the per-passenger remove link; French wordings
//!   are precomputed in the configured zone (`offer.departure_fr`, `reservation.pickup_fr`,
//!   `reservation.deadline_fr`, `*_time_fr`, `seats_fr`, `offer.seats_left_fr`, ...),
//!   plus `reservation.is_<status>` flags (upon has no `==`), `passenger_count`, `has_links`.
//!   Required fields are not invented: a missing one is a render error.
//! - Subjects are flattened to one line: control characters (CR/LF included) become spaces.

mod context;
mod sample;
#[cfg(test)]
mod tests;

pub use sample::sample;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use include_dir::{Dir, include_dir};
use serde_json::Value;

use crate::mail::datetime_fr;

static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The 15 emails of SPEC.md, plus `offer_cancelled_driver` (the driver's own
/// confirmation that the whole offer is cancelled, sent by the service layer) and
/// `offer_created_driver` (sent when a trip is offered from the riders' pages).
const TEMPLATE_NAMES: [&str; 17] = [
    "request_driver",
    "request_passenger",
    "confirmed_passenger",
    "itinerary_driver",
    "refused_passenger",
    "cancelled_passenger",
    "cancelled_driver",
    "expired_passenger",
    "expired_driver",
    "reminder_passenger",
    "reminder_driver",
    "test",
    "removed_passenger",
    "offer_cancelled_passenger",
    "route_updated_passenger",
    "offer_cancelled_driver",
    "offer_created_driver",
];

/// File extensions the renderer loads; anything else in an override dir is ignored.
const EXTENSIONS: [&str; 3] = ["html", "txt", "subject"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("unknown template {0:?}")]
    UnknownTemplate(String),
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
    #[error("cannot render {name}: {message}")]
    InvalidContext { name: String, message: String },
    #[error("cannot read template {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub struct Renderer {
    html: upon::Engine<'static>,
    text: upon::Engine<'static>,
    tz: Tz,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("tz", &self.tz)
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// Compiles the built-in templates, replaced by same-named files of `override_dir`.
    /// With an override dir, every email is also test-rendered, so a broken override
    /// stops the daemon at start rather than failing each email later.
    pub fn new(tz: Tz, override_dir: Option<&Path>) -> Result<Renderer, RenderError> {
        let mut sources: BTreeMap<String, Cow<'static, str>> = BTreeMap::new();
        collect_builtin(&BUILTIN, &mut sources)?;
        if let Some(dir) = override_dir {
            collect_dir(dir, "email", &mut sources)?;
            let pages = dir.join("page");
            if pages.is_dir() {
                collect_dir(&pages, "page", &mut sources)?;
            }
        }

        let mut html = upon::Engine::new();
        html.set_default_formatter(&escape_html);
        html.add_formatter("nl2br", nl2br);
        let mut text = upon::Engine::new();
        for engine in [&mut html, &mut text] {
            add_date_filters(engine, tz);
        }
        for (name, source) in sources {
            let engine = if name.ends_with(".html") {
                &mut html
            } else {
                &mut text
            };
            engine
                .add_template(name.clone(), source)
                .map_err(|e| template_error(&name, &e))?;
        }
        for name in TEMPLATE_NAMES {
            for (engine, ext) in [(&text, "subject"), (&text, "txt"), (&html, "html")] {
                let file = format!("email/{name}.{ext}");
                if engine.get_template(&file).is_none() {
                    return Err(RenderError::Template {
                        name: file,
                        message: "missing template file".to_owned(),
                    });
                }
            }
        }
        let renderer = Renderer { html, text, tz };
        if override_dir.is_some() {
            renderer.check()?;
        }
        Ok(renderer)
    }

    pub fn template_names() -> &'static [&'static str] {
        &TEMPLATE_NAMES
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Renders email `template`. `context` is the outbox row's JSON; `links` holds the
    /// absolute URLs of the actions this recipient may take (absent key = not possible).
    pub fn render(
        &self,
        template: &str,
        context: &Value,
        links: &Value,
    ) -> Result<RenderedEmail, RenderError> {
        if !TEMPLATE_NAMES.contains(&template) {
            return Err(RenderError::UnknownTemplate(template.to_owned()));
        }
        let prepared = context::prepare(template, context, links, self.tz).map_err(|message| {
            RenderError::InvalidContext {
                name: template.to_owned(),
                message,
            }
        })?;
        let value = upon::to_value(&prepared).map_err(|e| template_error(template, &e))?;
        let subject = run(&self.text, &format!("email/{template}.subject"), &value)?;
        let text = run(&self.text, &format!("email/{template}.txt"), &value)?;
        let html = run(&self.html, &format!("email/{template}.html"), &value)?;
        let subject = one_line(&subject);
        if subject.is_empty() {
            return Err(RenderError::Template {
                name: format!("email/{template}.subject"),
                message: "the subject rendered empty".to_owned(),
            });
        }
        Ok(RenderedEmail {
            subject,
            text: tidy_text(&text),
            html: tidy_html(&html),
        })
    }

    /// Renders `templates/page/<page>.html` with the HTML-escaping engine. The context
    /// is used as given; `date_fr`, `time_fr` and `datetime_fr` filters turn RFC 3339
    /// strings into French wordings in the configured zone.
    pub fn render_page(&self, page: &str, context: &Value) -> Result<String, RenderError> {
        let name = format!("page/{page}.html");
        if self.html.get_template(&name).is_none() {
            return Err(RenderError::UnknownTemplate(name));
        }
        let value = upon::to_value(context).map_err(|e| template_error(&name, &e))?;
        run(&self.html, &name, &value)
    }

    /// Renders every email with a realistic sample, to catch a broken template
    /// (e.g. an override naming a field that does not exist) before any rider sees it.
    pub fn check(&self) -> Result<(), RenderError> {
        for name in TEMPLATE_NAMES {
            let (context, links) = sample(name);
            self.render(name, &context, &links)?;
        }
        Ok(())
    }
}

fn run(
    engine: &upon::Engine<'static>,
    name: &str,
    value: &upon::Value,
) -> Result<String, RenderError> {
    // get_template, never template(): the latter panics on an unknown name.
    let template = engine
        .get_template(name)
        .ok_or_else(|| RenderError::UnknownTemplate(name.to_owned()))?;
    template
        .render_from(value)
        .to_string()
        .map_err(|e| template_error(name, &e))
}

fn template_error(name: &str, error: &upon::Error) -> RenderError {
    RenderError::Template {
        name: name.to_owned(),
        // The alternate form shows the offending template line.
        message: format!("{error:#}"),
    }
}

fn collect_builtin(
    dir: &'static Dir<'static>,
    out: &mut BTreeMap<String, Cow<'static, str>>,
) -> Result<(), RenderError> {
    for file in dir.files() {
        let path = file.path();
        if !has_template_extension(path) {
            continue;
        }
        let name = slash_path(path);
        let source = file.contents_utf8().ok_or_else(|| RenderError::Template {
            name: name.clone(),
            message: "not valid UTF-8".to_owned(),
        })?;
        out.insert(name, Cow::Borrowed(source));
    }
    for sub in dir.dirs() {
        collect_builtin(sub, out)?;
    }
    Ok(())
}

/// Reads the template files directly inside `dir` as `<prefix>/<file name>`.
fn collect_dir(
    dir: &Path,
    prefix: &str,
    out: &mut BTreeMap<String, Cow<'static, str>>,
) -> Result<(), RenderError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RenderError::Io { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        // Skips editor leftovers (.swp, ~) and dot files.
        if file_name.starts_with('.') || !path.is_file() || !has_template_extension(&path) {
            continue;
        }
        let source = std::fs::read_to_string(&path).map_err(io(&path))?;
        out.insert(format!("{prefix}/{file_name}"), Cow::Owned(source));
    }
    Ok(())
}

fn has_template_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e))
}

fn slash_path(path: &Path) -> String {
    let parts: Vec<_> = path.iter().map(|p| p.to_string_lossy()).collect();
    parts.join("/")
}

fn add_date_filters(engine: &mut upon::Engine<'static>, tz: Tz) {
    let wordings: [(&str, datetime_fr::Wording); 3] = [
        ("date_fr", datetime_fr::date_fr),
        ("time_fr", datetime_fr::time_fr),
        ("datetime_fr", datetime_fr::datetime_fr),
    ];
    for (name, wording) in wordings {
        engine.add_function(name, move |value: &str| -> Result<String, String> {
            let instant = datetime_fr::parse_instant(value).map_err(|e| e.to_string())?;
            Ok(wording(&datetime_fr::local(instant, tz)))
        });
    }
}

/// Escapes the five characters that matter in HTML text and attribute values.
pub fn escape_into(out: &mut impl std::fmt::Write, s: &str) -> std::fmt::Result {
    for c in s.chars() {
        match c {
            '&' => out.write_str("&amp;")?,
            '<' => out.write_str("&lt;")?,
            '>' => out.write_str("&gt;")?,
            '"' => out.write_str("&quot;")?,
            '\'' => out.write_str("&#39;")?,
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

fn escape_html(f: &mut upon::fmt::Formatter<'_>, value: &upon::Value) -> upon::fmt::Result {
    match value {
        upon::Value::String(s) => escape_into(f, s)?,
        other => upon::fmt::default(f, other)?,
    }
    Ok(())
}

/// Escaped text whose line breaks survive in HTML (a rider's multi-line message).
fn nl2br(f: &mut upon::fmt::Formatter<'_>, value: &upon::Value) -> upon::fmt::Result {
    let upon::Value::String(s) = value else {
        return escape_html(f, value);
    };
    let normalized = s.replace("\r\n", "\n").replace('\r', "\n");
    for (i, line) in normalized.split('\n').enumerate() {
        if i > 0 {
            f.write_str("<br>\n")?;
        }
        escape_into(f, line)?;
    }
    Ok(())
}

/// A header must be one line: a rider's name holding CR/LF must not split it.
fn one_line(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                ' '
            } else {
                c
            }
        })
        .collect();
    flat.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Template tags leave blank lines behind; keep at most one between paragraphs,
/// drop trailing spaces, end with exactly one newline.
fn tidy_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank_run = 0;
    for line in s.lines().map(str::trim_end) {
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() && blank_run > 0 {
            out.push('\n');
        }
        blank_run = 0;
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Whitespace-only lines mean nothing in HTML; dropping them keeps the message small.
fn tidy_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.lines().filter(|l| !l.trim().is_empty()) {
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}
