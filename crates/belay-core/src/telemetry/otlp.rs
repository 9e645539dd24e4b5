//! Trace export over OTLP (HTTP/protobuf), and the bridge between `tracing` spans and the
//! W3C ids other processes see. Built only with the `otlp` feature.
//!
//! The SDK's batch processor exports from a thread of its own with the blocking reqwest
//! client, so export works before, after and outside any tokio runtime, and a slow
//! collector never holds up a request.

use opentelemetry::{
    Context,
    trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider,
    },
};
use opentelemetry_otlp::{ExporterBuildError, Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing::Level;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{Layer, filter::Targets};

use super::{BoxedLayer, OtlpConfig, SpanIds};

/// The running exporter.
#[derive(Debug)]
pub(super) struct Exporter {
    provider: SdkTracerProvider,
}

impl Exporter {
    /// Builds the exporter and its batch processor; nothing is sent until a span ends.
    pub(super) fn start(config: &OtlpConfig) -> Result<Self, ExporterBuildError> {
        let exporter = SpanExporter::builder()
            .with_http()
            // The only encoding compiled in; an OTEL_EXPORTER_OTLP_PROTOCOL naming another
            // must not pick one that is not there.
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(config.endpoint.clone())
            .build()?;
        // The builder's detectors add OTEL_RESOURCE_ATTRIBUTES and the SDK's own.
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        Ok(Self { provider })
    }

    /// The layer turning Belay's spans (targets `belay*`, INFO and up) into exported ones.
    /// Dependencies' spans (hyper, rmcp, …) stay out: they would drown the request spans.
    pub(super) fn layer(&self) -> BoxedLayer {
        let tracer = self.provider.tracer("belay");
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(Targets::new().with_target("belay", Level::INFO))
            .boxed()
    }

    /// Exports what is queued, then stops.
    pub(super) fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!("trace export did not shut down cleanly: {e}");
        }
    }
}

pub(super) fn set_remote_parent(span: &tracing::Span, parent: SpanIds) {
    let flags = if parent.sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let remote = SpanContext::new(
        TraceId::from_bytes(parent.trace_id),
        SpanId::from_bytes(parent.span_id),
        flags,
        true,
        TraceState::default(),
    );
    // Fails only where there is nothing to do: no exporter, or the span filtered out.
    let _ = span.set_parent(Context::new().with_remote_span_context(remote));
}

pub(super) fn span_ids(span: &tracing::Span) -> Option<SpanIds> {
    let context = span.context();
    let otel = context.span();
    let ids = otel.span_context();
    ids.is_valid().then(|| SpanIds {
        trace_id: ids.trace_id().to_bytes(),
        span_id: ids.span_id().to_bytes(),
        sampled: ids.is_sampled(),
    })
}

#[cfg(test)]
mod tests {
    use std::{sync::mpsc, time::Duration};

    use axum::{Router, body::Bytes, http::StatusCode, routing::post};
    use opentelemetry_proto::tonic::{
        collector::trace::v1::ExportTraceServiceRequest, common::v1::any_value,
    };
    use prost::Message;
    use tracing_subscriber::prelude::*;

    use super::*;

    /// A collector on loopback: every body POSTed to /v1/traces comes out of the receiver.
    fn collector(
        runtime: &tokio::runtime::Runtime,
    ) -> std::io::Result<(String, mpsc::Receiver<Vec<u8>>)> {
        let (tx, rx) = mpsc::channel();
        let app = Router::new().route(
            "/v1/traces",
            post(move |body: Bytes| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(body.to_vec());
                    StatusCode::OK
                }
            }),
        );
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        runtime.spawn(async move { axum::serve(listener, app).await });
        Ok((format!("http://{addr}/v1/traces"), rx))
    }

    #[test]
    fn spans_reach_the_collector_as_children_of_the_remote_parent()
    -> Result<(), Box<dyn std::error::Error>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let (endpoint, bodies) = collector(&runtime)?;
        let config = OtlpConfig {
            endpoint,
            service_name: "gateway-under-test".into(),
        };
        let exporter = Exporter::start(&config)?;
        let subscriber = tracing_subscriber::registry().with(vec![exporter.layer()]);

        let remote = SpanIds {
            trace_id: [0x4b; 16],
            span_id: [0x21; 8],
            sampled: true,
        };
        let ids = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "mcp",
                otel.name = "mcp tools/call",
                upstream = "weather",
                method = "tools/call"
            );
            set_remote_parent(&span, remote);
            let ids = span_ids(&span);
            span.in_scope(|| tracing::info!("allowed by policy"));
            // Not Belay's: filtered out of the export.
            let noise = tracing::info_span!(target: "hyper::proto", "noise");
            noise.in_scope(|| {});
            ids
        });
        let ids = ids.ok_or("the exported span has no ids")?;
        assert_eq!(ids.trace_id, remote.trace_id, "same trace");
        assert_ne!(ids.span_id, remote.span_id, "a span of its own");
        assert!(ids.sampled);

        // Shutting down flushes: the batch is at the collector once it returns.
        exporter.shutdown();
        let body = bodies.recv_timeout(Duration::from_secs(10))?;
        let request = ExportTraceServiceRequest::decode(body.as_slice())?;
        let resource = request.resource_spans.first().ok_or("no resource spans")?;
        let service = resource
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
            .and_then(|a| a.value.as_ref())
            .and_then(|v| v.value.as_ref());
        assert_eq!(
            service,
            Some(&any_value::Value::StringValue("gateway-under-test".into()))
        );
        let spans: Vec<_> = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        assert_eq!(spans.len(), 1, "only Belay's span: {spans:?}");
        let span = spans[0];
        assert_eq!(span.name, "mcp tools/call");
        assert_eq!(span.trace_id, remote.trace_id);
        assert_eq!(span.parent_span_id, remote.span_id);
        assert_eq!(
            span.span_id, ids.span_id,
            "the id a traceparent would carry"
        );
        assert!(span.attributes.iter().any(|a| a.key == "upstream"));
        assert_eq!(span.events.len(), 1, "the log event inside it");
        Ok(())
    }

    #[test]
    fn a_span_without_a_remote_parent_starts_a_trace() -> Result<(), ExporterBuildError> {
        let exporter = Exporter::start(&OtlpConfig {
            // Nothing listens there; nothing is exported before shutdown either way.
            endpoint: "http://127.0.0.1:9/v1/traces".into(),
            service_name: "belay".into(),
        })?;
        let subscriber = tracing_subscriber::registry().with(vec![exporter.layer()]);
        let (first, second) = tracing::subscriber::with_default(subscriber, || {
            let first = tracing::info_span!("mcp");
            let second = tracing::info_span!("mcp");
            (span_ids(&first), span_ids(&second))
        });
        let (first, second) = first
            .zip(second)
            .ok_or_else(|| ExporterBuildError::InternalFailure("a root span has no ids".into()))?;
        assert_ne!(
            first.trace_id, second.trace_id,
            "each root begins its own trace"
        );
        assert_ne!(first.trace_id, [0; 16]);
        drop(exporter);
        Ok(())
    }
}
