//! Proxies from Debian's packages in front of the loopback site: tinyproxy
//! (HTTP `CONNECT` with basic auth) and microsocks (SOCKS5 with
//! user/password), each started by the test on a free port. Requests cross
//! them (the site counts one handshake for many requests, and the response
//! names the proxy), and a wrong password is a proxy error that does not
//! show it. `scripts/test` installs both packages on a fresh machine.
#[path = "proxy_support/site.rs"]
mod proxy_site;
mod tls_support;

use hotpool::proxy::Proxy;
use proxy_site::{builder, client, get_ok, site, A};
use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::Ordering::Relaxed,
    time::Duration,
};
use tls_support::Ca;

const USER: &str = "crawler";
const PASSWORD: &str = "s3cret-Pa55";

/// A proxy process, killed when dropped.
struct Running {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn binary(name: &str, package: &str) -> String {
    for dir in ["/usr/bin", "/usr/sbin"] {
        let p = format!("{dir}/{name}");
        if std::path::Path::new(&p).exists() {
            return p;
        }
    }
    panic!("{name} is not installed: `apt-get install {package}` (scripts/test does it)");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hotpool-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn wait_listening(mut r: Running, what: &str) -> Running {
    for _ in 0..250 {
        if tokio::net::TcpStream::connect(("127.0.0.1", r.port))
            .await
            .is_ok()
        {
            return r;
        }
        if let Ok(Some(status)) = r.child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = r.child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            panic!("{what} exited ({status}): {err}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what} did not start listening on {}", r.port);
}

async fn tinyproxy() -> Running {
    let port = free_port();
    let dir = scratch("tinyproxy");
    let conf = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 64\nAllow 127.0.0.1\n\
         BasicAuth {USER} {PASSWORD}\nLogLevel Error\nLogFile \"{}/tinyproxy.log\"\n",
        dir.display()
    );
    std::fs::write(dir.join("tinyproxy.conf"), conf).unwrap();
    let child = Command::new(binary("tinyproxy", "tinyproxy-bin"))
        .arg("-d")
        .arg("-c")
        .arg(dir.join("tinyproxy.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tinyproxy starts");
    wait_listening(Running { child, port, dir }, "tinyproxy").await
}

async fn microsocks() -> Running {
    let port = free_port();
    let dir = scratch("microsocks");
    let child = Command::new(binary("microsocks", "microsocks"))
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-u",
            USER,
            "-P",
            PASSWORD,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("microsocks starts");
    wait_listening(Running { child, port, dir }, "microsocks").await
}

async fn crawl_through(scheme: &str, port: u16) {
    let ca = Ca::new();
    let site = site(&ca).await;
    let url = format!("{scheme}://{USER}:{PASSWORD}@127.0.0.1:{port}");
    let client = client(builder(&ca).proxy(Proxy::parse(&url).unwrap()));
    let name = format!("{scheme}://{USER}@127.0.0.1:{port}");
    for _ in 0..10 {
        let resp = get_ok(&client, &site.url(A, "/page")).await;
        assert_eq!(resp.proxy(), Some(name.as_str()));
        assert_eq!(resp.text().await.unwrap(), format!("{A}:{}", site.port));
    }
    assert_eq!(
        site.handshakes.load(Relaxed),
        1,
        "{scheme}: one tunnel for ten"
    );
    assert_eq!(client.proxies()[0].tunnels, 1);

    let wrong = format!("{scheme}://{USER}:not-{PASSWORD}@127.0.0.1:{port}");
    let client = self::client(builder(&ca).proxy(Proxy::parse(&wrong).unwrap()));
    let err = client.get(&site.url(A, "/")).await.unwrap_err();
    let text = err.to_string();
    assert!(err.is_proxy(), "{scheme}: {err:?}");
    assert!(text.contains(&name), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
    assert_eq!(site.handshakes.load(Relaxed), 1, "nothing got through");
}

#[tokio::test]
async fn requests_cross_debian_tinyproxy_with_basic_auth() {
    let proxy = tinyproxy().await;
    crawl_through("http", proxy.port).await;
}

#[tokio::test]
async fn requests_cross_debian_microsocks_with_a_password() {
    let proxy = microsocks().await;
    crawl_through("socks5", proxy.port).await;
}
