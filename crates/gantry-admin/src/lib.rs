//! Kong's Admin API over a [`gantry_store::Store`]: every entity endpoint
//! (collections, items by id or endpoint key, nested and parent endpoints),
//! node endpoints (`/`, `/status`, `/endpoints`, `/schemas`, `/tags`,
//! `/plugins/enabled`), DB-less `/config`, and an OpenAPI description generated
//! from the same route table the router serves.
//!
//! ```no_run
//! # async fn run(store: std::sync::Arc<dyn gantry_store::Store>) -> std::io::Result<()> {
//! let state = gantry_admin::AdminState::new(store, gantry_core::schemas::bundled());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8001").await?;
//! gantry_admin::serve(listener, state, std::future::pending()).await
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod body;
pub mod certs;
pub mod config;
pub mod crud;
mod dispatch;
pub mod endpoints;
pub mod entities;
pub mod error;
pub mod form;
pub mod health;
pub mod info;
pub mod layers;
mod lua;
pub mod openapi;
pub mod paging;
pub mod resolve;
pub mod response;
pub mod routes;
pub mod state;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::routing::any;
use http::Request;
use tower::ServiceBuilder;

pub use error::{ApiError, ApiResult};
pub use routes::{Op, RouteSpec, route_table};
pub use state::{AdminSettings, AdminState, NodeInfo};

/// The Admin API router for a state (routes from [`AdminState::routes`]).
pub fn router(state: AdminState) -> Router {
    let mut inner = Router::new();
    for spec in state.routes.iter() {
        let spec = Arc::new(spec.clone());
        let path = spec.path.clone();
        inner = inner.route(
            &path,
            any(move |State(st): State<AdminState>, req: Request<Body>| {
                let spec = Arc::clone(&spec);
                async move { dispatch::handle(st, &spec, req).await }
            }),
        );
    }
    let inner = inner
        .fallback(|| async { ApiError::not_found() })
        .with_state(state.clone());
    let svc = ServiceBuilder::new()
        .map_request(layers::strip_trailing_slash)
        .layer(axum::middleware::from_fn_with_state(state, layers::admin))
        .service(inner);
    Router::new().fallback_service(svc)
}

/// Serves the Admin API on a listener until `shutdown` completes (in-flight
/// requests finish first).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves the Admin API over TLS (`admin_listen ... ssl`, Kong's `:8444`): each
/// connection's handshake runs in its own task (a slow client cannot hold up the
/// others), then HTTP/1.1 or HTTP/2 as ALPN chose. Stops accepting at `shutdown`.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: std::sync::Arc<rustls::ServerConfig>,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;

    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let app = router(state);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "admin TLS accept failed");
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let handshake =
                tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp));
            let stream = match handshake.await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "admin TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = TowerToHyperService::new(app);
            let served = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "admin TLS connection ended with an error");
            }
        });
    }
}

/// The OpenAPI document of a state's routes.
pub fn openapi_document(state: &AdminState) -> serde_json::Value {
    openapi::document(&state.routes, state.schemas, &state.node.version)
}
