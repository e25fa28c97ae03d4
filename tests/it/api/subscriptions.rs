//! Subscriptions over WebSocket with the graphql-transport-ws protocol.

use std::time::Duration;

use actix_codec::Framed;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};

use super::harness::{text, TestServer, ADMIN};

/// How long a test waits for the next message.
const WAIT: Duration = Duration::from_secs(15);

/// One graphql-transport-ws connection, past `connection_ack`.
pub(crate) struct Socket {
    framed: Framed<BoxedSocket, Codec>,
}

impl Socket {
    async fn connect(server: &TestServer, token: &str) -> Self {
        Self::at(server.client(), &server.ws_url(), token).await
    }

    /// A connection to the WebSocket endpoint `url` (`ws://host:port/graphql`).
    pub(crate) async fn at(client: &awc::Client, url: &str, token: &str) -> Self {
        let request = client.ws(url).protocols(["graphql-transport-ws"]);
        let (response, framed) = request.connect().await.expect("the WebSocket upgrade");
        assert_eq!(response.status().as_u16(), 101);
        let protocol = response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok());
        assert_eq!(protocol, Some("graphql-transport-ws"));
        let mut socket = Self { framed };
        socket.send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })).await;
        let ack = socket.next().await;
        assert_eq!(ack["type"], "connection_ack", "{ack:#}");
        socket
    }

    async fn send(&mut self, message: Value) {
        self.framed.send(Message::Text(message.to_string().into())).await.expect("a sent message");
    }

    pub(crate) async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })).await;
    }

    /// The next protocol message, answering pings and skipping pongs and keep-alives.
    async fn next(&mut self) -> Value {
        loop {
            let frame = actix_rt::time::timeout(WAIT, self.framed.next())
                .await
                .expect("a message in time")
                .expect("the connection is open")
                .expect("a valid frame");
            match frame {
                Frame::Text(bytes) => {
                    let message: Value = serde_json::from_slice(&bytes).expect("a JSON message");
                    match message["type"].as_str() {
                        Some("ping") => self.send(json!({ "type": "pong" })).await,
                        Some("pong") | Some("ka") => {}
                        _ => return message,
                    }
                }
                Frame::Ping(bytes) => self.framed.send(Message::Pong(bytes)).await.expect("a pong"),
                Frame::Pong(_) => {}
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The payload of the next `next` message of subscription `id`.
    pub(crate) async fn next_result(&mut self, id: &str) -> Value {
        let message = self.next().await;
        assert_eq!((message["type"].as_str(), message["id"].as_str()), (Some("next"), Some(id)), "{message:#}");
        message["payload"].clone()
    }
}

#[actix_rt::test]
async fn a_learner_subscribed_to_its_booking_sees_it_reach_confirmed() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let (learner, _) = server.register("learner@example.org", "Learner").await;
    let (stranger, _) = server.register("stranger@example.org", "Stranger").await;
    let course = server.create_published_course(&teacher, 3, 2_500).await;
    let booking = text(&server.request_booking(&learner, &course, "tok_visa").await["booking"]["id"]);

    let query = "subscription($id: ID!) { bookingUpdated(id: $id) { id status payment { status } } }";
    let mut socket = Socket::connect(&server, &learner).await;
    socket.subscribe("1", query, json!({ "id": booking })).await;
    let mut seen = Vec::new();
    loop {
        let payload = socket.next_result("1").await;
        assert!(payload.get("errors").is_none(), "{payload:#}");
        let update = &payload["data"]["bookingUpdated"];
        assert_eq!(update["id"], booking.as_str());
        seen.push(text(&update["status"]));
        if update["status"] == "CONFIRMED" {
            assert_eq!(update["payment"]["status"], "CAPTURED");
            break;
        }
        assert!(["REQUESTED", "SEAT_RESERVED"].contains(&seen.last().map(String::as_str).unwrap_or_default()), "{seen:?}");
    }
    socket.send(json!({ "id": "1", "type": "complete" })).await;

    // Only the learner, the teacher and the admin may follow a booking.
    let mut other = Socket::connect(&server, &stranger).await;
    other.subscribe("s", query, json!({ "id": booking })).await;
    let refused = other.next().await;
    // The protocol allows either an `error` message or a `next` carrying the errors.
    let errors = match refused["type"].as_str() {
        Some("error") => &refused["payload"],
        Some("next") => &refused["payload"]["errors"],
        _ => panic!("expected a refusal: {refused:#}"),
    };
    assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN", "{refused:#}");
}

#[actix_rt::test]
async fn the_admin_events_subscription_delivers_the_history_in_order_then_new_events() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    server.create_published_course(&teacher, 3, 2_500).await;
    let history = server.event_count().await;

    let mut socket = Socket::connect(&server, ADMIN).await;
    let query = r#"subscription { events(fromPosition: "1") { position type } }"#;
    socket.subscribe("log", query, json!({})).await;
    for position in 1..=history {
        let payload = socket.next_result("log").await;
        assert_eq!(payload["data"]["events"]["position"], position.to_string(), "{payload:#}");
    }
    server.register("late@example.org", "Late").await;
    let mut live = Vec::new();
    while !live.contains(&"MemberRegistered".to_owned()) {
        let payload = socket.next_result("log").await;
        assert_eq!(payload["data"]["events"]["position"], (history + live.len() + 1).to_string(), "live events follow in order");
        live.push(text(&payload["data"]["events"]["type"]));
    }
}

#[actix_rt::test]
async fn a_subscription_deeper_than_the_limit_is_refused_with_limit_and_the_connection_goes_on() {
    let server = TestServer::start().await;
    let (token, _) = server.register("deep@example.com", "Deep").await;
    let mut socket = Socket::connect(&server, &token).await;
    // 13 levels: subscription, bookingUpdated, then course/teacher/teaching/edges/node twice more.
    let deep = "subscription($id: ID!) { bookingUpdated(id: $id) { course { teacher { teaching { edges { node { teacher { \
                teaching { edges { node { teacher { teaching { totalCount } } } } } } } } } } } } }";
    socket.subscribe("deep", deep, json!({ "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427" })).await;
    let refused = socket.next().await;
    assert_eq!((refused["type"].as_str(), refused["id"].as_str()), (Some("error"), Some("deep")), "{refused:#}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "LIMIT", "{refused:#}");
    assert!(text(&refused["payload"][0]["message"]).contains("13 levels"), "{refused:#}");

    // The same connection still serves a subscription within the limit.
    socket.subscribe("log", "subscription { bookingUpdated(id: \"1b4e28ba-2fa1-11d2-883f-0016d3cca427\") { id } }", json!({})).await;
    let answer = socket.next().await;
    assert_eq!(answer["id"], "log", "{answer:#}");
    assert_ne!(answer["payload"][0]["extensions"]["code"], "LIMIT", "{answer:#}");
}
