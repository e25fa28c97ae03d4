//! The HTTP server: binds, serves the API, and on SIGINT/SIGTERM stops taking requests, lets
//! those in flight finish, then stops the runtime so every commit is flushed.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::Service;
use actix_web::{App as HttpApp, HttpServer};
use futures::FutureExt;

use crate::api::{self, ApiState};
use crate::app::App;

/// Serves until a shutdown signal (or `handle.stop`), then shuts the application down.
pub async fn run(app: Arc<App>, listener: TcpListener) -> std::io::Result<()> {
    let server = build(app.clone(), listener)?;
    let result = server.await;
    app.shutdown().await;
    tracing::info!("stopped");
    result
}

/// The server, not started yet: tests keep its handle to stop it.
pub fn build(app: Arc<App>, listener: TcpListener) -> std::io::Result<actix_web::dev::Server> {
    build_with(ApiState::new(app, Arc::new(api::schema())), listener)
}

/// [`build`] with a state of the caller's (the benchmark serves one without kept answers).
pub fn build_with(state: ApiState, listener: TcpListener) -> std::io::Result<actix_web::dev::Server> {
    let limits = state.app.limits().clone();
    actix_rt::spawn(api::keep_sampling(Arc::downgrade(&state.app), state.overview.clone()));
    let address = listener.local_addr()?;
    let mut server = HttpServer::new(move || {
        HttpApp::new()
            .wrap_fn(|request, service| {
                let (method, path) = (request.method().clone(), request.path().to_owned());
                let started = Instant::now();
                service.call(request).map(move |response| {
                    if let Ok(response) = &response {
                        let status = response.status().as_u16();
                        tracing::debug!(%method, %path, status, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "request");
                    }
                    response
                })
            })
            .configure(api::configure(state.clone()))
    })
    .listen(listener)?
    .shutdown_timeout(limits.shutdown_timeout_secs)
    .client_request_timeout(Duration::from_secs(30));
    if limits.workers > 0 {
        server = server.workers(limits.workers);
    }
    tracing::info!(%address, "serving GraphQL on http://{address}/graphql (GraphiQL on /graphiql, the console on /console)");
    Ok(server.run())
}
