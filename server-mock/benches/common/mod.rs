//! What the server's benches share: settings from the environment, an HTTPS client that trusts
//! exactly the server's CA, a portal session, and timing a page.
// Each bench uses some of these; the others are not dead code, only unused by that bench.
#![allow(dead_code)]

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The variable `name` parsed, or `default` when unset or unreadable.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A client trusting only `ca_pem`, following no redirect (a sign-in answers with one).
pub fn client(ca_pem: &str) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Percentile `p` (0..=100) of sorted durations, in milliseconds.
pub fn percentile(sorted: &[std::time::Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// Signs in through the portal's form as a browser does; the session cookie (`name=value`).
pub async fn portal_session(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> String {
    let cookie_of = |res: &reqwest::Response, name: &str| {
        res.headers().get_all("set-cookie").iter().find_map(|v| {
            let v = v.to_str().ok()?;
            v.strip_prefix(&format!("{name}="))
                .map(|r| r.split(';').next().unwrap_or_default().to_owned())
        })
    };
    let form = http
        .get(format!("{base}/portal/sign-in"))
        .send()
        .await
        .unwrap();
    let pre = cookie_of(&form, "__Host-ecsp_signin").unwrap();
    let res = http
        .post(format!("{base}/portal/sign-in"))
        .header("cookie", format!("__Host-ecsp_signin={pre}"))
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf", pre.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let session = cookie_of(&res, "__Host-ecsp_session").expect("signed in");
    format!("__Host-ecsp_session={session}")
}

/// The round trips of `n` sequential GETs of `url` with one header.
pub struct Timing {
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
    pub bytes: usize,
    /// The last answer's body.
    pub body: bytes::Bytes,
}

pub async fn time_gets(
    http: &reqwest::Client,
    url: &str,
    header: (&str, &str),
    n: usize,
) -> Timing {
    let mut times = Vec::with_capacity(n);
    let mut body = bytes::Bytes::new();
    for _ in 0..n {
        let t = std::time::Instant::now();
        let res = http
            .get(url)
            .header(header.0, header.1)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::OK, "{url}");
        body = res.bytes().await.unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    Timing {
        p50: percentile(&times, 50.0),
        p95: percentile(&times, 95.0),
        max: percentile(&times, 100.0),
        bytes: body.len(),
        body,
    }
}

/// A reference server on loopback with a fresh data directory (SQLite, the demo organisation),
/// on a runtime of its own, with a client that trusts it.
pub struct LoopbackServer {
    pub runtime: tokio::runtime::Runtime,
    pub server: ecsp_server_mock::Server,
    pub base: String,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl LoopbackServer {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut config = ecsp_server_mock::Config::with_defaults(dir.path().join("data"));
        config.listen = "127.0.0.1:0".parse().unwrap();
        let server = runtime.block_on(ecsp_server_mock::start(config)).unwrap();
        let base = format!("https://localhost:{}", server.addr.port());
        let http = client(server.ca_pem.as_deref().unwrap());
        Self {
            runtime,
            server,
            base,
            http,
            _dir: dir,
        }
    }

    /// Stops the server (requests in flight finish).
    pub fn stop(self) {
        let Self {
            runtime, server, ..
        } = self;
        runtime.block_on(server.shutdown()).unwrap();
    }
}
