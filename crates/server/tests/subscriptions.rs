//! Subscriptions over a websocket, on both backends: a websocket Subscription becomes active,
//! a socket binds to it and hears `ping {id}` for each matching write and nothing for others;
//! a Subscription the server cannot serve is marked `error` with the reason. (Rest-hook
//! delivery, and matching in the owner's scope, are tested end to end in `documents.rs`.)

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::{Backend, TestServer};

async fn status_of(server: &TestServer, id: &str, wanted: &str) -> Value {
    // The dispatcher marks it as soon as it reads it; wait for that (no time is asserted).
    loop {
        let s = server.get(&format!("/Subscription/{id}")).await.json();
        if s["status"] == wanted {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn observation(code: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]}})
}

async fn run(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let r = server
        .send(
            "POST",
            "/Subscription",
            &json!({"resourceType": "Subscription", "status": "requested", "reason": "blood pressure",
                "criteria": "Observation?code=http://loinc.org|8480-6",
                "channel": {"type": "websocket"}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_str().unwrap().to_string();
    status_of(&server, &id, "active").await;

    let ws_url = format!(
        "{}/$subscription-websocket",
        server.base.replacen("http://", "ws://", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    // Binding needs a websocket Subscription that exists.
    ws_send(&mut ws, "bind nothing-here").await;
    assert!(next(&mut ws).await.starts_with("error nothing-here"));
    ws_send(&mut ws, &format!("bind {id}")).await;
    assert_eq!(next(&mut ws).await, format!("bound {id}"));

    // A non-matching write, then a matching one: one ping, for the matching one.
    assert_eq!(
        server
            .send("POST", "/Observation", &observation("8462-4"))
            .await
            .status,
        201
    );
    assert_eq!(
        server
            .send("POST", "/Observation", &observation("8480-6"))
            .await
            .status,
        201
    );
    assert_eq!(next(&mut ws).await, format!("ping {id}"));
    ws_send(&mut ws, "hello").await;
    assert!(
        next(&mut ws).await.starts_with("error expected"),
        "the non-matching write sent nothing before the answer to this"
    );

    // What cannot be served is marked so.
    for (sub, why) in [
        (
            json!({"criteria": "Nonsense?x=1", "channel": {"type": "websocket"}}),
            "resource type",
        ),
        (
            json!({"criteria": "Observation?code=a", "channel": {"type": "email", "endpoint": "mailto:a@b.jp"}}),
            "email",
        ),
        (
            json!({"criteria": "Observation?code=a", "channel": {"type": "rest-hook", "endpoint": "ftp://x"}}),
            "http",
        ),
    ] {
        let mut body = sub.clone();
        body["resourceType"] = json!("Subscription");
        body["status"] = json!("requested");
        body["reason"] = json!("test");
        let r = server.send("POST", "/Subscription", &body).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let s = status_of(&server, r.json()["id"].as_str().unwrap(), "error").await;
        assert!(s["error"].as_str().unwrap().contains(why), "{s}");
    }
}

/// The next text message.
async fn next<S>(ws: &mut S) -> String
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        if let Message::Text(t) = ws.next().await.unwrap().unwrap() {
            return t.to_string();
        }
    }
}

async fn ws_send<S>(ws: &mut S, text: &str)
where
    S: SinkExt<Message> + Unpin,
    S::Error: std::fmt::Debug,
{
    ws.send(Message::Text(text.into())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscriptions_on_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscriptions_on_postgres() {
    run(Backend::Postgres).await;
}
