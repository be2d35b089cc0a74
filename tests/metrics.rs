//! The `metrics` feature: `Stats` and the wait and request-latency
//! histograms through the `metrics` facade, read back from a Prometheus
//! recorder. Run with `cargo test --features metrics --test metrics`.
#![cfg(feature = "metrics")]

mod http_support;
mod tls_support;

use hotpool::{Client, ProfileChoice};
use http_support::{serve, Opts};
use std::{net::IpAddr, time::Duration};
use tls_support::Ca;

#[tokio::test]
async fn stats_and_histograms_reach_the_recorder() {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let ca = Ca::new();
    let ip = IpAddr::from([127, 0, 0, 2]);
    let server = serve(&ca, &[ip], Opts::default()).await;
    let client = Client::builder()
        .add_root_certificate(ca.cert())
        .profile_choice(ProfileChoice::Fixed("classic-h2".into()))
        .max_conns_per_domain(1)
        .no_resolver()
        .build()
        .unwrap();
    client.set_ips(&server.key(), [ip]);
    // Two requests at once on one connection: the second waits.
    let second = server.url("/status/404");
    let (a, b) = tokio::join!(
        async {
            let r = client.get(&server.url("/")).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            r.bytes().await.unwrap()
        },
        client.get(&second)
    );
    assert_eq!(&a[..], b"hello");
    b.unwrap().bytes().await.unwrap();
    client.export_metrics();
    let text = handle.render();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{series} missing in:\n{text}"))
    };
    assert_eq!(value("hotpool_requests_total"), 2.0);
    assert_eq!(value("hotpool_responses_total{class=\"2xx\"}"), 1.0);
    assert_eq!(value("hotpool_responses_total{class=\"4xx\"}"), 1.0);
    assert_eq!(value("hotpool_dials_total"), 1.0);
    assert_eq!(value("hotpool_connections"), 1.0);
    assert_eq!(value("hotpool_waits_total"), 1.0);
    assert_eq!(value("hotpool_request_seconds_count"), 2.0);
    assert_eq!(value("hotpool_wait_seconds_count"), 1.0);
    assert!(value("hotpool_wait_seconds_sum") > 0.0);
    // The seed's metrics: both requests answered (a 404 is an answer), the
    // one connection healthy.
    assert_eq!(value("hotpool_success_ratio"), 1.0);
    assert_eq!(value("hotpool_healthy_connections"), 1.0);
    assert_eq!(value("hotpool_healthy_ratio"), 1.0);
    let stats = client.stats();
    assert_eq!(value("hotpool_recycle_ratio"), stats.recycle_rate());
    assert_eq!(
        value("hotpool_recycle_latency_seconds"),
        stats.avg_recycle_latency().as_secs_f64()
    );
    assert_eq!(
        value("hotpool_profile_dials_total{profile=\"classic-h2\"}"),
        1.0
    );
    client.shutdown().await;
}
