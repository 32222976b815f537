//! The operation page's live event stream over real HTTPS: it ends with its session, and a
//! session holds a bounded number of them.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestServer;
use crate::portal::Browser;

/// Requests a status operation on a demo device (no agent is connected: it stays queued) and
/// returns its page's path.
async fn queued_operation(ts: &TestServer, support: &mut Browser<'_>) -> String {
    let device = ts.device(1);
    let csrf = support
        .get(&format!("/portal/devices/{device}"))
        .await
        .csrf();
    let requested = support
        .post(
            &format!("/portal/devices/{device}/operations"),
            &[("csrf", &csrf), ("kind", "status")],
        )
        .await;
    assert_eq!(
        requested.status,
        StatusCode::SEE_OTHER,
        "{}",
        requested.body
    );
    requested.location().to_owned()
}

async fn open_stream(ts: &TestServer, b: &Browser<'_>, op_path: &str) -> reqwest::Response {
    b.http
        .get(ts.url(&format!("{op_path}/events")))
        .header("cookie", b.cookie_header())
        .header("accept-language", "ja,en;q=0.5")
        .send()
        .await
        .unwrap()
}

/// An event stream being read: the next event (name and data), skipping keep-alive comments.
struct Events {
    res: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(ts: &TestServer, b: &Browser<'_>, op_path: &str) -> Self {
        let res = open_stream(ts, b, op_path).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        Self {
            res,
            buffer: String::new(),
        }
    }

    /// The next event within `wait`; `None` if the stream ended first. Panics on a timeout.
    async fn next(&mut self, wait: Duration) -> Option<(String, String)> {
        tokio::time::timeout(wait, async {
            loop {
                while let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let field = |name: &str| {
                        block
                            .lines()
                            .find_map(|l| l.strip_prefix(name))
                            .map(str::to_owned)
                    };
                    if let Some(event) = field("event: ") {
                        return Some((event, field("data: ").unwrap_or_default()));
                    }
                }
                match self.res.chunk().await {
                    Ok(Some(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                    Ok(None) | Err(_) => return None,
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no event and no end of the stream within {wait:?}"))
    }
}

/// Within a few seconds the stream says the session ended, then closes.
async fn ends_with_the_session(events: &mut Events) {
    let (event, data) = events
        .next(Duration::from_secs(5))
        .await
        .expect("an `ended` event before the stream closes");
    assert_eq!((event.as_str(), data.as_str()), ("ended", "session"));
    assert_eq!(
        events.next(Duration::from_secs(5)).await,
        None,
        "then it closes"
    );
}

#[tokio::test]
async fn an_operation_stream_ends_when_its_session_is_signed_out_everywhere_or_disabled() {
    let ts = TestServer::start().await;
    let mut support = Browser::new(&ts);
    support.sign_in("support").await;
    let op_path = queued_operation(&ts, &mut support).await;
    let mut events = Events::open(&ts, &support, &op_path).await;
    let (event, data) = events.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(event, "state");
    assert_eq!(
        serde_json::from_str::<Value>(&data).unwrap()["state"],
        "queued"
    );

    // "Sign out everywhere" from another browser of the same person.
    let mut elsewhere = Browser::new(&ts);
    elsewhere.sign_in("support").await;
    let csrf = elsewhere.get("/portal/devices").await.csrf();
    let out = elsewhere
        .post("/portal/sign-out-everywhere", &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    ends_with_the_session(&mut events).await;
    assert_eq!(
        open_stream(&ts, &support, &op_path).await.status(),
        StatusCode::SEE_OTHER,
        "a new stream is sent to sign in"
    );

    // An administrator disables the account while a new session watches.
    let mut again = Browser::new(&ts);
    again.sign_in("support").await;
    let mut events = Events::open(&ts, &again, &op_path).await;
    assert_eq!(
        events.next(Duration::from_secs(5)).await.unwrap().0,
        "state"
    );
    let support_token = ts.token("support").await;
    let me: Value = ts
        .get(&support_token, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    let admin = ts.token("admin").await;
    let res = ts
        .call(
            reqwest::Method::PATCH,
            Some(&admin),
            &format!("/api/v1/admin/users/{}", me["user_id"].as_str().unwrap()),
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    ends_with_the_session(&mut events).await;
}

#[tokio::test]
async fn a_session_holds_at_most_four_operation_streams_and_gets_a_place_back_when_one_closes() {
    let max = 4;
    let ts = TestServer::start().await;
    let mut support = Browser::new(&ts);
    support.sign_in("support").await;
    let op_path = queued_operation(&ts, &mut support).await;
    let mut open = Vec::new();
    for _ in 0..max {
        let mut events = Events::open(&ts, &support, &op_path).await;
        assert_eq!(
            events.next(Duration::from_secs(5)).await.unwrap().0,
            "state"
        );
        open.push(events);
    }
    let refused = open_stream(&ts, &support, &op_path).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let text = refused.text().await.unwrap();
    assert!(
        text.contains("ライブ表示が多すぎます"),
        "the refusal in the page's language: {text}"
    );

    // Another session of the same person has places of its own.
    let mut other = Browser::new(&ts);
    other.sign_in("support").await;
    let mut theirs = Events::open(&ts, &other, &op_path).await;
    assert_eq!(
        theirs.next(Duration::from_secs(5)).await.unwrap().0,
        "state"
    );

    // A closed tab gives its place back (noticed at the stream's next write, within seconds).
    drop(open.pop());
    let mut status = StatusCode::TOO_MANY_REQUESTS;
    for _ in 0..30 {
        let res = open_stream(&ts, &support, &op_path).await;
        status = res.status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(status, StatusCode::OK, "a place is free again");
}
