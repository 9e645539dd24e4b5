//! Tab completion at the console's prompt: slash commands, then the tool after `/call`, the
//! prompt after `/prompt` and the resource after `/read`, from what the servers last listed;
//! after `/prompt NAME`, the prompt's argument names, and their values from the server's
//! `completion/complete` (`/prompt stock_analysis_prompt symbol=AA<Tab>`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use rmcp::{Peer, RoleClient, model::CompletionContext};
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

/// How long Tab waits for a server's `completion/complete` before offering nothing: the
/// person is waiting at the keyboard.
const SERVER_COMPLETION_WAIT: Duration = Duration::from_secs(3);

/// What the servers offer, by the names the person types.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Tools (`tool`, or `server.tool` when names collide).
    pub tools: Vec<String>,
    /// Prompts.
    pub prompts: Vec<String>,
    /// Resource URIs.
    pub resources: Vec<String>,
    /// The prompts' arguments, by the name the person types after `/prompt`.
    pub prompt_arguments: HashMap<String, PromptArguments>,
}

/// What completes the arguments of one prompt.
#[derive(Debug, Clone)]
pub struct PromptArguments {
    /// The prompt's name at its server.
    pub prompt: String,
    /// Its arguments' names, in the server's order.
    pub arguments: Vec<String>,
    /// The server's session, when it offers `completion/complete` (the `completions`
    /// capability); `None` completes argument names only.
    pub server: Option<Peer<RoleClient>>,
}

/// Asks servers for completions: the line editor reads on a blocking thread, so the
/// request is run to its end there, on the console's runtime.
pub(crate) type Runtime = tokio::runtime::Handle;

/// The line editor's helper: completion only.
pub(crate) struct Completion {
    pub(crate) names: Arc<Mutex<Names>>,
    /// The console's runtime; `None` (unit tests) asks no server.
    pub(crate) runtime: Option<Runtime>,
}

impl Completion {
    /// Where the word under the cursor starts, and the candidates for it.
    fn candidates(&self, before: &str) -> (usize, Vec<String>) {
        if !before.starts_with('/') {
            return (0, Vec::new());
        }
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &before[start..];
        let words: Vec<&str> = before[..start].split_whitespace().collect();
        let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        let pool: Vec<String> = match (words.len(), words.first().copied()) {
            // With the space that follows, so the person types on.
            (0, _) => COMMANDS.iter().map(|c| format!("{c} ")).collect(),
            (1, Some("/call")) => names.tools,
            (1, Some("/prompt")) => names.prompts,
            (1, Some("/read")) => names.resources,
            (_, Some("/prompt")) => {
                let Some(prompt) = words.get(1).and_then(|n| names.prompt_arguments.get(*n)) else {
                    return (start, Vec::new());
                };
                return (start, self.prompt_argument(prompt, &words[2..], word));
            }
            _ => Vec::new(),
        };
        let mut found: Vec<String> = pool.into_iter().filter(|n| n.starts_with(word)).collect();
        found.sort();
        found.dedup();
        (start, found)
    }
}

impl Completion {
    /// Candidates for `word` among a prompt's arguments: `name=` for the names not given
    /// yet, then, once the word holds `name=`, `name=value` from the server's
    /// `completion/complete` (with the arguments already given as its context).
    fn prompt_argument(&self, prompt: &PromptArguments, given: &[&str], word: &str) -> Vec<String> {
        let given: HashMap<String, String> = given
            .iter()
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let Some((argument, partial)) = word.split_once('=') else {
            return prompt
                .arguments
                .iter()
                .filter(|a| a.starts_with(word) && !given.contains_key(*a))
                .map(|a| format!("{a}="))
                .collect();
        };
        if !prompt.arguments.iter().any(|a| a == argument) {
            return Vec::new();
        }
        let (Some(server), Some(runtime)) = (&prompt.server, &self.runtime) else {
            return Vec::new();
        };
        let context = (!given.is_empty()).then(|| CompletionContext::with_arguments(given));
        let request = server.complete_prompt_argument(&prompt.prompt, argument, partial, context);
        let values = match runtime.block_on(tokio::time::timeout(SERVER_COMPLETION_WAIT, request)) {
            Ok(Ok(info)) => info.values,
            // A server that fails or is slow costs the person only the suggestions.
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "completion/complete failed");
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        values
            .into_iter()
            // A value with a space would split into two words of the command line.
            .filter(|v| !v.chars().any(char::is_whitespace))
            .map(|v| format!("{argument}={v}"))
            .collect()
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
        let mut prompt_arguments = HashMap::new();
        prompt_arguments.insert(
            "stock_analysis_prompt".to_owned(),
            PromptArguments {
                prompt: "stock_analysis_prompt".into(),
                arguments: vec!["symbol".into(), "period".into()],
                server: None,
            },
        );
        let completion = Completion {
            names: Arc::new(Mutex::new(Names {
                tools: vec![
                    "get_stock_price".into(),
                    "get_weather".into(),
                    "stock.echo".into(),
                ],
                prompts: vec!["stock_analysis_prompt".into()],
                resources: vec!["stock://tickers".into()],
                prompt_arguments,
            })),
            runtime: None,
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
        // A prompt's argument names not given yet, in the server's order.
        assert_eq!(
            completion.candidates("/prompt stock_analysis_prompt "),
            (30, vec!["symbol=".into(), "period=".into()])
        );
        assert_eq!(
            completion.candidates("/prompt stock_analysis_prompt symbol=AAPL p"),
            (42, vec!["period=".into()])
        );
        // Unknown prompts and arguments get nothing (values need a server: see the
        // terminal test).
        assert_eq!(completion.candidates("/prompt nope "), (13, Vec::new()));
        assert_eq!(
            completion.candidates("/prompt stock_analysis_prompt nope=x"),
            (30, Vec::new())
        );
    }
}
