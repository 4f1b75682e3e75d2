//! The rider web pages of `templates/page/`. Pages are not mail: they share only the
//! compiled template set, [`Renderer`] (built once with the emails, with the same
//! `email.templates_dir` overrides, HTML escaping and date filters).

use serde_json::Value;

use crate::mail::render::{RenderError, Renderer};

/// Renders `templates/page/<page>.html` with the HTML-escaping engine. The context is used
/// as given; `date_fr`, `time_fr` and `datetime_fr` filters turn RFC 3339 strings into
/// French wordings in the configured zone.
pub fn render(renderer: &Renderer, page: &str, context: &Value) -> Result<String, RenderError> {
    renderer.render_html(&format!("page/{page}.html"), context)
}
