//! Sign-in timing: does the time of a refused sign-in tell whether the address has an account?
//!
//! Starts the reference server on loopback with a fresh data directory, adds
//! `ECSP_BENCH_ACCOUNTS` users (default 40), then sends wrong-password sign-ins for those
//! accounts and for as many addresses without an account, alternating in random order on one
//! keep-alive connection, `ECSP_BENCH_ROUNDS` per address (default 8, under the limit of 10 per
//! 30 s so no 429 enters the figures). Prints each distribution (median, p95, mean) and a
//! Mann–Whitney U test of the two (two-sided p, normal approximation): a small p means the
//! times differ. The probe in issue 25 found 34.5 vs 31.6 ms, p < 0.001, before the fix.
//!
//! `cargo bench -p ecsp-server-mock --bench signin`; `ECSP_BENCH_PORTAL=1` measures the
//! portal's sign-in form instead of the API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::json;

mod common;
use common::{client, env_or};
use ecsp_server_mock::testing::access_token;

/// Percentile `p` (0..=100) of sorted milliseconds.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i]
}

/// The complementary error function (Numerical Recipes' `erfcc`, |error| < 1.2e-7): enough for
/// a p-value, and not worth a statistics crate.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Mann–Whitney U test of `a` against `b`: (U of `a`, z, two-sided p), ranks averaged over
/// ties and the variance corrected for them.
fn mann_whitney(a: &[f64], b: &[f64]) -> (f64, f64, f64) {
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let (mut rank_sum_a, mut tie_term, mut i) = (0.0, 0.0, 0);
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        rank_sum_a += all[i..=j].iter().filter(|v| v.1).count() as f64 * rank;
        i = j + 1;
    }
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let u = rank_sum_a - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let nn = n1 + n2;
    let var = n1 * n2 / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0)));
    let z = (u - mean) / var.sqrt();
    (u, z, erfc(z.abs() / std::f64::consts::SQRT_2))
}

fn describe(name: &str, times: &mut [f64]) {
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "{name:<24} n={:<4} median {:>7.2} ms  p95 {:>7.2} ms  mean {:>7.2} ms",
        times.len(),
        percentile(times, 50.0),
        percentile(times, 95.0),
        mean
    );
}

/// The portal's sign-in form's CSRF cookie and token.
async fn portal_form(http: &reqwest::Client, base: &str) -> (String, String) {
    let page = http
        .get(format!("{base}/portal/sign-in"))
        .send()
        .await
        .unwrap();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body = page.text().await.unwrap();
    let at = body.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let csrf = body[at..at + body[at..].find('"').unwrap()].to_owned();
    (cookie, csrf)
}

#[tokio::main]
async fn main() {
    let accounts = env_or("ECSP_BENCH_ACCOUNTS", 40);
    let rounds = env_or("ECSP_BENCH_ROUNDS", 8).min(9);
    let portal = std::env::var_os("ECSP_BENCH_PORTAL").is_some();
    let dir = tempfile::tempdir().unwrap();
    let mut config = ecsp_server_mock::Config::with_defaults(dir.path().join("data"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    let server = ecsp_server_mock::start(config).await.unwrap();
    let http = client(server.ca_pem.as_deref().unwrap());
    let base = format!("https://localhost:{}", server.addr.port());
    let demo = server.demo.clone().unwrap();
    let admin = &demo.users[0];
    let admin_token = access_token(&http, &base, &admin.email, &admin.password).await;
    let mut known = Vec::new();
    for i in 0..accounts {
        let email = format!("bench{i}@demo.ecsp.example");
        let res = http
            .post(format!("{base}/api/v1/admin/users"))
            .bearer_auth(&admin_token)
            .json(
                &json!({"email": email, "name": format!("Bench {i}"), "role": "user",
                          "password": "a long enough password 123"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::CREATED);
        known.push(email);
    }
    let unknown: Vec<String> = (0..accounts)
        .map(|i| format!("nobody{i}@demo.ecsp.example"))
        .collect();
    let (cookie, csrf) = portal_form(&http, &base).await;
    let attempt = |email: String| {
        let (http, base, cookie, csrf) = (http.clone(), base.clone(), cookie.clone(), csrf.clone());
        async move {
            let started = Instant::now();
            let status = if portal {
                http.post(format!("{base}/portal/sign-in"))
                    .header("cookie", cookie)
                    .form(&[
                        ("email", email.as_str()),
                        ("password", "wrong password 123"),
                        ("csrf", csrf.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
            } else {
                http.post(format!("{base}/api/v1/auth/login"))
                    .json(&json!({"email": email, "password": "wrong password 123"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            };
            assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "{email}");
            started.elapsed().as_secs_f64() * 1e3
        }
    };
    // Warm up the connection, the dummy hash and the server's caches.
    for email in known.iter().chain(&unknown).take(4) {
        attempt(email.clone()).await;
    }
    let (mut known_ms, mut unknown_ms) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round > 0 {
            // The limit refills by one attempt per 30 s; stay under it without waiting.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for i in 0..accounts {
            if fastrand::bool() {
                known_ms.push(attempt(known[i].clone()).await);
                unknown_ms.push(attempt(unknown[i].clone()).await);
            } else {
                unknown_ms.push(attempt(unknown[i].clone()).await);
                known_ms.push(attempt(known[i].clone()).await);
            }
        }
    }
    println!(
        "refused sign-ins ({}), wrong password, round trip on loopback:",
        if portal { "portal form" } else { "API" }
    );
    describe("existing account", &mut known_ms);
    describe("no such account", &mut unknown_ms);
    let (u, z, p) = mann_whitney(&known_ms, &unknown_ms);
    println!(
        "Mann-Whitney U = {u:.0}, z = {z:.2}, two-sided p = {p:.4} ({})",
        if p < 0.01 {
            "the times differ"
        } else {
            "no difference shown"
        }
    );
    println!(
        "median difference (existing - none): {:+.2} ms",
        percentile(&known_ms, 50.0) - percentile(&unknown_ms, 50.0)
    );
    server.shutdown().await.unwrap();
}
