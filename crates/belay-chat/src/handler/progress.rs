//! Progress of the tool call in flight, per server: a bar per progress token on a
//! terminal, a line each otherwise.

use std::io::IsTerminal;

use rmcp::model::{NumberOrString, ProgressNotificationParam, ProgressToken};

use super::Shared;
use crate::show::{clean, fold};

/// The most progress bars one tool call may draw.
const MAX_BARS_PER_CALL: usize = 4;

impl Shared {
    /// A tool call to `server` is about to be made: its progress notifications are drawn
    /// until [`Shared::end_progress`]. (rmcp gives every request its own progress token.)
    pub fn start_progress(&self, server: &str) {
        if let Ok(mut progress) = self.progress.lock() {
            progress.entry(server.to_owned()).or_default();
        }
    }

    /// The call to `server` is over: its bars stay on the screen as they last were.
    pub fn end_progress(&self, server: &str) {
        let bars = self
            .progress
            .lock()
            .ok()
            .and_then(|mut p| p.remove(server))
            .unwrap_or_default();
        for (_, bar) in bars {
            bar.abandon();
        }
    }

    /// Shows one progress notification of `server`: on a terminal as a bar (one per
    /// token), else as a line. Progress from a server with no call in flight is ignored.
    pub(super) fn show_progress(&self, server: &str, params: &ProgressNotificationParam) {
        let message = fold(&clean(params.message.as_deref().unwrap_or_default()), 60);
        let Ok(mut progress) = self.progress.lock() else {
            return;
        };
        let Some(bars) = progress.get_mut(server) else {
            tracing::debug!(%server, "progress with no call in flight");
            return;
        };
        let fraction = params
            .total
            .filter(|t| t.is_finite() && *t > 0.0)
            .map(|total| (params.progress / total).clamp(0.0, 1.0))
            .filter(|f| f.is_finite());
        if !self.is_terminal() {
            let amount = match fraction {
                Some(done) => {
                    let filled = (done * 20.0).round() as usize;
                    format!(
                        "[{}{}] {:.0}%",
                        "█".repeat(filled),
                        "·".repeat(20 - filled),
                        done * 100.0
                    )
                }
                None => format!("{}", params.progress),
            };
            self.screen.note(&format!("  {server} {amount} {message}"));
            return;
        }
        let token = token_key(&params.progress_token);
        let bar = match bars.iter().position(|(t, _)| *t == token) {
            Some(index) => &bars[index].1,
            // A server cannot fill the screen with bars.
            None if bars.len() >= MAX_BARS_PER_CALL => return,
            None => {
                bars.push((token, self.new_bar(server, fraction.is_some())));
                &bars[bars.len() - 1].1
            }
        };
        match fraction {
            Some(done) => bar.set_position((done * 1000.0).round() as u64),
            None => bar.tick(),
        }
        bar.set_message(message);
    }

    fn is_terminal(&self) -> bool {
        if self.screen.to_stderr() {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        }
    }

    fn new_bar(&self, server: &str, bounded: bool) -> indicatif::ProgressBar {
        let target = if self.screen.to_stderr() {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::stdout()
        };
        let template = if bounded {
            "  {prefix} [{bar:20}] {percent:>3}% {msg}"
        } else {
            "  {prefix} {spinner} {msg}"
        };
        let style = indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("█▌·");
        let bar = indicatif::ProgressBar::with_draw_target(Some(1000), target).with_style(style);
        bar.set_prefix(clean(server).into_owned());
        bar
    }
}

fn token_key(token: &ProgressToken) -> String {
    match &token.0 {
        NumberOrString::String(s) => s.to_string(),
        NumberOrString::Number(n) => n.to_string(),
    }
}
