//! Email rendering with `upon`, in each rider's language. The [`Renderer`] compiles every
//! template of `templates/`, the web pages' too (`crate::page` renders those): one template
//! set, one override dir.
//!
//! Template files live in `templates/` and are compiled into the binary, so a fresh
//! install needs no files: French in `templates/email/` and `templates/page/`, English in
//! `templates/en/email/` and `templates/en/page/`, with the same file names. Each language
//! has its own engines, so a template includes `email/_footer.txt` and gets the footer
//! of its own language. `email.templates_dir` may hold replacements: `<dir>/<file>`
//! replaces the French `email/<file>`, `<dir>/page/<file>` the French `page/<file>`,
//! `<dir>/en/<file>` and `<dir>/en/page/<file>` the English ones (new partials may be
//! added the same way). `carette templates check DIR` runs the checks of `check.rs`.
//!
//! Conventions for template authors:
//! - Each email `<name>` has `email/<name>.subject`, `.txt` and `.html`.
//! - `.html` files go to an engine whose default formatter HTML-escapes every value
//!   (upon itself escapes nothing); `.txt` and `.subject` go to one that writes values raw.
//!   `{{ x | nl2br }}` (HTML only) escapes and keeps the rider's line breaks.
//! - upon errors on a missing key even inside `{% if %}`, and `?.` does not help when
//!   the parent is null. So the context is normalized first (see `context.rs`):
//!   every optional field exists (`null` when absent) and can be tested with `if`;
//!   `links.accept|refuse|cancel|offer_cancel|offer_page|dashboard` always exist;
//!   `passengers[i].remove_url`, `pending[i].accept_url|refuse_url` are per-rider links;
//!   wordings are precomputed in the configured zone and the recipient's language, with
//!   the language as suffix (`offer.departure_fr` / `offer.departure_en`,
//!   `reservation.pickup_time_fr`, `seats_fr`, ...), plus `reservation.is_<status>`
//!   flags (upon has no `==`), `reservation.was_confirmed|was_pending`, `routing`,
//!   `passenger_count`, `has_links`.
//! - French elision: `{{ name | de }}` writes "de Marie" or "d'Inès" (also `le`, `que`);
//!   `{{ name | elide: "de" }}` writes only "de " or "d'", to put markup around the name.
//! - Required fields are not invented: a missing one is a render error.
//! - Subjects are flattened to one line: control characters (CR/LF included) become spaces.

mod check;
mod context;
mod sample;
#[cfg(test)]
mod tests;

pub use check::{CheckError, check_dir};
pub use sample::{now as sample_now, sample, samples};

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use include_dir::{Dir, include_dir};
use serde_json::Value;

use crate::domain::Lang;
use crate::mail::datetime_fr;
use crate::mail::words::{Words, elide};

static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

thread_local! {
    /// The moment a page is read at, for the date filters (upon functions see only their
    /// arguments). Set for the duration of one synchronous render on this thread.
    static READ_AT: Cell<Option<DateTime<Utc>>> = const { Cell::new(None) };
}

/// The 15 emails of SPEC.md, plus `offer_cancelled_driver` (the driver's own
/// confirmation that the whole offer is cancelled), `pickup_time_passenger` (the
/// pickup time, the first time itinerary recalculation knows it) and `offer_created_driver`
/// (sent when a trip is offered from the riders' pages).
const TEMPLATE_NAMES: [&str; 18] = [
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
    "pickup_time_passenger",
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
    /// A broken override folder: every problem, each as `file:line: message`.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Check(Vec<CheckError>),
}

/// Where a template's source came from: built in, or an operator's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    Builtin(String),
    File(PathBuf),
}

impl Origin {
    pub(crate) fn display(&self) -> String {
        match self {
            Origin::Builtin(path) => format!("templates/{path}"),
            Origin::File(path) => path.display().to_string(),
        }
    }
}

/// One template source, keyed by its registered name (`email/x.txt`, `page/y.html`).
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub text: Cow<'static, str>,
    pub origin: Origin,
}

/// The sources of one language.
pub(crate) type Sources = BTreeMap<String, Source>;

struct Engines {
    html: upon::Engine<'static>,
    text: upon::Engine<'static>,
}

pub struct Renderer {
    fr: Engines,
    en: Engines,
    tz: Tz,
    default_lang: Lang,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("tz", &self.tz)
            .field("default_lang", &self.default_lang)
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// French by default for rows and pages that name no language.
    pub fn new(tz: Tz, override_dir: Option<&Path>) -> Result<Renderer, RenderError> {
        Renderer::with_default_lang(tz, override_dir, Lang::Fr)
    }

    /// Compiles the built-in templates of every language, replaced by same-named files of
    /// `override_dir`. With an override dir, the whole check of `carette templates check`
    /// runs first, so a broken override stops the daemon at start with `file:line`
    /// messages rather than failing each email later.
    pub fn with_default_lang(
        tz: Tz,
        override_dir: Option<&Path>,
        default_lang: Lang,
    ) -> Result<Renderer, RenderError> {
        if let Some(dir) = override_dir {
            let errors = check_dir(tz, dir)?;
            if !errors.is_empty() {
                return Err(RenderError::Check(errors));
            }
        }
        let fr = Renderer::engines(tz, &sources(Lang::Fr, override_dir)?)?;
        let en = Renderer::engines(tz, &sources(Lang::En, override_dir)?)?;
        Ok(Renderer {
            fr,
            en,
            tz,
            default_lang,
        })
    }

    fn engines(tz: Tz, sources: &Sources) -> Result<Engines, RenderError> {
        let (engines, errors) = compile(tz, sources);
        match errors.into_iter().next() {
            Some(e) => Err(RenderError::Template {
                name: e.file,
                message: e.message,
            }),
            None => Ok(engines),
        }
    }

    pub fn template_names() -> &'static [&'static str] {
        &TEMPLATE_NAMES
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    pub fn default_lang(&self) -> Lang {
        self.default_lang
    }

    fn engines_for(&self, lang: Lang) -> &Engines {
        match lang {
            Lang::Fr => &self.fr,
            Lang::En => &self.en,
        }
    }

    /// The language a context asks for (`lang`), else the configured default.
    fn lang_of(&self, context: &Value) -> Result<Lang, String> {
        match context.get("lang") {
            None | Some(Value::Null) => Ok(self.default_lang),
            Some(Value::String(code)) => {
                Lang::parse(code).ok_or_else(|| format!("unknown lang {code:?}"))
            }
            Some(_) => Err("lang must be \"fr\" or \"en\"".to_owned()),
        }
    }

    /// Renders email `template` now; see `render_at`.
    pub fn render(
        &self,
        template: &str,
        context: &Value,
        links: &Value,
    ) -> Result<RenderedEmail, RenderError> {
        self.render_at(template, context, links, Utc::now())
    }

    /// Renders email `template` as read at `now` (years other than the current one are
    /// written out). `context` is the outbox row's JSON (its `lang` picks the language);
    /// `links` holds the absolute URLs of the actions this recipient may take (absent
    /// key = not possible).
    pub fn render_at(
        &self,
        template: &str,
        context: &Value,
        links: &Value,
        now: DateTime<Utc>,
    ) -> Result<RenderedEmail, RenderError> {
        if !TEMPLATE_NAMES.contains(&template) {
            return Err(RenderError::UnknownTemplate(template.to_owned()));
        }
        let invalid = |message| RenderError::InvalidContext {
            name: template.to_owned(),
            message,
        };
        let lang = self.lang_of(context).map_err(invalid)?;
        let words = self.words(lang, now);
        let prepared =
            context::prepare(template, context, links, self.tz, words).map_err(invalid)?;
        let value = upon::to_value(&prepared).map_err(|e| template_error(template, &e))?;
        let engines = self.engines_for(lang);
        let subject = run(&engines.text, &format!("email/{template}.subject"), &value)?;
        let text = run(&engines.text, &format!("email/{template}.txt"), &value)?;
        let html = run(&engines.html, &format!("email/{template}.html"), &value)?;
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

    fn words(&self, lang: Lang, now: DateTime<Utc>) -> Words {
        Words {
            lang,
            this_year: now.with_timezone(&self.tz).year(),
        }
    }

    /// Renders the HTML template `name` (its path below the language's folder, e.g.
    /// `page/x.html`) with `context` as given, through the HTML-escaping engine of the
    /// context's `lang` (the French one when that language lacks the file), read at `now`:
    /// the date filters write the year only when it is not `now`'s. What the web pages
    /// (`crate::page`) need.
    pub(crate) fn render_html_at(
        &self,
        name: &str,
        context: &Value,
        now: DateTime<Utc>,
    ) -> Result<String, RenderError> {
        READ_AT.with(|at| at.set(Some(now)));
        let out = self.render_html(name, context);
        READ_AT.with(|at| at.set(None));
        out
    }

    fn render_html(&self, name: &str, context: &Value) -> Result<String, RenderError> {
        let lang = self
            .lang_of(context)
            .map_err(|message| RenderError::InvalidContext {
                name: name.to_owned(),
                message,
            })?;
        let mut engines = self.engines_for(lang);
        if engines.html.get_template(name).is_none() {
            // A page not translated yet is better shown in French than not at all.
            engines = &self.fr;
        }
        if engines.html.get_template(name).is_none() {
            return Err(RenderError::UnknownTemplate(name.to_owned()));
        }
        let value = upon::to_value(context).map_err(|e| template_error(name, &e))?;
        run(&engines.html, name, &value)
    }

    /// Renders every email and link page in every language with realistic samples, to
    /// catch a broken template (e.g. an override naming a field that does not exist) before any rider
    /// sees it.
    pub fn check(&self) -> Result<(), RenderError> {
        let now = sample::now();
        for lang in Lang::ALL {
            for name in TEMPLATE_NAMES {
                for (mut context, links) in samples(name) {
                    context["lang"] = lang.as_str().into();
                    self.render_at(name, &context, &links, now)?;
                }
            }
            for (page, mut context) in sample::page_samples() {
                context["lang"] = lang.as_str().into();
                self.render_html_at(&format!("page/{page}.html"), &context, now)?;
            }
        }
        Ok(())
    }
}

/// A compile error of one file, before it is tied to its origin.
pub(crate) struct CompileError {
    pub file: String,
    pub message: String,
    pub error: Option<upon::Error>,
}

/// Compiles `sources` into a language's engines, collecting every syntax error.
fn compile(tz: Tz, sources: &Sources) -> (Engines, Vec<CompileError>) {
    let mut html = upon::Engine::new();
    html.set_default_formatter(&escape_html);
    html.add_formatter("nl2br", nl2br);
    let mut text = upon::Engine::new();
    for engine in [&mut html, &mut text] {
        add_filters(engine, tz);
    }
    let mut errors = Vec::new();
    for (name, source) in sources {
        let engine = if name.ends_with(".html") {
            &mut html
        } else {
            &mut text
        };
        if let Err(e) = engine.add_template(name.clone(), source.text.clone()) {
            errors.push(CompileError {
                file: name.clone(),
                message: format!("{e:#}"),
                error: Some(e),
            });
        }
    }
    for name in TEMPLATE_NAMES {
        for (engine, ext) in [(&text, "subject"), (&text, "txt"), (&html, "html")] {
            let file = format!("email/{name}.{ext}");
            if engine.get_template(&file).is_none() && !errors.iter().any(|e| e.file == file) {
                errors.push(CompileError {
                    file,
                    message: "missing template file".to_owned(),
                    error: None,
                });
            }
        }
    }
    (Engines { html, text }, errors)
}

/// Every template source of `lang`: the built-in ones, replaced or completed by the
/// override folder's.
pub(crate) fn sources(lang: Lang, override_dir: Option<&Path>) -> Result<Sources, RenderError> {
    let mut out = Sources::new();
    let root: &Dir<'static> = match lang {
        Lang::Fr => &BUILTIN,
        Lang::En => BUILTIN.get_dir("en").ok_or_else(|| RenderError::Template {
            name: "templates/en".to_owned(),
            message: "the English templates are missing from the build".to_owned(),
        })?,
    };
    for sub in ["email", "page"] {
        let prefix = match lang {
            Lang::Fr => sub.to_owned(),
            Lang::En => format!("en/{sub}"),
        };
        if let Some(dir) = root.get_dir(&prefix) {
            collect_builtin(dir, sub, &prefix, &mut out)?;
        }
    }
    if let Some(dir) = override_dir {
        let base = match lang {
            Lang::Fr => dir.to_path_buf(),
            Lang::En => dir.join("en"),
        };
        if base.is_dir() {
            collect_dir(&base, "email", &mut out)?;
            let pages = base.join("page");
            if pages.is_dir() {
                collect_dir(&pages, "page", &mut out)?;
            }
        }
    }
    Ok(out)
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

/// Registers the files of the built-in `dir` (path `dir_path` below templates/) as
/// `<prefix>/<file name>`.
fn collect_builtin(
    dir: &'static Dir<'static>,
    prefix: &str,
    dir_path: &str,
    out: &mut Sources,
) -> Result<(), RenderError> {
    for file in dir.files() {
        let path = file.path();
        if !has_template_extension(path) {
            continue;
        }
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let name = format!("{prefix}/{file_name}");
        let text = file.contents_utf8().ok_or_else(|| RenderError::Template {
            name: name.clone(),
            message: "not valid UTF-8".to_owned(),
        })?;
        let origin = Origin::Builtin(format!("{dir_path}/{file_name}"));
        out.insert(
            name,
            Source {
                text: Cow::Borrowed(text),
                origin,
            },
        );
    }
    Ok(())
}

/// Reads the template files directly inside `dir` as `<prefix>/<file name>`.
fn collect_dir(dir: &Path, prefix: &str, out: &mut Sources) -> Result<(), RenderError> {
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
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        out.insert(
            format!("{prefix}/{file_name}"),
            Source {
                text: Cow::Owned(text),
                origin: Origin::File(path),
            },
        );
    }
    Ok(())
}

fn has_template_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e))
}

/// Date filters of both languages (`date_fr`, `time_en`, ...) and French elision
/// (`de`, `le`, `que`, `elide`), in every engine: the check tells an English template
/// that uses a French wording apart from one naming a missing filter.
fn add_filters(engine: &mut upon::Engine<'static>, tz: Tz) {
    type Wording = fn(&Words, &DateTime<Tz>) -> String;
    let wordings: [(&str, Wording); 3] = [
        ("date", Words::date),
        ("time", Words::time),
        ("datetime", Words::datetime),
    ];
    for lang in Lang::ALL {
        for (name, wording) in wordings {
            engine.add_function(
                format!("{name}_{lang}"),
                move |value: &str| -> Result<String, String> {
                    let instant = datetime_fr::parse_instant(value).map_err(|e| e.to_string())?;
                    let local = datetime_fr::local(instant, tz);
                    let now = READ_AT.with(Cell::get).unwrap_or_else(Utc::now);
                    let words = Words {
                        lang,
                        this_year: now.with_timezone(&tz).year(),
                    };
                    Ok(wording(&words, &local))
                },
            );
        }
    }
    for word in ["de", "le", "que"] {
        engine.add_function(word, move |next: &str| -> String {
            format!("{}{next}", elide(word, next))
        });
    }
    engine.add_function("elide", |next: &str, word: &str| -> String {
        elide(word, next)
    });
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
