//! `carette test-email --to ADDR`: sends email 12 now, directly (not through the outbox),
//! and exits 0 only if the server accepted it.

use std::path::Path;
use std::process::ExitCode;

use crate::config;
use crate::mail::test_send::{self, TestSendError};

pub fn test_email(config_path: Option<&Path>, to: &str) -> anyhow::Result<ExitCode> {
    let loaded = config::load(config_path)?;
    let config = loaded.config;
    let attempt = match test_send::attempt(&config, to) {
        Ok(attempt) => attempt,
        Err(e) => return Ok(failed(&e)),
    };
    println!("Sending the test email (\"🔔 Test Carette\")");
    println!("{attempt}");
    match test_send::send_test(&config, to) {
        Ok(report) => {
            println!("Server answer: {}", report.reply);
            println!("OK: the server accepted the test email; check the inbox of {to}.");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(failed(&e)),
    }
}

fn failed(e: &TestSendError) -> ExitCode {
    eprintln!("FAILED: {e}");
    ExitCode::from(e.exit_code())
}
