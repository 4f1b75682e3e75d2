//! `carette templates check [DIR]` and `carette templates preview DIR`, and the daemon's
//! refusal of a broken override folder, through the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn carette(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_carette"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("CARETTE_CONFIG")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A config whose data lives in `dir`; `templates` sets email.templates_dir.
fn config(dir: &Path, templates: Option<&Path>) -> PathBuf {
    let templates = templates
        .map(|t| format!("templates_dir = {:?}\n", t.display().to_string()))
        .unwrap_or_default();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[database]\npath = {:?}\n\n\
         [security]\nsecret_key = \"test-secret-0123456789abcdef0123456789abcdef\"\n\n[email]\n{templates}",
        dir.join("carette.db").display().to_string()
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn write(dir: &Path, name: &str, body: &str) {
    std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
    std::fs::write(dir.join(name), body).unwrap();
}

#[test]
fn check_passes_a_good_folder_and_the_built_in_templates() {
    let tmp = tempfile::tempdir().unwrap();
    let overrides = tmp.path().join("wording");
    write(
        &overrides,
        "request_passenger.subject",
        "Votre demande est partie — {{ offer.origin }} → {{ offer.destination }}\n",
    );
    write(
        &overrides,
        "en/request_passenger.subject",
        "Your request is on its way — {{ offer.departure_date_en }}\n",
    );
    let cfg = config(tmp.path(), None);
    let (code, out, err) = carette(&cfg, &["templates", "check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("built-in templates are fine"), "{out}");
    let (code, out, err) = carette(&cfg, &["templates", "check", overrides.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("renders in every language"), "{out}");
}

#[test]
fn check_lists_every_broken_file_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let overrides = tmp.path().join("wording");
    // Line 3: a syntax error.
    write(
        &overrides,
        "request_driver.txt",
        "Bonjour,\n\n{% if offer.origin %}\n",
    );
    // Line 2: a variable no email has.
    write(
        &overrides,
        "en/refused_passenger.subject",
        "Sorry\n{{ offer.nickname }}\n",
    );
    // A misspelt name that would silently replace nothing.
    write(&overrides, "confirmed_pasenger.html", "<p>typo</p>\n");
    let cfg = config(tmp.path(), Some(&overrides));
    let (code, out, err) = carette(&cfg, &["templates", "check"]);
    assert_eq!(code, 1, "{out}{err}");
    let txt = overrides.join("request_driver.txt").display().to_string();
    let subject = overrides
        .join("en/refused_passenger.subject")
        .display()
        .to_string();
    let typo = overrides
        .join("confirmed_pasenger.html")
        .display()
        .to_string();
    assert!(err.contains(&format!("{txt}:3: ")), "{err}");
    assert!(
        err.contains(&format!("{subject}:2: unknown variable `offer.nickname`")),
        "{err}"
    );
    assert!(err.contains(&format!("{typo}:1: ")), "{err}");
    assert!(err.contains("3 problem(s)"), "{err}");

    // The daemon runs the same check at start and refuses the folder with the same lines.
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_carette"))
        .arg("--config")
        .arg(&cfg)
        .arg("serve")
        .env_remove("CARETTE_CONFIG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("the daemon started with a broken template folder");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let daemon_err = String::from_utf8_lossy(&out.stderr);
    assert!(!status.success());
    assert!(daemon_err.contains(&format!("{txt}:3: ")), "{daemon_err}");
    assert!(
        daemon_err.contains(&format!("{subject}:2: unknown variable `offer.nickname`")),
        "{daemon_err}"
    );
}

#[test]
fn preview_writes_every_email_in_both_languages() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), None);
    let out_dir = tmp.path().join("preview");
    let (code, out, err) = carette(&cfg, &["templates", "preview", out_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Wrote 108 files"), "{out}");
    for lang in ["fr", "en"] {
        for ext in ["html", "txt", "eml"] {
            let n = std::fs::read_dir(out_dir.join(lang))
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == ext)
                })
                .count();
            assert_eq!(n, 18, "{lang} .{ext}");
        }
    }
    let fr = std::fs::read_to_string(out_dir.join("fr/request_driver.txt")).unwrap();
    assert!(
        fr.starts_with("Subject: 🔔 Nouvelle demande de réservation"),
        "{fr}"
    );
    let en = std::fs::read_to_string(out_dir.join("en/request_driver.txt")).unwrap();
    assert!(en.starts_with("Subject: 🔔 New booking request"), "{en}");
    let eml = std::fs::read_to_string(out_dir.join("en/confirmed_passenger.eml")).unwrap();
    assert!(
        eml.contains("Subject: =?utf-8?") || eml.contains("Subject: "),
        "{eml}"
    );
    assert!(
        eml.contains("text/html") && eml.contains("text/plain"),
        "{eml}"
    );
    assert!(
        eml.contains("text/calendar"),
        "the invite travels with the confirmation"
    );
    let html = std::fs::read_to_string(out_dir.join("en/reminder_driver.html")).unwrap();
    assert!(html.contains("<html lang=\"en\"") && html.contains(">Accept</a>"));
}

#[test]
fn check_covers_the_riders_pages_in_both_languages() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    write(
        &good,
        "en/page/trajets_sent.html",
        "<!DOCTYPE html><html lang=\"en\"><p>{{ offer.driver_name }} has {{ expire_hours }} hours.</p>\
         <a href=\"{{ switch_url }}\">Français</a>{% if embed %}{{ base }}{% endif %}\n",
    );
    let cfg = config(tmp.path(), None);
    let (code, out, err) = carette(&cfg, &["templates", "check", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");

    let bad = tmp.path().join("bad");
    // Line 2: a variable the English listing does not have.
    write(
        &bad,
        "en/page/trajets_list.html",
        "<h1>Trips</h1>\n{{ driver_email }}\n",
    );
    // The French offer form, line 1.
    write(&bad, "page/trajets_new.html", "{{ form.nickname }}\n");
    let (code, out, err) = carette(&cfg, &["templates", "check", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    let en = bad.join("en/page/trajets_list.html").display().to_string();
    let fr = bad.join("page/trajets_new.html").display().to_string();
    assert!(
        err.contains(&format!(
            "{en}:2: cannot render the sample trajets_list page (en)"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{fr}:1: cannot render the sample trajets_new page (fr)"
        )),
        "{err}"
    );
    assert!(err.contains("2 problem(s)"), "{err}");
}
