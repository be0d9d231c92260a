//! W3C Trace Context (`traceparent`, https://www.w3.org/TR/trace-context/) carried from an HTTP
//! request into the jobs it enqueues and from a job into the OCC calls it makes. Every span on that
//! path records the same `trace_id`, so one trace can be followed across the web process, the
//! `jobs` table, a worker process and OCC (which receives the `traceparent` header).
//!
//! The context travels in a task-local: the web middleware and the job worker set it around the work
//! they run; `Queue::enqueue` and the OCC client read it. Work spawned onto another task does not
//! inherit it unless it is passed on with `scope`.

use std::fmt;
use std::future::Future;

tokio::task_local! {
    static CURRENT: TraceContext;
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: u128,
    pub span_id: u64,
    pub sampled: bool,
}

impl TraceContext {
    /// A new trace (no `traceparent` came in).
    pub fn root() -> Self {
        Self { trace_id: nonzero_u128(), span_id: nonzero_u64(), sampled: true }
    }

    /// The next hop of the trace in a `traceparent` value (a request's header, a job's column), or
    /// a new trace when there is none or it is malformed.
    pub fn continue_from(traceparent: Option<&str>) -> Self {
        traceparent.and_then(Self::parse).map_or_else(Self::root, |parent| parent.child())
    }

    /// The same trace, one hop further (the id a downstream call is told is its parent).
    pub fn child(&self) -> Self {
        Self { span_id: nonzero_u64(), ..*self }
    }

    /// Reads a `traceparent` header. Version 00, or a later version read as 00 (as the spec asks);
    /// all-zero ids, version ff and malformed values are refused.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex(version, 2) || version == "ff" || !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
            return None;
        }
        if version == "00" && parts.next().is_some() {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok().filter(|id| *id != 0)?;
        let span_id = u64::from_str_radix(span, 16).ok().filter(|id| *id != 0)?;
        let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
        Some(Self { trace_id, span_id, sampled })
    }

    /// The `traceparent` header value.
    pub fn header(&self) -> String {
        format!("00-{:032x}-{:016x}-{:02x}", self.trace_id, self.span_id, u8::from(self.sampled))
    }

    /// The trace id as logged (`trace_id` field) and as the header writes it.
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The context of the work running on this task, if any.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(|c| *c).ok()
    }

    /// Runs `work` with this context as the current one.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        CURRENT.scope(self, work).await
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header())
    }
}

fn nonzero_u128() -> u128 {
    uuid::Uuid::new_v4().as_u128() | 1
}

fn nonzero_u64() -> u64 {
    (uuid::Uuid::new_v4().as_u128() as u64) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_table() {
        let spec = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceContext::parse(spec).expect("the spec's example");
        assert_eq!(parsed.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(parsed.span_id, 0x00f067aa0ba902b7);
        assert!(parsed.sampled);
        assert_eq!(parsed.header(), spec);
        let refused = [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ];
        for header in refused {
            assert_eq!(TraceContext::parse(header), None, "{header:?}");
        }
        let future = TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more");
        assert_eq!(future.map(|c| (c.trace_id, c.sampled)), Some((parsed.trace_id, false)));
    }

    #[tokio::test]
    async fn child_keeps_the_trace_and_scope_sets_current() {
        let root = TraceContext::root();
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        assert_eq!(TraceContext::current(), None);
        assert_eq!(root.scope(async { TraceContext::current() }).await, Some(root));
    }
}
