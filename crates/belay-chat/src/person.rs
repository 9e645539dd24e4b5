//! The person at the terminal: what servers ask of them (approve a sampling request, fill
//! in an elicitation form, open a URL) and the console's own prompt line.
//!
//! One line editor (rustyline, with its history file) reads every answer, behind a mutex:
//! questions from two servers at once are asked one after the other. Reading blocks, so it
//! runs on tokio's blocking pool. When standard input is no terminal, rustyline reads plain
//! lines, so scripts can answer; at its end every question is declined.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use rustyline::{Editor, error::ReadlineError, history::FileHistory};
use serde_json::{Map, Value};

use crate::{
    complete::{Completion, Names},
    form::Field,
    show::{ASK, DIM, NAME, Screen, clean},
};

/// What a person answered to a form.
#[derive(Debug, Clone, PartialEq)]
pub enum FormAnswer {
    /// Filled in: the values by property name.
    Accept(Map<String, Value>),
    /// Refused to answer.
    Decline,
    /// Dismissed without a choice.
    Cancel,
}

/// What a person decided about a sampling request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Send it as it is.
    Approve,
    /// Send it with the last message replaced by this text.
    Edit(String),
    /// Do not send it.
    Refuse,
}

/// Someone who answers what servers ask.
#[async_trait]
pub trait Person: Send + Sync {
    /// Whether `server` may have the model answer the request summed up in `summary`.
    async fn approve_sampling(&self, server: &str, summary: &str) -> Approval;
    /// The answer to `server`'s form.
    async fn fill_form(&self, server: &str, message: &str, fields: &[Field]) -> FormAnswer;
    /// Whether the person goes to `url` for `server` (URL-mode elicitation).
    async fn open_url(&self, server: &str, message: &str, url: &str) -> bool;
}

/// The line editor shared by the console's prompt and every question.
#[derive(Clone)]
pub struct Lines {
    editor: Arc<Mutex<Editor<Completion, FileHistory>>>,
    history: Option<PathBuf>,
    names: Arc<Mutex<Names>>,
}

impl Lines {
    /// A line editor keeping its history in `history` (created when missing).
    pub fn new(history: Option<PathBuf>) -> Result<Self, String> {
        let mut editor: Editor<Completion, FileHistory> =
            Editor::new().map_err(|e| format!("cannot start the line editor: {e}"))?;
        let names = Arc::new(Mutex::new(Names::default()));
        editor.set_helper(Some(Completion {
            names: names.clone(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }));
        if let Some(path) = &history {
            // A missing file is the first run; an unreadable one costs only the history.
            let _ = editor.load_history(path);
        }
        Ok(Self {
            editor: Arc::new(Mutex::new(editor)),
            history,
            names,
        })
    }

    /// Replaces the names Tab completes.
    pub fn set_names(&self, names: Names) {
        if let Ok(mut slot) = self.names.lock() {
            *slot = names;
        }
    }

    /// Reads one line after `prompt`; `None` at the end of input (Ctrl-D), and on Ctrl-C
    /// unless `remember` (the console's own prompt, where Ctrl-C gives an empty line).
    pub async fn read(&self, prompt: &str, remember: bool) -> Option<String> {
        let editor = self.editor.clone();
        let prompt = prompt.to_owned();
        let history = self.history.clone();
        tokio::task::spawn_blocking(move || {
            let mut editor = editor.lock().ok()?;
            match editor.readline(&prompt) {
                Ok(line) => {
                    if remember && !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                        if let Some(path) = &history {
                            if let Some(dir) = path.parent() {
                                let _ = std::fs::create_dir_all(dir);
                            }
                            let _ = editor.save_history(path);
                        }
                    }
                    Some(line)
                }
                // Ctrl-C at the prompt clears the line, as in a shell; in a question it
                // cancels, like Ctrl-D.
                Err(ReadlineError::Interrupted) if remember => Some(String::new()),
                Err(ReadlineError::Interrupted | ReadlineError::Eof) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the terminal");
                    None
                }
            }
        })
        .await
        .ok()
        .flatten()
    }
}

/// The person at this terminal.
pub struct Terminal {
    lines: Lines,
    screen: Screen,
}

impl Terminal {
    /// Asks through `lines`, shows on `screen`.
    pub fn new(lines: Lines, screen: Screen) -> Self {
        Self { lines, screen }
    }

    async fn yes_no(&self, question: &str) -> bool {
        loop {
            let Some(answer) = self.lines.read(question, false).await else {
                return false;
            };
            match answer.trim().to_ascii_lowercase().as_str() {
                "y" | "yes" => return true,
                "n" | "no" | "" => return false,
                _ => self.screen.note("  answer y or n"),
            }
        }
    }
}

#[async_trait]
impl Person for Terminal {
    async fn approve_sampling(&self, server: &str, summary: &str) -> Approval {
        self.screen.line(&format!(
            "{ASK}?{ASK:#} {NAME}{server}{NAME:#} asks your model to write:\n{summary}"
        ));
        loop {
            let Some(answer) = self
                .lines
                .read(
                    "  Send it to the model? [y]es, [e]dit the last message, [N]o ",
                    false,
                )
                .await
            else {
                return Approval::Refuse;
            };
            match answer.trim().to_ascii_lowercase().as_str() {
                "y" | "yes" => return Approval::Approve,
                "n" | "no" | "" => return Approval::Refuse,
                "e" | "edit" => {
                    return match self.lines.read("  The last message instead: ", false).await {
                        Some(text) if !text.trim().is_empty() => Approval::Edit(text),
                        _ => Approval::Refuse,
                    };
                }
                _ => self.screen.note("  answer y, e or n"),
            }
        }
    }

    async fn fill_form(&self, server: &str, message: &str, fields: &[Field]) -> FormAnswer {
        self.screen.line(&format!(
            "{ASK}?{ASK:#} {NAME}{server}{NAME:#} asks: {}",
            clean(message)
        ));
        loop {
            let Some(choice) = self
                .lines
                .read("  [a]nswer, [d]ecline or [c]ancel? ", false)
                .await
            else {
                return FormAnswer::Cancel;
            };
            match choice.trim().to_ascii_lowercase().as_str() {
                "a" | "answer" | "y" | "yes" | "" => break,
                "d" | "decline" | "n" | "no" => return FormAnswer::Decline,
                "c" | "cancel" => return FormAnswer::Cancel,
                _ => self.screen.note("  type a, d or c"),
            }
        }
        let mut values = Map::new();
        for field in fields {
            if let Some(description) = &field.description {
                self.screen.note(&format!("  {description}"));
            }
            let hint = clean(&field.hint()).into_owned();
            let label = clean(&field.label);
            let prompt = if hint.is_empty() {
                format!("  {label}: ")
            } else {
                format!("  {label} [{hint}]: ")
            };
            loop {
                let Some(input) = self.lines.read(&prompt, false).await else {
                    return FormAnswer::Cancel;
                };
                match field.parse(&input) {
                    Ok(Some(value)) => {
                        values.insert(field.name.clone(), value);
                        break;
                    }
                    Ok(None) => break,
                    Err(expected) => self
                        .screen
                        .line(&format!("  {DIM}expected {expected}{DIM:#}")),
                }
            }
        }
        FormAnswer::Accept(values)
    }

    async fn open_url(&self, server: &str, message: &str, url: &str) -> bool {
        self.screen.line(&format!(
            "{ASK}?{ASK:#} {NAME}{server}{NAME:#} asks you to open a page: {}\n  {}",
            clean(message),
            clean(url)
        ));
        self.yes_no("  Will you open it? [y/N] ").await
    }
}
