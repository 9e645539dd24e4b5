//! W3C Trace Context across the gateway: each proxied request gets a span (`mcp
//! tools/call`, …) that continues the caller's trace, and every request forwarded upstream
//! carries a `traceparent` naming that span as its parent.
//!
//! The incoming context is read from the MCP request's `_meta.traceparent` (SEP-414, which
//! reaches the gateway over any transport), else from the HTTP `traceparent` header. The
//! outgoing one goes into the upstream request's `_meta` (so stdio upstreams get it too) and,
//! for HTTP upstreams, into the `traceparent` header as well ([`copy_to_headers`]). A
//! `tracestate` travels along unchanged, and so does W3C `baggage` (SEP-414 carries it in
//! `_meta` too; taken from `_meta`, else from the header, whether or not a `traceparent`
//! came with it). With trace export on
//! ([`belay_core::telemetry`]), the ids are the exported span's, so the traces join up;
//! without it, the gateway still keeps the trace id and makes up a span id of its own.
//!
//! Why a parser of its own rather than OpenTelemetry's `TraceContextPropagator` and
//! `BaggagePropagator` (opentelemetry_sdk 0.33, already in the tree for trace export): they
//! would carry `_meta` as well as headers (an `Extractor`/`Injector` over either is a few
//! lines, and no global propagator is needed), but a round trip through them changes what the
//! gateway forwards, as the test `the_opentelemetry_propagators_would_change_what_is_forwarded`
//! shows:
//! - the trace flags are cut to `sampled`: W3C Trace Context Level 2's `random` flag (`03`)
//!   leaves as `01`, so an upstream sampler can no longer trust the trace id's randomness;
//! - a version-00 `traceparent` with a trailing `-` (56 characters; the specification says a
//!   version-00 value is exactly 55) is accepted;
//! - baggage is decoded and written again: a value holding `=` (which W3C Baggage allows,
//!   e.g. base64 padding) is cut at it (`key=YWI=` leaves as `key=YWI`), a property is written
//!   back decoded (`k=v;p=a%2Cb` leaves as `k=v;p=a,b`, two members to the next reader), and
//!   the members come back in hash-map order, not the caller's.
//!
//! The gateway needs only the ids and the sampled bit of the caller's `traceparent`; it
//! forwards `tracestate` and `baggage` untouched, which no propagator offers.

use std::collections::HashMap;

use belay_core::telemetry::{self, SpanIds};
use http::{HeaderName, HeaderValue};
use rmcp::{
    RoleServer,
    model::{ClientJsonRpcMessage, ClientRequest, GetMeta, JsonRpcMessage, RequestMetaObject},
    service::RequestContext,
};

use crate::chain::CallContext;

/// The `traceparent` header and `_meta` key.
pub const TRACEPARENT: &str = "traceparent";
/// The `tracestate` header and `_meta` key.
pub const TRACESTATE: &str = "tracestate";
/// The W3C `baggage` header and `_meta` key.
pub const BAGGAGE: &str = "baggage";

/// A parsed `traceparent` (W3C Trace Context, version 00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace's id.
    pub trace_id: [u8; 16],
    /// The id of the span that made the request (the receiver's parent).
    pub parent_id: [u8; 8],
    /// Trace flags; bit 0 is `sampled`.
    pub flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` value; `None` for anything the specification says to ignore
    /// (wrong lengths, upper-case hex, all-zero ids, version `ff`). A later version is read
    /// by its version-00 prefix, as the specification asks.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let (version, rest) = value.split_once('-')?;
        let version = hex::<1>(version)?[0];
        if version == 0xff || (version == 0 && rest.len() != 52) {
            return None;
        }
        // 32 hex trace id, '-', 16 hex parent id, '-', 2 hex flags, then (later versions
        // only) '-' and fields we do not know.
        let fields = rest.get(..52)?;
        if rest.len() > 52 && !rest[52..].starts_with('-') {
            return None;
        }
        let mut parts = fields.split('-');
        let trace_id = hex::<16>(parts.next()?)?;
        let parent_id = hex::<8>(parts.next()?)?;
        let flags = hex::<1>(parts.next()?)?[0];
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// Whether the caller records this trace.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The same trace, with `span_id` as the parent of what comes next.
    fn child(self, span_id: [u8; 8]) -> Self {
        Self {
            parent_id: span_id,
            ..self
        }
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "00-")?;
        self.trace_id
            .iter()
            .try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, "-")?;
        self.parent_id
            .iter()
            .try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, "-{:02x}", self.flags)
    }
}

/// Lower-case hex of exactly `N` bytes.
fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// The caller's trace context: `_meta` first (it is the MCP request's own), else the HTTP
/// headers. The `tracestate` is taken from the same place as the `traceparent`.
fn incoming(context: &RequestContext<RoleServer>) -> Option<(TraceParent, Option<String>)> {
    if let Some(parent) = context.meta.get_traceparent().and_then(TraceParent::parse) {
        let state = context.meta.get_tracestate().map(str::to_owned);
        return Some((parent, state));
    }
    let headers = &context.extensions.get::<http::request::Parts>()?.headers;
    let parent = TraceParent::parse(headers.get(TRACEPARENT)?.to_str().ok()?)?;
    let state = headers
        .get(TRACESTATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Some((parent, state))
}

/// The span of one proxied request, child of the caller's span when it sent a trace
/// context. Its exported name is `mcp <method>` (e.g. `mcp tools/call`).
pub(crate) fn request_span(
    ctx: &CallContext,
    context: &RequestContext<RoleServer>,
) -> tracing::Span {
    let span = tracing::info_span!(
        "mcp",
        otel.name = %format_args!("mcp {}", ctx.method),
        otel.kind = "server",
        upstream = %ctx.upstream,
        method = ctx.method,
        target = ctx.target.as_deref(),
    );
    if let Some((parent, _)) = incoming(context) {
        telemetry::set_remote_parent(
            &span,
            SpanIds {
                trace_id: parent.trace_id,
                span_id: parent.parent_id,
                sampled: parent.sampled(),
            },
        );
    }
    span
}

/// Puts the trace context of the current request into `request`'s `_meta`: the current
/// span's exported ids when there are some, else the caller's trace with a fresh span id,
/// else a new trace. Call it inside [`request_span`].
pub(crate) fn propagate(request: &mut ClientRequest, context: &RequestContext<RoleServer>) {
    let caller = incoming(context);
    let parent = match telemetry::span_ids(&tracing::Span::current()) {
        Some(ids) => TraceParent {
            trace_id: ids.trace_id,
            parent_id: ids.span_id,
            flags: u8::from(ids.sampled),
        },
        None => match &caller {
            Some((parent, _)) => parent.child(random_id()),
            // A trace begins here; sampled, so upstreams that follow their parent's
            // decision record it.
            None => TraceParent {
                trace_id: random_id(),
                parent_id: random_id(),
                flags: 1,
            },
        },
    };
    let baggage = baggage(context);
    let meta: &mut RequestMetaObject = request.get_meta_mut();
    meta.set_traceparent(parent.to_string());
    if let Some(state) = caller.and_then(|(_, state)| state) {
        meta.set_tracestate(state);
    }
    if let Some(baggage) = baggage {
        meta.set_baggage(baggage);
    }
}

/// The caller's W3C baggage: `_meta` first, else the HTTP header.
fn baggage(context: &RequestContext<RoleServer>) -> Option<String> {
    if let Some(baggage) = context.meta.get_baggage() {
        return Some(baggage.to_owned());
    }
    let headers = &context.extensions.get::<http::request::Parts>()?.headers;
    Some(headers.get(BAGGAGE)?.to_str().ok()?.to_owned())
}

/// Random non-zero bytes (an all-zero id is invalid).
fn random_id<const N: usize>() -> [u8; N] {
    loop {
        let id: [u8; N] = std::array::from_fn(|_| rand::random());
        if id != [0; N] {
            return id;
        }
    }
}

/// Copies a request's `_meta.traceparent`, `tracestate` and `baggage` into HTTP headers, so an
/// upstream's HTTP tracing (proxies, server middleware) sees the trace too. A malformed
/// value is left out of the headers.
pub fn copy_to_headers(
    message: &ClientJsonRpcMessage,
    headers: &mut HashMap<HeaderName, HeaderValue>,
) {
    let JsonRpcMessage::Request(request) = message else {
        return;
    };
    let meta = request.request.get_meta();
    for (name, value) in [
        (TRACEPARENT, meta.get_traceparent()),
        (TRACESTATE, meta.get_tracestate()),
        (BAGGAGE, meta.get_baggage()),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{CallToolRequestParams, JsonRpcRequest, Request, RequestId};

    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_prints_the_specification_example() {
        let parent = TraceParent::parse(EXAMPLE);
        let Some(parent) = parent else {
            panic!("the specification's example did not parse");
        };
        assert_eq!(parent.trace_id[0], 0x4b);
        assert_eq!(parent.parent_id[7], 0xb7);
        assert!(parent.sampled());
        assert_eq!(parent.to_string(), EXAMPLE);
        let child = parent.child([1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            child.to_string(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0102030405060708-01"
        );
    }

    #[test]
    fn refuses_what_the_specification_says_to_ignore() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
        // A later version: its version-00 fields are read, the rest ignored.
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-next";
        assert!(TraceParent::parse(future).is_some());
    }

    /// The evidence behind the module's choice: what OpenTelemetry's propagators change in a
    /// round trip that this module leaves alone. If an upgrade makes this fail, reconsider.
    #[test]
    fn the_opentelemetry_propagators_would_change_what_is_forwarded() {
        use opentelemetry::propagation::TextMapPropagator;
        use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

        fn round_trip(propagator: &dyn TextMapPropagator, name: &str, value: &str) -> String {
            let carrier = HashMap::from([(name.to_owned(), value.to_owned())]);
            let context = propagator.extract(&carrier);
            let mut out = HashMap::new();
            propagator.inject_context(&context, &mut out);
            out.remove(name).unwrap_or_default()
        }
        let trace_context = TraceContextPropagator::new();

        // Level 2's `random` flag is dropped; this module keeps the caller's flags.
        let level2 = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03";
        assert_eq!(round_trip(&trace_context, TRACEPARENT, level2), EXAMPLE);
        let kept = TraceParent::parse(level2).map(|p| p.to_string());
        assert_eq!(kept.as_deref(), Some(level2));

        // A version-00 value one character too long is taken; this module refuses it.
        let too_long = format!("{EXAMPLE}-");
        assert_eq!(round_trip(&trace_context, TRACEPARENT, &too_long), EXAMPLE);
        assert_eq!(TraceParent::parse(&too_long), None);

        // Baggage values may hold `=` (W3C baggage-octet): a base64 value loses its padding.
        let baggage = BaggagePropagator::new();
        assert_eq!(round_trip(&baggage, BAGGAGE, "key=YWI="), "key=YWI");
        // A property is decoded and written back bare: an encoded comma splits the member.
        assert_eq!(round_trip(&baggage, BAGGAGE, "k=v;p=a%2Cb"), "k=v;p=a,b");
    }

    #[test]
    fn random_ids_are_not_zero_and_differ() {
        let a: [u8; 16] = random_id();
        let b: [u8; 16] = random_id();
        assert_ne!(a, [0; 16]);
        assert_ne!(a, b);
    }

    #[test]
    fn copies_meta_into_headers_for_requests_only() -> Result<(), serde_json::Error> {
        let mut request =
            ClientRequest::CallToolRequest(Request::new(CallToolRequestParams::new("t")));
        request.get_meta_mut().set_traceparent(EXAMPLE);
        request.get_meta_mut().set_tracestate("vendor=opaque");
        request.get_meta_mut().set_baggage("userId=alice");
        let message = JsonRpcMessage::Request(JsonRpcRequest::new(RequestId::Number(1), request));
        let mut headers = HashMap::new();
        copy_to_headers(&message, &mut headers);
        assert_eq!(
            headers
                .get(&HeaderName::from_static(TRACEPARENT))
                .and_then(|v| v.to_str().ok()),
            Some(EXAMPLE)
        );
        assert_eq!(
            headers
                .get(&HeaderName::from_static(TRACESTATE))
                .and_then(|v| v.to_str().ok()),
            Some("vendor=opaque")
        );
        assert_eq!(
            headers
                .get(&HeaderName::from_static(BAGGAGE))
                .and_then(|v| v.to_str().ok()),
            Some("userId=alice")
        );
        // And the same context is in the JSON the upstream reads.
        let json = serde_json::to_value(&message)?;
        assert_eq!(json["params"]["_meta"]["traceparent"], EXAMPLE);

        let mut none = HashMap::new();
        let bare = ClientRequest::CallToolRequest(Request::new(CallToolRequestParams::new("t")));
        copy_to_headers(
            &JsonRpcMessage::Request(JsonRpcRequest::new(RequestId::Number(2), bare)),
            &mut none,
        );
        assert!(none.is_empty());
        Ok(())
    }
}
