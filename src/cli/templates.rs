//! `carette templates check [DIR]` and `carette templates preview DIR`: what an operator
//! (or a translator, or a designer) needs before deploying their own wording.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::Value;

use crate::config;
use crate::domain::Lang;
use crate::mail::ics::{self, Parties};
use crate::mail::message::{Composer, Parts};
use crate::mail::render::{self, Renderer, check_dir};

/// Checks `dir` (default: the configured `email.templates_dir`; none: the built-in
/// templates alone). Prints one `file:line: message` per problem on stderr and exits 1
/// when there is any, like the daemon's refusal at start.
pub fn templates_check(config_path: Option<&Path>, dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let loaded = config::load(config_path)?;
    let config = loaded.config;
    let tz = config.jobs.timezone;
    let dir: Option<PathBuf> = dir
        .map(Path::to_path_buf)
        .or_else(|| config.email.templates_dir.clone());
    let Some(dir) = dir else {
        Renderer::new(tz, None)
            .and_then(|r| r.check())
            .context("the built-in templates are broken")?;
        println!(
            "No override folder given or configured (email.templates_dir): the built-in templates are fine."
        );
        return Ok(ExitCode::SUCCESS);
    };
    let errors = check_dir(tz, &dir)?;
    if errors.is_empty() {
        println!(
            "{}: every template parses, names only known variables and renders in every language (fr, en).",
            dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for e in &errors {
        eprintln!("{e}");
    }
    eprintln!(
        "{} problem(s) in {}; the daemon refuses to start with this folder.",
        errors.len(),
        dir.display()
    );
    Ok(ExitCode::FAILURE)
}

/// Writes every email in every language, rendered with sample data, as
/// `<out>/<lang>/<name>.html`, `.txt` and `.eml`. The configured override folder is used,
/// so what is written is what riders would receive.
pub fn templates_preview(config_path: Option<&Path>, out: &Path) -> anyhow::Result<ExitCode> {
    let loaded = config::load(config_path)?;
    let config = loaded.config;
    let renderer = Renderer::new(config.jobs.timezone, config.email.templates_dir.as_deref())
        .context("cannot load the templates (run `carette templates check` for details)")?;
    let composer = Composer::from_config(config.smtp.from.as_deref(), true)?;
    let now = render::sample_now();
    let mut written = 0;
    for lang in Lang::ALL {
        let dir = out.join(lang.as_str());
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        for name in Renderer::template_names() {
            let (mut context, links) = render::sample(name);
            context["lang"] = lang.as_str().into();
            // What the service adds when it queues an email that may carry an invite.
            context["calendar"] = serde_json::json!({ "install": "preview", "trip_sequence": 1 });
            let rendered = renderer.render_at(name, &context, &links, now)?;
            let to = if name.ends_with("_driver") {
                "jean@example.org"
            } else {
                "marie@example.org"
            };
            let to_name = context.get("recipient_name").and_then(Value::as_str);
            let organizer = composer.from().email.to_string();
            let parties = Parties {
                host: "carette.example.org",
                organizer: &organizer,
                attendee: to,
                attendee_name: to_name,
            };
            let invite = ics::invite_for(name, &context, parties, now);
            let message = composer.compose(Parts {
                to,
                to_name,
                reply_to: None,
                message_id: &format!("carette.preview.{lang}.{name}"),
                rendered: &rendered,
                invite: invite.as_ref(),
            })?;
            for (ext, body) in [
                ("html", rendered.html.into_bytes()),
                (
                    "txt",
                    format!("Subject: {}\n\n{}", rendered.subject, rendered.text).into_bytes(),
                ),
                ("eml", message.formatted()),
            ] {
                let path = dir.join(format!("{name}.{ext}"));
                std::fs::write(&path, body)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                written += 1;
            }
        }
    }
    println!(
        "Wrote {written} files ({} emails × {} languages × .html, .txt, .eml) to {}",
        Renderer::template_names().len(),
        Lang::ALL.len(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
