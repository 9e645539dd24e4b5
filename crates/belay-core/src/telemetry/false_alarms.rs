//! The one rmcp error event that reports what is normal, left out of the logs.
//!
//! A 2026-07-28 request over HTTP has no session: its answer goes back on its own response
//! stream, and a client that wants no answer any more closes that stream. That is how such
//! a request is cancelled, and how every `subscriptions/listen` stream ends when a client
//! leaves. rmcp then cancels the handler, and when the handler's final answer comes it
//! tries to send it to the stream that is gone and logs an ERROR: `failed to send pending
//! response during drain` (or `fail to response message`, when the answer wins the race),
//! with `error=channel closed`, the closed channel to that stream. Nothing failed: the
//! client said it wanted no answer. The gateway logged one on every 2026-07-28 client that
//! left with a listen stream open. Any other error of rmcp's, and this one with any other
//! cause, is still logged.

use std::fmt;

use tracing::{
    Event, Level, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::LookupSpan,
};

/// The target, messages and cause of the false alarm.
const TARGET: &str = "rmcp::service";
const MESSAGES: [&str; 2] = [
    "failed to send pending response during drain",
    "fail to response message",
];
const CAUSE: &str = "channel closed";

/// An event format that writes what `F` writes, except the false alarm, which it writes as
/// nothing. (A format rather than a filter: tracing-subscriber's per-layer filters cannot
/// drop an event by its fields without upsetting their own bookkeeping.)
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WithoutFalseAlarms<F>(pub(crate) F);

impl<S, N, F> FormatEvent<S, N> for WithoutFalseAlarms<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if is_false_alarm(event) {
            return Ok(());
        }
        self.0.format_event(ctx, writer, event)
    }
}

fn is_false_alarm(event: &Event<'_>) -> bool {
    let metadata = event.metadata();
    if *metadata.level() != Level::ERROR || metadata.target() != TARGET {
        return false;
    }
    let mut fields = Fields::default();
    event.record(&mut fields);
    MESSAGES.contains(&fields.message.as_str()) && fields.error == CAUSE
}

/// The `message` and `error` fields of an event, as text.
#[derive(Default)]
struct Fields {
    message: String,
    error: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "error" => self.error = format!("{value:?}"),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::{EnvFilter, Layer, fmt::MakeWriter, prelude::*};

    use super::*;

    /// Collects what a log layer writes.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Written {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Written {
        type Writer = Self;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn only_the_closed_stream_alarm_is_left_out() {
        let written = Written::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(written.clone())
            .with_ansi(false)
            .map_event_format(WithoutFalseAlarms)
            .with_filter(EnvFilter::new("info"));
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let closed = "channel closed";
            tracing::error!(target: "rmcp::service", error = %closed, "failed to send pending response during drain");
            tracing::error!(target: "rmcp::service", error = %closed, "fail to response message");
            tracing::error!(target: "rmcp::service", error = %"broken pipe", "failed to send pending response during drain");
            tracing::error!(target: "rmcp::service", error = %closed, "fail to close sink");
            tracing::error!(target: "belay::elsewhere", error = %closed, "fail to response message");
            tracing::info!(target: "rmcp::service", "serve finished");
            tracing::debug!(target: "rmcp::service", "below the level");
        });
        let text = String::from_utf8(written.0.lock().map(|w| w.clone()).unwrap_or_default())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].contains("broken pipe"), "{text}");
        assert!(lines[1].contains("fail to close sink"), "{text}");
        assert!(lines[2].contains("belay::elsewhere"), "{text}");
        assert!(lines[3].contains("serve finished"), "{text}");
    }
}
