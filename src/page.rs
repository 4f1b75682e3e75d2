//! The rider web pages of `templates/page/` (English: `templates/en/page/`). Pages are not
//! mail: they share only the compiled template set, [`Renderer`] (built once with the
//! emails, with the same `email.templates_dir` overrides, HTML escaping and date filters).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::mail::render::{RenderError, Renderer};

/// Renders page `page` now; see [`render_at`].
pub fn render(renderer: &Renderer, page: &str, context: &Value) -> Result<String, RenderError> {
    render_at(renderer, page, context, Utc::now())
}

/// Renders `templates/page/<page>.html` in the context's `lang` (French when the page is not
/// translated), as read at `now`. The context is used as given; the `date_fr`, `time_fr`,
/// `datetime_fr` filters (`*_en` in English) turn RFC 3339 strings into wordings in the
/// configured zone, with the year only when it is not `now`'s.
pub fn render_at(
    renderer: &Renderer,
    page: &str,
    context: &Value,
    now: DateTime<Utc>,
) -> Result<String, RenderError> {
    renderer.render_html_at(&format!("page/{page}.html"), context, now)
}
