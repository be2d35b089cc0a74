//! The client's tracing: a `hotpool.request` span per request carrying
//! method, URL, domain, address, profile, HTTP version, reused or dialed,
//! status and latency; the pool's events and the dial (with its handshake
//! and validation) inside it; a `hotpool.sweep` span per sweep round. A
//! subscriber layer written here collects every span, its parent and its
//! fields (those recorded after creation included).
#[path = "proxy_support/site.rs"]
mod proxy_site;
mod tls_support;

use proxy_site::{builder, client, site, A};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};
use tls_support::Ca;
use tracing::{
    field::{Field, Visit},
    span::{Attributes, Id, Record},
    Event, Subscriber,
};
use tracing_subscriber::{layer::Context, prelude::*, registry::LookupSpan, Layer};

#[derive(Clone, Debug)]
struct SpanRec {
    name: &'static str,
    parent: Option<u64>,
    fields: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
struct EventRec {
    message: String,
    span: Option<u64>,
}

#[derive(Default)]
struct Seen {
    spans: BTreeMap<u64, SpanRec>,
    events: Vec<EventRec>,
}

#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Seen>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Collect {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let parent = ctx
            .span(id)
            .and_then(|s| s.parent())
            .map(|p| p.id().into_u64());
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let rec = SpanRec {
            name: attrs.metadata().name(),
            parent,
            fields,
        };
        self.0.lock().unwrap().spans.insert(id.into_u64(), rec);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut seen = self.0.lock().unwrap();
        if let Some(s) = seen.spans.get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut s.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let span = ctx.event_span(event).map(|s| s.id().into_u64());
        self.0.lock().unwrap().events.push(EventRec {
            message: fields.remove("message").unwrap_or_default(),
            span,
        });
    }
}

impl Collect {
    fn spans(&self, name: &str) -> Vec<(u64, SpanRec)> {
        let seen = self.0.lock().unwrap();
        seen.spans
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(id, s)| (*id, s.clone()))
            .collect()
    }

    /// Whether span `id` has `ancestor` above it.
    fn under(&self, id: u64, ancestor: u64) -> bool {
        let seen = self.0.lock().unwrap();
        let mut cur = seen.spans.get(&id).and_then(|s| s.parent);
        while let Some(p) = cur {
            if p == ancestor {
                return true;
            }
            cur = seen.spans.get(&p).and_then(|s| s.parent);
        }
        false
    }

    fn events_in(&self, span: u64) -> Vec<String> {
        let seen = self.0.lock().unwrap();
        seen.events
            .iter()
            .filter(|e| e.span == Some(span))
            .map(|e| e.message.clone())
            .collect()
    }
}

#[tokio::test]
async fn a_request_span_carries_the_connection_and_holds_the_pools_events() {
    let collect = Collect::default();
    let _guard = tracing_subscriber::registry()
        .with(collect.clone())
        .set_default();
    let ca = Ca::new();
    let site = site(&ca).await;
    let client = client(builder(&ca));
    let url = site.url(A, "/page?q=1");
    for _ in 0..2 {
        let resp = client.get(&url).await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
    }
    let requests = collect.spans("hotpool.request");
    assert_eq!(requests.len(), 2, "one span per request: {requests:?}");
    let key = format!("{A}:{}", site.port);
    for (i, (_, r)) in requests.iter().enumerate() {
        let f = &r.fields;
        assert_eq!(f["method"], "GET");
        assert_eq!(f["url"], url);
        assert_eq!(f["domain"], key);
        assert_eq!(f["addr"], format!("127.0.0.2:{}", site.port));
        assert_eq!(f["profile"], "tls13-h1");
        assert_eq!(f["version"], "HTTP/1.1");
        assert_eq!(f["status"], "200");
        assert_eq!(f["reused"], if i == 0 { "false" } else { "true" }, "{f:?}");
        let ms: f64 = f["latency_ms"].parse().unwrap();
        assert!(ms > 0.0, "{f:?}");
    }
    let (first, _) = requests[0];
    let (second, _) = requests[1];
    // The first request dialed: the dial span, its handshake and the
    // validation probe are inside the request's span.
    let dials = collect.spans("hotpool.dial");
    assert_eq!(dials.len(), 1, "{dials:?}");
    assert_eq!(dials[0].1.fields["domain"], key);
    assert!(
        collect.under(dials[0].0, first),
        "the dial is inside the request"
    );
    for name in ["hotpool.handshake", "hotpool.validate"] {
        let s = collect.spans(name);
        assert_eq!(s.len(), 1, "{name}: {s:?}");
        assert!(collect.under(s[0].0, first), "{name} inside the request");
    }
    assert!(collect
        .events_in(first)
        .iter()
        .any(|m| m == "hotpool: lent"));
    assert!(
        collect
            .events_in(first)
            .iter()
            .any(|m| m == "hotpool: dialed"),
        "{:?}",
        collect.events_in(first)
    );
    // The second reused the connection: lent, no dial.
    assert_eq!(
        collect.events_in(second),
        ["hotpool: lent", "hotpool: response"]
    );

    let report = client.pool().sweep_now().await;
    let sweeps = collect.spans("hotpool.sweep");
    assert_eq!(sweeps.len(), 1);
    let f = &sweeps[0].1.fields;
    assert_eq!(f["domains"], report.domains.to_string());
    assert_eq!(f["kept"], "1", "{f:?}");
    assert_eq!(f["closed"], "0");
}
