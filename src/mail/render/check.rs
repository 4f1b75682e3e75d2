//! `carette templates check`: everything that can be known about an override folder
//! before a rider's email depends on it, reported as `file:line: message` lines.
//!
//! 1. every file parses (upon syntax);
//! 2. every variable a file names exists in the contexts emails are rendered with (a
//!    static scan of the tags, so a branch no sample takes is checked too);
//! 3. every email renders in every language with the sample contexts and their
//!    variants (nulls, no routing, no links), and every link page with the contexts the
//!    HTTP layer builds (every action and status), which catches what the scan cannot see
//!    (page variables are checked this way only: partials get other contexts there).
//!
//! The daemon runs the same check at start and refuses a folder that fails it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono_tz::Tz;
use serde_json::Value;

use super::context::{self, LINK_KEYS};
use super::sample::{self, samples};
use super::{Origin, RenderError, Sources, TEMPLATE_NAMES, compile, run, sources};
use crate::domain::Lang;
use crate::mail::words::Words;

/// One problem of an override folder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CheckError {
    pub file: String,
    /// 1-based; 1 when the problem is the file as a whole.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Checks the override folder `dir` against the built-in templates of every language.
/// `Err` only when the folder cannot be read; problems of its files are the `Ok` list
/// (empty: the folder is fine).
pub fn check_dir(tz: Tz, dir: &Path) -> Result<Vec<CheckError>, RenderError> {
    if let Err(source) = std::fs::read_dir(dir) {
        return Err(RenderError::Io {
            path: dir.to_path_buf(),
            source,
        });
    }
    let mut errors = BTreeSet::new();
    errors.extend(unknown_files(dir));
    for lang in Lang::ALL {
        let sources = sources(lang, Some(dir))?;
        let (engines, compile_errors) = compile(tz, &sources);
        let broken = !compile_errors.is_empty();
        for e in compile_errors {
            errors.insert(locate(&sources, &e.file, &e.message, e.error.as_ref()));
        }
        errors.extend(unknown_variables(&sources));
        if broken {
            // Rendering would only repeat the syntax errors as missing templates.
            continue;
        }
        for (page, mut ctx) in sample::page_samples() {
            ctx["lang"] = lang.as_str().into();
            let file = format!("page/{page}.html");
            let Ok(value) = upon::to_value(&ctx) else {
                continue;
            };
            if let Err(RenderError::Template { message, .. }) = run(&engines.html, &file, &value) {
                let mut e = locate(&sources, &file, &message, None);
                // A built-in page failing means the samples lag behind the HTTP layer (the
                // test suite's concern), not that the operator's folder is wrong.
                if !is_override(&sources, &e.file) {
                    continue;
                }
                e.message = format!(
                    "cannot render the sample {page} page ({lang}): {}",
                    e.message
                );
                errors.insert(e);
            }
        }
        let words = Words {
            lang,
            this_year: chrono::Datelike::year(&sample::now()),
        };
        for name in TEMPLATE_NAMES {
            for (mut ctx, links) in samples(name) {
                ctx["lang"] = lang.as_str().into();
                let Ok(prepared) = context::prepare(name, &ctx, &links, tz, words) else {
                    continue;
                };
                let Ok(value) = upon::to_value(&prepared) else {
                    continue;
                };
                for (engine, ext) in [
                    (&engines.text, "subject"),
                    (&engines.text, "txt"),
                    (&engines.html, "html"),
                ] {
                    let file = format!("email/{name}.{ext}");
                    if let Err(RenderError::Template { message, .. }) = run(engine, &file, &value) {
                        let mut e = locate(&sources, &file, &message, None);
                        // The static scan already named the variable on that line.
                        if errors.iter().any(|x| x.file == e.file && x.line == e.line) {
                            continue;
                        }
                        e.message = format!(
                            "cannot render with the sample {name} ({lang}): {}",
                            e.message
                        );
                        errors.insert(e);
                    }
                }
            }
        }
    }
    Ok(errors.into_iter().collect())
}

/// Turns an upon message (its alternate form names `--> template:line:col`) into an
/// error on the file that holds the faulty line.
fn locate(sources: &Sources, file: &str, message: &str, error: Option<&upon::Error>) -> CheckError {
    let (mut name, mut line) = (file.to_owned(), 1);
    if let Some(at) = message.lines().find_map(|l| l.trim().strip_prefix("--> ")) {
        let mut parts = at.rsplitn(3, ':');
        let _col = parts.next();
        let ln = parts.next().and_then(|n| n.parse().ok());
        if let (Some(ln), Some(n)) = (ln, parts.next()) {
            line = ln;
            name = n.to_owned();
        }
    }
    let reason = message
        .lines()
        .find_map(|l| l.trim().strip_prefix("= reason: "))
        .map(str::to_owned)
        .or_else(|| error.map(ToString::to_string))
        .unwrap_or_else(|| message.lines().next().unwrap_or_default().to_owned());
    let file = sources
        .get(&name)
        .map_or_else(|| format!("templates/{name}"), |s| s.origin.display());
    CheckError {
        file,
        line,
        message: reason,
    }
}

/// Email files that replace nothing: a misspelt name would silently never be used.
fn unknown_files(dir: &Path) -> Vec<CheckError> {
    let mut out = Vec::new();
    for base in [dir.to_path_buf(), dir.join("en")] {
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some((stem, ext)) = file_name.rsplit_once('.') else {
                continue;
            };
            if !path.is_file()
                || file_name.starts_with('.')
                || stem.starts_with('_')
                || !super::EXTENSIONS.contains(&ext)
                || TEMPLATE_NAMES.contains(&stem)
            {
                continue;
            }
            out.push(CheckError {
                file: path.display().to_string(),
                line: 1,
                message: format!(
                    "{file_name} replaces no template: emails are {}",
                    TEMPLATE_NAMES.join(", ")
                ),
            });
        }
    }
    out
}

/// The variables each kind of template may name: every path of the prepared sample
/// contexts (lists as `name[]`), and the keys the built-in templates pass to partials
/// with `include ... with {...}`.
fn known_paths(lang: Lang, sources: &Sources) -> BTreeSet<String> {
    let mut known = BTreeSet::new();
    let words = Words {
        lang,
        this_year: 2026,
    };
    for name in TEMPLATE_NAMES {
        for (ctx, links) in samples(name) {
            let mut ctx = ctx;
            ctx["lang"] = lang.as_str().into();
            if let Ok(v) = context::prepare(name, &ctx, &links, chrono_tz::UTC, words) {
                flatten("", &v, &mut known);
            }
        }
    }
    for key in LINK_KEYS {
        known.insert(format!("links.{key}"));
    }
    // Pages get their facts from the HTTP layer; their variables are not checked here.
    for source in sources.values() {
        for (_, tag) in tags(&source.text) {
            if let Some(with) = tag.split_once(" with ").map(|(_, w)| w) {
                for key in with.split(',').filter_map(|kv| kv.split(':').next()) {
                    let key = key.trim().trim_start_matches('{').trim().trim_matches('"');
                    if !key.is_empty() {
                        known.insert(key.to_owned());
                    }
                }
            }
        }
    }
    known
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(path.clone());
                // Maps keyed by reservation id are read through derived fields only.
                if !matches!(k.as_str(), "remove" | "accept_by" | "refuse_by") {
                    flatten(&path, child, out);
                }
            }
        }
        Value::Array(items) => {
            let path = format!("{prefix}[]");
            out.insert(path.clone());
            for item in items {
                flatten(&path, item, out);
            }
        }
        _ => {}
    }
}

/// The `{{ }}` and `{% %}` tags of a source, with their 1-based line.
fn tags(source: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut rest = source;
    let mut offset = 0;
    while let Some(start) = rest.find(['{']) {
        let after = &rest[start..];
        let close = if after.starts_with("{{") {
            "}}"
        } else if after.starts_with("{%") {
            "%}"
        } else {
            offset += start + 1;
            rest = &rest[start + 1..];
            continue;
        };
        let Some(end) = after[2..].find(close) else {
            break;
        };
        let inner = after[2..2 + end].trim_matches('-').trim().to_owned();
        let line = source[..offset + start].matches('\n').count() + 1;
        out.push((line, format!("{}{inner}", &after[..2])));
        let consumed = start + 2 + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    out
}

/// The variable paths an expression names (not strings, numbers or filter names).
fn paths_of(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Filters and their arguments: only the value before the first `|` is a variable
    // (arguments are literals in these templates).
    let value = expr.split('|').next().unwrap_or_default();
    let mut chars = value.char_indices().peekable();
    let mut in_string = false;
    let mut start = None;
    let bytes = value;
    while let Some((i, c)) = chars.next() {
        if c == '"' {
            in_string = !in_string;
            continue;
        }
        if in_string {
            continue;
        }
        let part = c.is_alphanumeric() || c == '_' || c == '.' || c == '?';
        match (part, start) {
            (true, None) if !c.is_ascii_digit() && c != '.' => start = Some(i),
            (false, Some(s)) => {
                out.push(bytes[s..i].to_owned());
                start = None;
            }
            _ => {}
        }
        if chars.peek().is_none()
            && let Some(s) = start
        {
            out.push(bytes[s..].to_owned());
        }
    }
    out.into_iter()
        .map(|p| p.replace('?', ""))
        .filter(|p| !matches!(p.as_str(), "not" | "true" | "false" | "none" | "and" | "or"))
        .collect()
}

/// Every variable an override file names that no email context holds.
fn unknown_variables(sources: &Sources) -> Vec<CheckError> {
    let mut out = Vec::new();
    let mut known_by_lang: BTreeMap<Lang, BTreeSet<String>> = BTreeMap::new();
    for (name, source) in sources {
        let Origin::File(path) = &source.origin else {
            continue;
        };
        if !name.starts_with("email/") {
            continue;
        }
        let lang = if path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == "en")
        {
            Lang::En
        } else {
            Lang::Fr
        };
        let known = known_by_lang
            .entry(lang)
            .or_insert_with(|| known_paths(lang, sources));
        let mut loops: Vec<(String, String)> = Vec::new();
        for (line, tag) in tags(&source.text) {
            let (is_block, body) = match tag.strip_prefix("{%") {
                Some(b) => (true, b.trim()),
                None => (false, tag.trim_start_matches("{{").trim()),
            };
            let exprs: Vec<String> = if is_block {
                let mut words = body.split_whitespace();
                match words.next() {
                    Some("if") => vec![body[2..].to_owned()],
                    Some("else") => body
                        .strip_prefix("else")
                        .map(str::trim)
                        .and_then(|b| b.strip_prefix("if"))
                        .map(|b| vec![b.to_owned()])
                        .unwrap_or_default(),
                    Some("for") => {
                        let (vars, iter) = body[3..].split_once(" in ").unwrap_or_default();
                        let var = vars.split(',').next_back().unwrap_or_default().trim();
                        let iter = iter.trim().to_owned();
                        loops.push((var.to_owned(), iter.clone()));
                        vec![iter]
                    }
                    Some("endfor") => {
                        loops.pop();
                        vec![]
                    }
                    Some("include") => body
                        .split_once(" with ")
                        .map(|(_, w)| {
                            w.split(',')
                                .filter_map(|kv| kv.split_once(':').map(|(_, v)| v))
                                .map(|v| v.trim().trim_end_matches('}').to_owned())
                                .collect()
                        })
                        .unwrap_or_default(),
                    Some("with") => body[4..]
                        .split_once(" as ")
                        .map(|(v, _)| vec![v.to_owned()])
                        .unwrap_or_default(),
                    _ => vec![],
                }
            } else {
                vec![body.to_owned()]
            };
            for expr in exprs {
                for path in paths_of(&expr) {
                    let resolved = resolve(&path, &loops);
                    if !known.contains(&resolved) {
                        out.push(CheckError {
                            file: path_display(source),
                            line,
                            message: format!("unknown variable `{path}`"),
                        });
                    }
                }
            }
        }
    }
    out
}

/// `p.name` inside `{% for p in passengers %}` is `passengers[].name`.
fn resolve(path: &str, loops: &[(String, String)]) -> String {
    let (root, rest) = match path.split_once('.') {
        Some((r, rest)) => (r, Some(rest)),
        None => (path, None),
    };
    for (var, iter) in loops.iter().rev() {
        if var == root {
            let base = format!("{}[]", resolve(iter, loops));
            return match rest {
                Some(rest) => format!("{base}.{rest}"),
                None => base,
            };
        }
    }
    path.to_owned()
}

/// Whether `file` (as displayed) is one of the operator's files.
fn is_override(sources: &Sources, file: &str) -> bool {
    sources
        .values()
        .any(|s| matches!(&s.origin, Origin::File(_)) && s.origin.display() == file)
}

fn path_display(source: &super::Source) -> String {
    source.origin.display()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_have_their_line() {
        let t = tags("a\n{{ x }}\n\n{% if y.z -%}b{%- endif %}");
        assert_eq!(t[0], (2, "{{x".to_owned()));
        assert_eq!(t[1].0, 4);
    }

    #[test]
    fn paths_skip_strings_filters_and_keywords() {
        assert_eq!(paths_of("offer.origin | de"), vec!["offer.origin"]);
        assert_eq!(
            paths_of("not reservation.pickup"),
            vec!["reservation.pickup"]
        );
        assert_eq!(paths_of("\"email/_x.txt\""), Vec::<String>::new());
        assert_eq!(
            resolve("p.name", &[("p".into(), "passengers".into())]),
            "passengers[].name"
        );
    }
}
