//! Interop with nginx (Debian's `nginx-light`, installed by `scripts/test`
//! when missing), started by the test on loopback: the behaviours a new
//! user tried against a widely used server. A site whose `/` answers 404
//! is crawled on one connection; a site refusing us (403) on an address it
//! shares with another site costs that other site nothing; HTTP/2 and
//! HTTP/1.1 both serve; a burst over HTTP/2 shares one nginx connection.
mod example_support;
mod tls_support;

use hotpool::{Client, ProfileChoice};
use std::{
    collections::HashSet,
    net::{IpAddr, TcpListener},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};
use tls_support::Ca;

const NOT_FOUND: &str = "notfound.nginx.test";
const REFUSES: &str = "refuses.nginx.test";
const OPEN: &str = "open.nginx.test";

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// An nginx master process with its own prefix directory; stopped on drop.
struct Nginx {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Nginx {
    /// The access log: one `connection host uri status` line per request.
    fn log(&self) -> Vec<(String, String, String, u16)> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut f = l.split(' ');
                Some((
                    f.next()?.to_owned(),
                    f.next()?.to_owned(),
                    f.next()?.to_owned(),
                    f.next()?.parse().ok()?,
                ))
            })
            .collect()
    }
}

fn nginx_binary() -> String {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if std::path::Path::new(p).exists() {
            return p.to_owned();
        }
    }
    panic!("nginx is not installed: `apt-get install nginx-light` (scripts/test does it)");
}

async fn start(ca: &Ca) -> Nginx {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("hotpool-nginx-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = ca.leaf_pem(&[NOT_FOUND, REFUSES, OPEN]);
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
    // A free port on both addresses.
    let port = {
        let l = TcpListener::bind((ip(2), 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let d = dir.display();
    let listen = |h2: bool| {
        let v2 = if h2 { " http2" } else { "" };
        format!("listen 127.0.0.2:{port} ssl{v2}; listen 127.0.0.3:{port} ssl{v2};")
    };
    let conf = format!(
        r#"
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
    log_format ids '$connection $host $uri $status';
    access_log {d}/access.log ids;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    ssl_certificate {d}/cert.pem;
    ssl_certificate_key {d}/key.pem;
    keepalive_requests 10000;
    server {{
        {listen}
        server_name {NOT_FOUND};
        location = / {{ return 404; }}
        location / {{ return 200 "page\n"; }}
    }}
    server {{
        {listen}
        server_name {REFUSES};
        location / {{ return 403; }}
    }}
    server {{
        {listen}
        server_name {OPEN};
        location / {{ return 200 "open\n"; }}
    }}
}}
"#,
        listen = listen(true),
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(nginx_binary())
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-g")
        .arg("daemon off; master_process on;")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx starts");
    let nginx = Nginx { child, dir, port };
    // Wait until it listens.
    for _ in 0..200 {
        if tokio::net::TcpStream::connect((ip(2), port)).await.is_ok() {
            return nginx;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default();
    panic!("nginx did not start listening: {err}");
}

fn client(ca: &Ca, profile: &str) -> Client {
    Client::builder()
        .add_root_certificate(ca.cert())
        .profile_choice(ProfileChoice::Fixed(profile.into()))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn nginx_sites_stay_usable_and_shared_addresses_survive_a_refusal() {
    let ca = Ca::new();
    let nginx = start(&ca).await;
    let port = nginx.port;
    for profile in ["classic-h2", "tls13-h1"] {
        let client = client(&ca, profile);
        for host in [NOT_FOUND, REFUSES, OPEN] {
            // Every site on both addresses; set for the host, used on the
            // port the URLs name.
            client.set_ips(host, [ip(2), ip(3)]);
        }
        // A site whose `/` answers 404: crawled, on one connection.
        for i in 0..40 {
            let resp = client
                .get(&format!("https://{NOT_FOUND}:{port}/page/{i}"))
                .await
                .unwrap_or_else(|e| panic!("{profile}: {e}"));
            assert_eq!(resp.status(), 200, "{profile}");
            assert_eq!(resp.text().await.unwrap(), "page\n");
        }
        let root = client
            .get(&format!("https://{NOT_FOUND}:{port}/"))
            .await
            .unwrap();
        assert_eq!(root.status(), 404, "an answer, not an error");
        root.bytes().await.unwrap();
        // A site refusing us on both shared addresses...
        let e = client
            .get(&format!("https://{REFUSES}:{port}/"))
            .await
            .unwrap_err();
        assert!(e.is_blocked(), "{profile}: {e}");
        // ...costs the site next to it nothing.
        for _ in 0..20 {
            let resp = client
                .get(&format!("https://{OPEN}:{port}/"))
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.bytes().await.unwrap();
        }
        let pool = client.pool();
        assert!(!pool.is_blocked(ip(2)) && !pool.is_blocked(ip(3)));
        assert_eq!(pool.blocked_pairs().len(), 2, "{:?}", pool.blocked_pairs());
        assert_eq!(client.stats().requests.failures.total(), 1);
        client.shutdown().await;
    }
    // What nginx saw: per client, the 404 site's 41 requests and its probe
    // came on one connection each.
    let log = nginx.log();
    let conns: HashSet<&str> = log
        .iter()
        .filter(|(_, host, _, _)| host == NOT_FOUND)
        .map(|(c, _, _, _)| c.as_str())
        .collect();
    assert_eq!(conns.len(), 2, "one connection per client: {log:?}");
    let refused: Vec<_> = log.iter().filter(|(_, h, _, _)| h == REFUSES).collect();
    assert!(
        refused
            .iter()
            .all(|(_, _, uri, status)| uri == "/" && *status == 403),
        "{refused:?}"
    );
    assert_eq!(refused.len(), 4, "one probe per address per client");
}

/// HTTP/2 stream sharing against a real server: 64 concurrent GETs from a
/// fresh client ride one nginx connection (nginx allows 128 streams by
/// default), each answered exactly once, and the client's stream count
/// returns to zero.
#[tokio::test]
async fn a_burst_over_http2_shares_one_nginx_connection() {
    let ca = Ca::new();
    let nginx = start(&ca).await;
    let port = nginx.port;
    let client = client(&ca, "pq-h2");
    client.set_ips(OPEN, [ip(2), ip(3)]);
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..64 {
        let (client, url) = (client.clone(), format!("https://{OPEN}:{port}/burst/{i}"));
        burst.spawn(async move {
            let resp = client.get(&url).await?;
            assert_eq!(resp.version(), hotpool::http::Version::HTTP_2);
            let status = resp.status().as_u16();
            resp.text().await.map(|t| (status, t))
        });
    }
    let results = tokio::time::timeout(Duration::from_secs(20), burst.join_all())
        .await
        .expect("the burst within 20 s");
    for r in &results {
        assert_eq!(r.as_ref().unwrap(), &(200, "open\n".to_owned()));
    }
    let streams = client.stats().streams;
    assert_eq!(streams.in_flight, 0, "{streams:?}");
    assert_eq!(streams.connections, 1, "{streams:?}");
    let log = nginx.log();
    let burst: Vec<_> = log
        .iter()
        .filter(|(_, h, uri, _)| h == OPEN && uri.starts_with("/burst/"))
        .collect();
    let mut uris: Vec<&str> = burst.iter().map(|(_, _, u, _)| u.as_str()).collect();
    uris.sort_unstable();
    uris.dedup();
    assert_eq!(uris.len(), 64, "each request processed once: {burst:?}");
    assert_eq!(burst.len(), 64, "none twice: {burst:?}");
    let conns: HashSet<&str> = log
        .iter()
        .filter(|(_, h, _, _)| h == OPEN)
        .map(|(c, _, _, _)| c.as_str())
        .collect();
    assert_eq!(conns.len(), 1, "probe and burst on one connection: {log:?}");
    client.shutdown().await;
}

/// The crawl example as the issue's new user ran it: URLs naming a port,
/// `--ip` giving the host's addresses, nginx behind them.
#[tokio::test]
async fn the_crawl_example_against_nginx_with_ip_overrides_and_ports() {
    let ca = Ca::new();
    let nginx = start(&ca).await;
    let port = nginx.port;
    let ca_file = nginx.dir.join("ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let config = nginx.dir.join("hotpool.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\nroot_certificates = [{:?}]\n",
            ca_file.display().to_string()
        ),
    )
    .unwrap();
    let out = Command::new(example_support::binary())
        .env_remove("RUST_LOG")
        .arg("--config")
        .arg(&config)
        .args([
            "--ip",
            &format!("{NOT_FOUND}=127.0.0.2,127.0.0.3"),
            "--ip",
            &format!("{OPEN}=127.0.0.2,127.0.0.3"),
            "--requests",
            "200",
            "--concurrency",
            "4",
            "--json",
            &format!("https://{NOT_FOUND}:{port}/a"),
            &format!("https://{OPEN}:{port}/b"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["summary"];
    assert_eq!(s["answered"], 200, "{s}");
    assert_eq!(s["statuses"]["200"], 200, "{s}");
    assert!(s["tls_handshakes"].as_u64().unwrap() <= 8, "{s}");
}
