//! Subscriptions over WebSocket with the graphql-transport-ws protocol; the bearer token comes in
//! the `connection_init` payload as `{"authorization": "Bearer <token>"}`.
//!
//! juniper_graphql_ws speaks the protocol; this module carries frames between it and the socket
//! (as juniper_actix's handler does) and stops a `subscribe` deeper than the depth limit before
//! juniper sees it: the contract's limit holds here as on HTTP, counted the same way.

use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{CloseCode, CloseReason, Message, Session};
use futures::{SinkExt, StreamExt};
use juniper::DefaultScalarValue;
use juniper_graphql_ws::graphql_transport_ws::{ClientMessage, Connection, Input, Output};
use juniper_graphql_ws::{ArcSchema, ConnectionConfig};
use serde_json::json;

use super::prepared::depth_limit;
use super::state::ApiState;
use super::{depth, errors, Context};
use crate::app::{App, AppError, Caller};

pub(super) async fn serve(request: HttpRequest, payload: web::Payload, state: ApiState) -> HttpResponse {
    let app = state.app.clone();
    let max_depth = app.limits().max_query_depth;
    let init = move |params: juniper::Variables| async move {
        let caller = caller_from_init(&app, &params)?;
        Ok::<_, AppError>(ConnectionConfig::new(Context::new(app, caller)).with_keep_alive_interval(Duration::from_secs(15)))
    };
    let (mut response, session, mut frames) = match actix_ws::handle(&request, payload) {
        Ok(handled) => handled,
        Err(error) => return error.error_response(),
    };
    let (mut protocol, mut outputs) = Connection::new(ArcSchema(state.schema.clone()), init).split();
    let mut replies = session.clone();
    actix_web::rt::spawn(async move {
        let input = async move {
            while let Some(Ok(frame)) = frames.next().await {
                let bytes = match &frame {
                    Message::Text(text) => text.as_bytes().clone(),
                    Message::Binary(bytes) => bytes.clone(),
                    Message::Ping(bytes) => {
                        let _ = replies.pong(bytes).await;
                        continue;
                    }
                    Message::Close(_) => {
                        let _ = protocol.send(Input::Close).await;
                        return;
                    }
                    _ => continue,
                };
                let message: ClientMessage<DefaultScalarValue> = match serde_json::from_slice(&bytes) {
                    Ok(message) => message,
                    Err(error) => {
                        // The protocol's answer to a message it cannot read.
                        let reason = CloseReason { code: CloseCode::Other(4400), description: Some(format!("invalid message: {error}")) };
                        let _ = replies.clone().close(Some(reason)).await;
                        return;
                    }
                };
                if let ClientMessage::Subscribe { id, payload } = &message {
                    let too_deep =
                        depth::inspect(&payload.query, payload.operation_name.as_deref(), &[]).filter(|shape| shape.depth > max_depth);
                    if let Some(shape) = too_deep {
                        let refusal =
                            json!({ "id": id, "type": "error", "payload": [errors::entry(&depth_limit(shape.depth, max_depth))] });
                        if replies.text(refusal.to_string()).await.is_err() {
                            return;
                        }
                        continue;
                    }
                }
                if protocol.send(Input::Message(message)).await.is_err() {
                    return;
                }
            }
        };
        let output = async move { forward(&mut outputs, session).await };
        futures::future::select(Box::pin(input), Box::pin(output)).await;
    });
    response.headers_mut().insert(HeaderName::from_static("sec-websocket-protocol"), HeaderValue::from_static("graphql-transport-ws"));
    response
}

/// Sends the protocol's messages to the client until either side closes.
async fn forward(outputs: &mut (impl futures::Stream<Item = Output<DefaultScalarValue>> + Unpin), mut session: Session) {
    while let Some(output) = outputs.next().await {
        match output {
            Output::Message(message) => {
                let Ok(text) = serde_json::to_string(&message) else {
                    tracing::error!("a subscription message could not be serialized");
                    let _ = session.close(Some(CloseCode::Error.into())).await;
                    return;
                };
                if session.text(text).await.is_err() {
                    return;
                }
            }
            Output::Close { code, message } => {
                let _ = session.close(Some(CloseReason { code: code.into(), description: Some(message) })).await;
                return;
            }
        }
    }
    let _ = session.close(Some(CloseCode::Normal.into())).await;
}

/// The caller of a WebSocket connection, from its `connection_init` payload.
fn caller_from_init(app: &App, payload: &juniper::Variables<DefaultScalarValue>) -> Result<Caller, AppError> {
    let header = payload
        .get("authorization")
        .or_else(|| payload.get("Authorization"))
        .and_then(|v| v.as_scalar())
        .and_then(|s| juniper::ScalarValue::try_as_str(s));
    app.authenticate(header)
}
