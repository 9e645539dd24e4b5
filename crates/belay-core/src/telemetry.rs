//! Logging set-up: human-readable or JSON lines, always on stderr.
//!
//! Stdout belongs to the stdio transport; one stray log line there corrupts the JSON-RPC
//! stream, so the writer is pinned to stderr here rather than left to each caller.

use std::str::FromStr;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// How log records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Coloured, aligned text for people (colour only when stderr is a terminal).
    #[default]
    Text,
    /// One JSON object per line for log shippers.
    Json,
}

/// The log format named on the command line was not one we know.
#[derive(Debug, thiserror::Error)]
#[error("unknown log format `{0}`: expected `text` or `json`")]
pub struct UnknownLogFormat(String);

impl FromStr for LogFormat {
    type Err = UnknownLogFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(UnknownLogFormat(other.to_owned())),
        }
    }
}

/// Installs the global subscriber. `default_filter` applies unless `RUST_LOG` is set.
///
/// Calling it twice is harmless (the second call is ignored), which keeps tests simple.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    // Already initialised (tests, or an embedding program): keep the first subscriber.
    drop(result);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_formats_and_names_the_bad_one() {
        assert_eq!("text".parse::<LogFormat>().ok(), Some(LogFormat::Text));
        assert_eq!("json".parse::<LogFormat>().ok(), Some(LogFormat::Json));
        let err = "yaml".parse::<LogFormat>().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("unknown log format `yaml`: expected `text` or `json`")
        );
    }
}
