//! FHIR R4 Subscriptions (<https://hl7.org/fhir/R4/subscription.html>): a client creates a
//! `Subscription` whose `criteria` is a search (`DocumentReference?_tag=urn:kizuna:addressee|1310000011`)
//! and whose channel is a `rest-hook` or a `websocket`; whenever a commit creates or changes a
//! resource the criteria match, the subscriber is notified.
//!
//! - **Matching is the subscriber's own search**: the criteria, narrowed to the resource's
//!   `_id`, run in the subscription owner's scope (the institution whose custodian tag it
//!   carries), through the same SQL and access condition as any search of theirs. A
//!   notification never tells about what the owner could not find.
//! - **rest-hook**: without `channel.payload`, an empty `POST` to the endpoint; with it, the
//!   resource is `PUT` to `{endpoint}/{type}/{id}`, but only to a loopback endpoint over plain
//!   HTTP (records never travel unencrypted across a network). `channel.header` lines are sent.
//!   Three attempts (after 1 s and 5 s); then the Subscription's status becomes `error` (the
//!   endpoint's answers go to the node's log only: they are not the subscriber's to probe a
//!   network with).
//! - **websocket**: the client opens `GET /fhir/$subscription-websocket` (mutual TLS like every
//!   request), sends `bind {id}` for a websocket Subscription it may read, gets `bound {id}`,
//!   then `ping {id}` on each match.
//! - A `requested` Subscription the server can serve becomes `active`; one it cannot (criteria
//!   that do not parse, another channel type, an endpoint that is not an http URL) becomes
//!   `error`, with the reason in `error`. One whose `end` has passed is set `off`.
//!
//! Only commits made by this process notify (another node sharing a PostgreSQL database
//! notifies its own subscribers). Logs name subscriptions by id, never content.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kizuna_access::{Caller, Network};
use kizuna_records::{Payload, Records};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// The websockets bound to each Subscription id.
#[derive(Default)]
pub(crate) struct Hub {
    sockets: Mutex<HashMap<String, Vec<mpsc::UnboundedSender<String>>>>,
}

impl Hub {
    fn bind(&self, id: &str, tx: mpsc::UnboundedSender<String>) {
        let mut s = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        let list = s.entry(id.to_string()).or_default();
        list.retain(|t| !t.is_closed());
        if !list.iter().any(|t| t.same_channel(&tx)) {
            list.push(tx);
        }
    }

    /// Sends `ping {id}` to every socket bound to `id` (dropping closed ones).
    fn ping(&self, id: &str) {
        let mut s = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = s.get_mut(id) {
            list.retain(|tx| tx.send(format!("ping {id}")).is_ok());
        }
    }
}

/// One live Subscription, as the dispatcher serves it.
struct Sub {
    id: String,
    /// When it stops (`end`), if it does.
    end: Option<jiff::Timestamp>,
    rtype: String,
    pairs: Vec<(String, String)>,
    owner: Caller,
    channel: Channel,
}

enum Channel {
    RestHook {
        endpoint: String,
        payload: bool,
        headers: Vec<(String, String)>,
    },
    WebSocket,
}

/// Starts the dispatcher on the current runtime.
pub(crate) fn start(net: Arc<Network>, hub: Arc<Hub>) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(dispatch(net, hub));
    }
}

async fn dispatch(net: Arc<Network>, hub: Arc<Hub>) {
    let mut rx = net.records().store().changes().listen();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut subs = load(&net).await;
    loop {
        let batch = match rx.recv().await {
            Ok(b) => b,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "subscriptions fell behind the commits; some notifications were missed"
                );
                subs = load(&net).await;
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        if batch.iter().any(|(t, _, _)| t == "Subscription") {
            subs = load(&net).await;
        }
        let now = jiff::Timestamp::now();
        if subs.iter().any(|s| s.end.is_some_and(|e| e <= now)) {
            // Ended: set off, and no longer served.
            subs = load(&net).await;
        }
        for (rtype, id, _) in batch.iter() {
            for s in subs.iter().filter(|s| s.rtype == *rtype) {
                if !matches(&net, s, id).await {
                    continue;
                }
                match &s.channel {
                    Channel::WebSocket => hub.ping(&s.id),
                    Channel::RestHook {
                        endpoint,
                        payload,
                        headers,
                    } => {
                        let job = Delivery {
                            net: net.clone(),
                            client: client.clone(),
                            sub: s.id.clone(),
                            owner: s.owner.clone(),
                            endpoint: endpoint.clone(),
                            payload: *payload,
                            headers: headers.clone(),
                            rtype: rtype.clone(),
                            id: id.clone(),
                        };
                        tokio::spawn(job.run());
                    }
                }
            }
        }
    }
}

/// The live Subscriptions; `requested` ones made `active` (or `error`), ended ones `off`.
async fn load(net: &Network) -> Vec<Sub> {
    let records = net.records();
    let found = records
        .search_all(
            "Subscription",
            vec![("status".into(), "requested,active".into())],
            usize::MAX,
        )
        .await;
    let Ok((subs, _)) = found else {
        tracing::error!("subscriptions could not be read; none are served until the next change");
        return Vec::new();
    };
    let mut out = Vec::new();
    let now = jiff::Timestamp::now();
    for sub in &subs {
        if !sub["id"].is_string() {
            continue;
        }
        let ended = sub["end"]
            .as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .is_some_and(|end| end <= now);
        if ended {
            set_status(records, sub, "off", None).await;
            continue;
        }
        match read(sub) {
            Ok(s) => {
                if sub["status"] == "requested" {
                    set_status(records, sub, "active", None).await;
                }
                out.push(s);
            }
            Err(why) => set_status(records, sub, "error", Some(&why)).await,
        }
    }
    out
}

/// A Subscription as served, or why it cannot be.
fn read(sub: &Value) -> Result<Sub, String> {
    let id = sub["id"].as_str().unwrap_or_default().to_string();
    let criteria = sub["criteria"].as_str().unwrap_or_default();
    let (rtype, query) = criteria.split_once('?').unwrap_or((criteria, ""));
    if !kizuna_fhir::r4().is_resource_type(rtype) {
        return Err(format!(
            "criteria must start with a resource type ('{rtype}' is not one), then '?' and search parameters"
        ));
    }
    if let Err(issues) =
        kizuna_search::parse_query_string(Some(rtype), query, kizuna_search::Handling::Strict)
    {
        let why: Vec<String> = issues.iter().map(|i| i.message.clone()).collect();
        return Err(format!("criteria: {}", why.join("; ")));
    }
    let pairs = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let channel = match sub["channel"]["type"].as_str() {
        Some("rest-hook") => {
            let endpoint = sub["channel"]["endpoint"].as_str().unwrap_or_default();
            let uri: hyper::Uri = endpoint
                .parse()
                .map_err(|_| format!("channel.endpoint '{endpoint}' is not a URL"))?;
            if uri.scheme_str() != Some("http") {
                return Err(
                    "channel.endpoint: rest-hook endpoints are http URLs here (https delivery is not supported yet)".into(),
                );
            }
            let headers = sub["channel"]["header"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter_map(|h| h.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            Channel::RestHook {
                endpoint: endpoint.trim_end_matches('/').to_string(),
                payload: sub["channel"]["payload"]
                    .as_str()
                    .is_some_and(|p| !p.is_empty()),
                headers,
            }
        }
        Some("websocket") => Channel::WebSocket,
        other => {
            return Err(format!(
                "channel.type '{}' is not served here: use rest-hook or websocket",
                other.unwrap_or("")
            ));
        }
    };
    let owner = match kizuna_records::custodian_of(sub) {
        Some(code) => {
            let name = sub["meta"]["tag"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["system"] == kizuna_records::CUSTODIAN_SYSTEM)
                .and_then(|t| t["display"].as_str())
                .unwrap_or("");
            Caller::institution(code, name)
        }
        None => Caller::node(),
    };
    Ok(Sub {
        id,
        end: sub["end"].as_str().and_then(|s| s.parse().ok()),
        rtype: rtype.to_string(),
        pairs,
        owner,
        channel,
    })
}

async fn set_status(records: &Records, sub: &Value, status: &str, error: Option<&str>) {
    let Some(id) = sub["id"].as_str() else { return };
    let mut next = sub.clone();
    next["status"] = json!(status);
    match error {
        Some(e) => next["error"] = json!(e),
        None => {
            if let Some(o) = next.as_object_mut() {
                o.remove("error");
            }
        }
    }
    if next == *sub {
        return;
    }
    if let Err(f) = records.update("Subscription", id, next, None).await {
        tracing::error!(
            subscription = id,
            status = f.status,
            "a subscription's status could not be recorded"
        );
    }
}

/// Whether `rtype/id` (just committed) matches `s`'s criteria in its owner's scope.
async fn matches(net: &Network, s: &Sub, id: &str) -> bool {
    let Ok(records) = net.records_for(&s.owner).await else {
        return false;
    };
    let mut pairs = s.pairs.clone();
    pairs.retain(|(k, _)| k != "_count" && k != "_sort");
    pairs.push(("_id".into(), id.to_string()));
    records
        .search_all(&s.rtype, pairs, 1)
        .await
        .is_ok_and(|(found, _)| !found.is_empty())
}

/// One rest-hook notification, tried up to three times.
struct Delivery {
    net: Arc<Network>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    sub: String,
    owner: Caller,
    endpoint: String,
    payload: bool,
    headers: Vec<(String, String)>,
    rtype: String,
    id: String,
}

impl Delivery {
    async fn run(self) {
        let mut last = String::new();
        for (attempt, wait) in [0u64, 1, 5].into_iter().enumerate() {
            if wait > 0 {
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            match self.once().await {
                Ok(()) => return,
                Err(why) => {
                    tracing::warn!(subscription = %self.sub, attempt = attempt + 1, "a rest-hook notification failed");
                    last = why;
                }
            }
        }
        let records = self.net.records();
        if let Ok(r) = records.read("Subscription", &self.sub).await
            && let Payload::Version(v) = r.payload
            && let Some(body) = v
                .body
                .as_deref()
                .and_then(|b| serde_json::from_str::<Value>(b).ok())
        {
            // The reason stays in the node's log: the endpoint's answers are not the
            // subscriber's to probe a network with.
            tracing::warn!(subscription = %self.sub, reason = %last, "a rest-hook subscription failed three times and is set to error");
            set_status(
                records,
                &body,
                "error",
                Some("the endpoint did not accept the notification three times; fix the endpoint, then set the status to requested"),
            )
            .await;
        }
    }

    async fn once(&self) -> Result<(), String> {
        let loopback = self
            .endpoint
            .parse::<hyper::Uri>()
            .ok()
            .and_then(|u| u.host().map(str::to_string))
            .is_some_and(|h| matches!(h.as_str(), "127.0.0.1" | "localhost" | "[::1]" | "::1"));
        let (method, url, body) = if self.payload && loopback {
            // The resource as its owner may read it now.
            let records = self
                .net
                .records_for(&self.owner)
                .await
                .map_err(|f| format!("the owner's scope: {}", f.status))?;
            let r = records
                .read(&self.rtype, &self.id)
                .await
                .map_err(|f| format!("the resource could not be read ({})", f.status))?;
            let Payload::Version(v) = r.payload else {
                return Err("the resource is gone".into());
            };
            (
                hyper::Method::PUT,
                format!("{}/{}/{}", self.endpoint, self.rtype, self.id),
                Bytes::copy_from_slice(v.body.as_deref().unwrap_or_default().as_bytes()),
            )
        } else {
            (hyper::Method::POST, self.endpoint.clone(), Bytes::new())
        };
        let mut req = hyper::Request::builder().method(method).uri(&url);
        if !body.is_empty() {
            req = req.header("content-type", "application/fhir+json");
        }
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req.body(Full::new(body)).map_err(|_| {
            "the notification could not be built (check channel.header)".to_string()
        })?;
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .map_err(|_| "the endpoint did not answer within 10 s".to_string())?
            .map_err(|e| format!("the endpoint could not be reached: {e}"))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("the endpoint answered {}", resp.status()))
        }
    }
}

/// `GET /fhir/$subscription-websocket`: binds the socket to websocket Subscriptions the caller
/// may read (`bind {id}` → `bound {id}`), then sends `ping {id}` on each match.
pub(crate) async fn websocket(
    State(hub): State<Arc<Hub>>,
    Extension(records): Extension<Records>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| serve_socket(socket, hub, records))
        .into_response()
}

/// The most Subscriptions one socket binds.
const MAX_BINDS: usize = 100;

async fn serve_socket(mut socket: WebSocket, hub: Arc<Hub>, records: Records) {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let mut bound: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            out = rx.recv() => {
                let Some(text) = out else { return };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                let answer = match text.trim().split_once(' ') {
                    Some(("bind", id)) if bound.len() >= MAX_BINDS && !bound.iter().any(|b| b == id.trim()) => {
                        format!("error {}: one socket binds at most {MAX_BINDS} subscriptions", id.trim())
                    }
                    Some(("bind", id)) => {
                        let answer = bind(&hub, &records, id.trim(), &tx).await;
                        if answer.starts_with("bound ") && !bound.iter().any(|b| b == id.trim()) {
                            bound.push(id.trim().to_string());
                        }
                        answer
                    }
                    _ => "error expected 'bind {subscription id}'".to_string(),
                };
                if socket.send(Message::Text(answer.into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn bind(
    hub: &Hub,
    records: &Records,
    id: &str,
    tx: &mpsc::UnboundedSender<String>,
) -> String {
    let Ok(r) = records.read("Subscription", id).await else {
        return format!("error {id}: no such Subscription, or not yours to bind");
    };
    let is_ws = match &r.payload {
        Payload::Version(v) => v
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str::<Value>(b).ok())
            .is_some_and(|b| b["channel"]["type"] == "websocket"),
        _ => false,
    };
    if !is_ws {
        return format!("error {id}: this Subscription's channel is not websocket");
    }
    hub.bind(id, tx.clone());
    format!("bound {id}")
}
