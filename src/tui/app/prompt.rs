//! Keys while a prompt is open: line editing, answers to questions.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{Action, App, MAX_INPUT, Prompt};
use crate::tui::components::test_send;

impl App {
    pub(super) fn prompt_key(&mut self, prompt: Prompt, key: &KeyEvent) -> Action {
        let yes = matches!(key.code, KeyCode::Char('y' | 'Y') | KeyCode::Enter);
        match prompt {
            Prompt::Filter(_) | Prompt::Address(_) if key.code == KeyCode::Esc => Action::None,
            Prompt::Filter(text) if key.code == KeyCode::Enter => {
                self.reservations.list.filter = text.trim().to_owned();
                let load = self.reservations.switched();
                let mut out = Vec::new();
                self.res_load(load, &mut out);
                App::load(out)
            }
            Prompt::Address(text) if key.code == KeyCode::Enter => {
                let to = text.trim().to_owned();
                if test_send::valid_address(&to) {
                    self.test.start(to.clone(), self.now);
                    Action::SendTest(to)
                } else {
                    self.say(format!("\"{to}\" is not an email address"), true);
                    self.prompt = Some(Prompt::Address(text));
                    Action::None
                }
            }
            Prompt::Filter(text) => {
                self.prompt = Some(Prompt::Filter(edit(text, key)));
                Action::None
            }
            Prompt::Address(text) => {
                self.prompt = Some(Prompt::Address(edit(text, key)));
                Action::None
            }
            Prompt::ConfirmRetry(e) if yes => Action::Retry(e.id),
            Prompt::ConfirmRetryAll(_) if yes => Action::RetryAllFailed,
            Prompt::ConfirmRetry(_) | Prompt::ConfirmRetryAll(_) => {
                self.say("Nothing retried", false);
                Action::None
            }
        }
    }
}

/// Line editing for prompts: type, Backspace, Ctrl-U clears.
fn edit(mut text: String, key: &KeyEvent) -> String {
    match key.code {
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => text.clear(),
        KeyCode::Char(c)
            if !key.modifiers.contains(KeyModifiers::CONTROL) && text.len() < MAX_INPUT =>
        {
            text.push(c);
        }
        _ => {}
    }
    text
}
