//! Logging set-up: human-readable or JSON lines, always on stderr; and, when the standard
//! OpenTelemetry variables ask for it, trace export over OTLP.
//!
//! Stdout belongs to the stdio transport; one stray log line there corrupts the JSON-RPC
//! stream, so the writer is pinned to stderr here rather than left to each caller.
//!
//! Trace export (cargo feature `otlp`) is off unless `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set: then Belay's spans (targets `belay*`, level INFO
//! and up) go to that collector over HTTP/protobuf, as service `OTEL_SERVICE_NAME` (default
//! `belay`). The [`Telemetry`] guard [`init`] returns flushes them when it drops. Whatever
//! `RUST_LOG` says only filters the log lines, so quieter logs do not thin out the traces.
//! One rmcp error event that reports a normal client action is left out of the log lines
//! (`false_alarms`, which says which and why).

use std::str::FromStr;

use tracing_subscriber::{EnvFilter, Layer, Registry, fmt, prelude::*};

mod false_alarms;
#[cfg(feature = "otlp")]
mod otlp;

use false_alarms::WithoutFalseAlarms;

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

/// Where traces go, from the standard OpenTelemetry environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    /// The collector's trace endpoint, path included (e.g. `http://otel:4318/v1/traces`).
    pub endpoint: String,
    /// The `service.name` resource attribute.
    pub service_name: String,
}

impl OtlpConfig {
    /// Reads the process environment; `None` when trace export is not asked for.
    pub fn from_env() -> Option<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`Self::from_env`], reading variables through `var`. The rules are the
    /// specification's: the per-signal endpoint is used as is, the general one gets
    /// `/v1/traces` appended, empty values count as unset, and `OTEL_SDK_DISABLED=true`
    /// turns export off.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return None;
        }
        let endpoint = match var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            Some(endpoint) => endpoint,
            None => format!(
                "{}/v1/traces",
                var("OTEL_EXPORTER_OTLP_ENDPOINT")?.trim_end_matches('/')
            ),
        };
        Some(Self {
            endpoint,
            service_name: var("OTEL_SERVICE_NAME").unwrap_or_else(|| "belay".to_owned()),
        })
    }
}

/// Keeps trace export running; dropping it (or [`Telemetry::shutdown`]) exports the spans
/// still queued and stops the exporter. Holds nothing when export is off.
#[must_use = "dropping the guard stops trace export"]
#[derive(Debug, Default)]
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    exporter: Option<otlp::Exporter>,
}

impl Telemetry {
    /// Whether spans are being exported.
    #[cfg(feature = "otlp")]
    pub fn exporting(&self) -> bool {
        self.exporter.is_some()
    }

    /// Whether spans are being exported (never, in a build without `otlp`).
    #[cfg(not(feature = "otlp"))]
    pub fn exporting(&self) -> bool {
        false
    }

    /// Flushes and stops trace export now (dropping the guard does the same).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(exporter) = self.exporter.take() {
            exporter.shutdown();
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A layer of the global subscriber [`init`] installs.
pub type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Trace export could not start (a malformed endpoint, or no `otlp` feature).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ExportError(String);

/// Installs the global subscriber. `default_filter` applies unless `RUST_LOG` is set.
/// Starts trace export when [`OtlpConfig::from_env`] finds a collector; keep the returned
/// guard alive until the program ends, outside any async runtime.
///
/// Calling it twice is harmless (the second call is ignored), which keeps tests simple.
pub fn init(format: LogFormat, default_filter: &str) -> Telemetry {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let logs: BoxedLayer = match format {
        LogFormat::Text => fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .map_event_format(WithoutFalseAlarms)
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .map_event_format(WithoutFalseAlarms)
            .with_filter(filter)
            .boxed(),
    };
    let config = OtlpConfig::from_env();
    let (export, telemetry, problem) = match config.as_ref().map(otlp_layer) {
        Some(Ok((layer, telemetry))) => (Some(layer), telemetry, None),
        Some(Err(problem)) => (None, Telemetry::default(), Some(problem)),
        None => (None, Telemetry::default(), None),
    };
    let mut layers = vec![logs];
    layers.extend(export);
    if tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .is_err()
    {
        // Already initialised (tests, or an embedding program): keep the first subscriber,
        // and stop the exporter nothing would feed.
        return Telemetry::default();
    }
    if let Some(problem) = problem {
        tracing::warn!("{problem}");
    }
    if let Some(config) = config.filter(|_| telemetry.exporting()) {
        tracing::info!(endpoint = %config.endpoint, service = %config.service_name, "exporting traces over OTLP");
    }
    telemetry
}

/// Starts exporting to `config`'s collector: the layer to add to a subscriber, and the
/// guard that flushes on drop. [`init`] does this for the global subscriber; a program
/// with a subscriber of its own (or a test, with a scoped one) calls it directly.
#[cfg(feature = "otlp")]
pub fn otlp_layer(config: &OtlpConfig) -> Result<(BoxedLayer, Telemetry), ExportError> {
    let exporter = otlp::Exporter::start(config)
        .map_err(|e| ExportError(format!("cannot export traces to {}: {e}", config.endpoint)))?;
    let layer = exporter.layer();
    Ok((
        layer,
        Telemetry {
            exporter: Some(exporter),
        },
    ))
}

/// Without the `otlp` feature there is nothing to start, which is worth saying.
#[cfg(not(feature = "otlp"))]
pub fn otlp_layer(config: &OtlpConfig) -> Result<(BoxedLayer, Telemetry), ExportError> {
    Err(ExportError(format!(
        "an OTLP endpoint ({}) is set, but this build has no trace export (cargo feature `otlp`)",
        config.endpoint
    )))
}

/// A span's place in a W3C trace: the ids a `traceparent` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanIds {
    /// The trace's id (never all zero).
    pub trace_id: [u8; 16],
    /// The span's id (never all zero).
    pub span_id: [u8; 8],
    /// Whether the trace is being recorded (the `sampled` flag).
    pub sampled: bool,
}

/// Makes `span` continue a trace begun elsewhere: its parent becomes `parent`, a span of
/// another process (from an incoming `traceparent`). Call it before the span is first
/// entered. Without trace export it does nothing.
pub fn set_remote_parent(span: &tracing::Span, parent: SpanIds) {
    #[cfg(feature = "otlp")]
    otlp::set_remote_parent(span, parent);
    #[cfg(not(feature = "otlp"))]
    let _ = (span, parent);
}

/// The ids `span` is exported under, to pass on in a `traceparent` so the next hop's spans
/// are its children. `None` when spans are not exported (no exporter, or `span` filtered
/// out): the caller then makes up ids of its own.
#[cfg(feature = "otlp")]
pub fn span_ids(span: &tracing::Span) -> Option<SpanIds> {
    otlp::span_ids(span)
}

/// The ids `span` is exported under: never, in a build without `otlp`.
#[cfg(not(feature = "otlp"))]
pub fn span_ids(_span: &tracing::Span) -> Option<SpanIds> {
    None
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

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

    fn config(vars: &[(&str, &str)]) -> Option<OtlpConfig> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        OtlpConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn otlp_export_follows_the_standard_variables() {
        assert_eq!(config(&[]), None, "nothing set: no export");
        assert_eq!(config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]), None);
        assert_eq!(
            config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318/")]),
            Some(OtlpConfig {
                endpoint: "http://otel:4318/v1/traces".into(),
                service_name: "belay".into()
            })
        );
        // The per-signal endpoint wins and is taken as is.
        let both = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://traces:9999/in",
            ),
            ("OTEL_SERVICE_NAME", "edge-gateway"),
        ]);
        assert_eq!(
            both,
            Some(OtlpConfig {
                endpoint: "http://traces:9999/in".into(),
                service_name: "edge-gateway".into()
            })
        );
        let disabled = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318"),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ]);
        assert_eq!(disabled, None);
    }

    #[test]
    fn without_an_exporter_spans_have_no_ids_and_parents_are_ignored() {
        let span = tracing::info_span!("request");
        let parent = SpanIds {
            trace_id: [7; 16],
            span_id: [9; 8],
            sampled: true,
        };
        set_remote_parent(&span, parent);
        assert_eq!(span_ids(&span), None);
        let guard = Telemetry::default();
        assert!(!guard.exporting());
        guard.shutdown();
    }
}
