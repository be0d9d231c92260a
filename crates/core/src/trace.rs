//! W3C Trace Context (`traceparent`, https://www.w3.org/TR/trace-context/) across processes, on
//! OpenTelemetry: a request's `traceparent` header, a job's `traceparent` column and an OCC call's
//! header are read and written by OpenTelemetry's `TraceContextPropagator`, and the trace itself is
//! the current `tracing` span's OpenTelemetry context (the `tracing-opentelemetry` layer the binary
//! installs, whether or not spans are exported). Without that layer nothing is propagated.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TraceId};
use opentelemetry_sdk::propagation::TraceContextPropagator as Propagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header (and the `jobs` column) the context travels in.
pub const TRACEPARENT: &str = "traceparent";

/// The remote context in a `traceparent` value. OpenTelemetry's propagator reads it; the field
/// widths are checked first, as the spec asks (the propagator takes a short trace id).
fn extract(traceparent: &str) -> opentelemetry::Context {
    let widths: Vec<usize> = traceparent.trim().split('-').map(str::len).collect();
    if widths.len() < 4 || widths[..4] != [2, 32, 16, 2] {
        return opentelemetry::Context::new();
    }
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    Propagator::new().extract(&carrier)
}

/// Makes `span` continue the remote trace in `traceparent` (a request's header, a job's column); a
/// missing or malformed value leaves it a new trace. Call before the span is first entered.
pub fn continue_remote(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(value) = traceparent else { return };
    let parent = extract(value);
    if parent.span().span_context().is_valid() {
        // Refused only when no OpenTelemetry layer is installed: then there is nothing to continue.
        let _ = span.set_parent(parent);
    }
}

/// The `traceparent` naming `span` as the parent, or `None` when the span has no trace (no layer,
/// or the span is disabled).
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    Propagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// The `traceparent` of the current span: what a job enqueued or a call made now joins.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}

/// The trace id of `span` as logs write it (32 lowercase hex digits), when it has one.
pub fn trace_id_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

/// The trace id in a `traceparent` value, when it is a valid one.
pub fn trace_id_in(traceparent: &str) -> Option<TraceId> {
    let context = extract(traceparent);
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| span_context.trace_id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;

    const SPEC: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn with_layer<T>(work: impl FnOnce() -> T) -> T {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), work)
    }

    #[test]
    fn traceparent_values_are_read_as_the_spec_says() {
        assert_eq!(trace_id_in(SPEC).map(|t| t.to_string()).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        let refused = [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ];
        for value in refused {
            assert_eq!(trace_id_in(value), None, "{value:?}");
        }
    }

    #[test]
    fn a_span_continues_a_remote_trace_and_names_itself_as_the_next_parent() {
        with_layer(|| {
            let span = tracing::info_span!("request");
            continue_remote(&span, Some(SPEC));
            assert_eq!(trace_id_of(&span).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
            let own = traceparent_of(&span).expect("a traceparent");
            assert_eq!(trace_id_in(&own), trace_id_in(SPEC), "the same trace");
            assert_ne!(own, SPEC, "its own span id");
            let child = span.in_scope(|| {
                let inner = tracing::info_span!("call");
                inner.in_scope(current_traceparent)
            });
            assert_eq!(child.as_deref().and_then(trace_id_in), trace_id_in(SPEC));
            // A malformed or missing value starts a new trace.
            let fresh = tracing::info_span!("other");
            continue_remote(&fresh, Some("00-zz"));
            let fresh_id = traceparent_of(&fresh).as_deref().and_then(trace_id_in);
            assert!(fresh_id.is_some() && fresh_id != trace_id_in(SPEC));
        });
    }

    #[test]
    fn without_the_layer_nothing_is_propagated() {
        let span = tracing::info_span!("request");
        continue_remote(&span, Some(SPEC));
        assert_eq!(traceparent_of(&span), None);
        assert_eq!(current_traceparent(), None);
    }
}
