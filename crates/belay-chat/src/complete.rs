//! Tab completion at the console's prompt: slash commands, then the tool after `/call`, the
//! prompt after `/prompt` and the resource after `/read`, from what the servers last listed.

use std::sync::{Arc, Mutex};

use rustyline::{
    Context, Helper, completion::Completer, highlight::Highlighter, hint::Hinter,
    validate::Validator,
};

/// The slash commands, for completion.
pub(crate) const COMMANDS: &[&str] = &[
    "/call",
    "/clear",
    "/help",
    "/loglevel",
    "/model",
    "/prompt",
    "/prompts",
    "/quit",
    "/read",
    "/resources",
    "/servers",
    "/tools",
];

/// What the servers offer, by the names the person types.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Tools (`tool`, or `server.tool` when names collide).
    pub tools: Vec<String>,
    /// Prompts.
    pub prompts: Vec<String>,
    /// Resource URIs.
    pub resources: Vec<String>,
}

/// The line editor's helper: completion only.
pub(crate) struct Completion {
    pub(crate) names: Arc<Mutex<Names>>,
}

impl Completion {
    /// Where the word under the cursor starts, and the candidates for it.
    fn candidates(&self, before: &str) -> (usize, Vec<String>) {
        if !before.starts_with('/') {
            return (0, Vec::new());
        }
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &before[start..];
        let words_before = before[..start].split_whitespace().count();
        let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        let pool: Vec<String> = match (words_before, before.split_whitespace().next()) {
            // With the space that follows, so the person types on.
            (0, _) => COMMANDS.iter().map(|c| format!("{c} ")).collect(),
            (1, Some("/call")) => names.tools,
            (1, Some("/prompt")) => names.prompts,
            (1, Some("/read")) => names.resources,
            _ => Vec::new(),
        };
        let mut found: Vec<String> = pool.into_iter().filter(|n| n.starts_with(word)).collect();
        found.sort();
        found.dedup();
        (start, found)
    }
}

impl Completer for Completion {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(self.candidates(line.get(..pos).unwrap_or(line)))
    }
}

impl Hinter for Completion {
    type Hint = String;
}
impl Highlighter for Completion {}
impl Validator for Completion {}
impl Helper for Completion {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_then_names_are_completed() {
        let completion = Completion {
            names: Arc::new(Mutex::new(Names {
                tools: vec![
                    "get_stock_price".into(),
                    "get_weather".into(),
                    "stock.echo".into(),
                ],
                prompts: vec!["stock_analysis_prompt".into()],
                resources: vec!["stock://tickers".into()],
            })),
        };
        assert_eq!(
            completion.candidates("/pro"),
            (0, vec!["/prompt ".into(), "/prompts ".into()])
        );
        assert_eq!(
            completion.candidates("/call get_"),
            (6, vec!["get_stock_price".into(), "get_weather".into()])
        );
        assert_eq!(
            completion.candidates("/prompt st"),
            (8, vec!["stock_analysis_prompt".into()])
        );
        assert_eq!(
            completion.candidates("/read "),
            (6, vec!["stock://tickers".into()])
        );
        // Arguments and plain text get nothing.
        assert_eq!(
            completion.candidates("/call get_weather {"),
            (18, Vec::new())
        );
        assert_eq!(completion.candidates("hello"), (0, Vec::new()));
    }
}
