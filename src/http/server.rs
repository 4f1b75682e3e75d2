//! The accept loop (hyper 1 on tokio), per-request bookkeeping, and graceful shutdown.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::connection_cap::{self, Admission, ConnectionCap, Slot};
use super::response::{self, Resp};
use super::routes::{self, Route, RouteError};
use super::{HttpState, api, dashboard, links, ops, rider_pages};

/// Sent (best effort) to a connection over its address's cap, just before closing it.
const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Length: 36\r\nConnection: close\r\n\r\n\
too many connections from this host\n";

/// Held by a connection's task, however it ends (even aborted at the drain deadline).
struct Open {
    state: Arc<HttpState>,
    _slot: Option<Slot>,
}

impl Open {
    fn new(state: Arc<HttpState>, slot: Option<Slot>) -> Open {
        state.metrics.connection_opened();
        Open { state, _slot: slot }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.state.metrics.connection_closed();
    }
}

/// Serves until `shutdown` becomes true (or its sender is dropped): then stops accepting,
/// lets in-flight requests finish (idle keep-alive connections close at once), and gives
/// up on whatever still runs after `drain_timeout`.
pub async fn serve(
    listener: TcpListener,
    state: Arc<HttpState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut builder = http1::Builder::new();
    // Without a timer, hyper silently ignores header_read_timeout (slowloris).
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(state.config.header_read_timeout)
        .keep_alive(true);
    let builder = Arc::new(builder);
    let mut connections = JoinSet::new();
    let per_address = ConnectionCap::new(state.config.max_connections_per_ip);
    let max_connections = state.config.max_connections.max(1);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "HTTP server listening");
    }
    loop {
        tokio::select! {
            () = stopped(&mut shutdown) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            // At the cap, stop accepting until a connection ends: the kernel's backlog
            // queues the rest, and memory stays bounded on a small host.
            accepted = listener.accept(), if connections.len() < max_connections => match accepted {
                Ok((stream, peer)) => {
                    // One address may not hold every connection: over its cap, the new
                    // connection waits briefly for a slot or is closed (trusted proxies
                    // speak for many clients: exempt).
                    let ip = peer.ip().to_canonical();
                    let trusted = state.config.trusted_proxies.iter().any(|n| n.contains(ip));
                    let admission = if trusted {
                        None
                    } else {
                        match per_address.admit(ip) {
                            Some(admission) => Some(admission),
                            None => {
                                refuse(&state, &stream, ip);
                                continue;
                            }
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(
                        stream,
                        admission,
                        peer,
                        state.clone(),
                        builder.clone(),
                        shutdown.clone(),
                    ));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    let in_flight = connections.len();
    tracing::info!(connections = in_flight, "HTTP server stopping; draining");
    let drained = tokio::time::timeout(state.config.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "drain deadline passed; closing the remaining connections"
        );
        connections.shutdown().await;
    }
    tracing::info!("HTTP server stopped");
}

/// Resolves once shutdown is asked, or when the sender is gone (nobody could ask any more).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard wait_for returns is not Send: drop it here, not across an await.
    let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
}

/// Closes a connection over its address's cap, with a 503 for whoever reads it.
fn refuse(state: &HttpState, stream: &tokio::net::TcpStream, ip: IpAddr) {
    state.metrics.connection_refused();
    tracing::debug!(%ip, "connection refused: too many from this address");
    let _ = stream.try_write(TOO_MANY_CONNECTIONS);
}

/// Serves one connection; `admission` is None for a trusted proxy (exempt from the cap).
async fn connection(
    stream: tokio::net::TcpStream,
    admission: Option<Admission>,
    peer: SocketAddr,
    state: Arc<HttpState>,
    builder: Arc<http1::Builder>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slot = match admission {
        None => None,
        Some(Admission::Admitted(slot)) => Some(slot),
        Some(Admission::Waiting(waiter)) => match waiter.slot(connection_cap::GRACE).await {
            Some(slot) => Some(slot),
            None => return refuse(&state, &stream, peer.ip().to_canonical()),
        },
    };
    let _open = Open::new(state.clone(), slot);
    let io = TokioIo::new(stream);
    let svc = service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(state, peer, req).await) }
    });
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = stopped(&mut shutdown) => {
            // Finish the request in flight (if any), then close instead of keeping alive.
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = result {
        // Timeouts and resets are the client's doing; nothing for the operator to fix.
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Routes, answers, then adds the common headers, counts and logs the request (by route
/// name: a raw URI would carry tokens into the logs).
async fn handle(state: Arc<HttpState>, peer: SocketAddr, req: Request<Incoming>) -> Resp {
    let started = Instant::now();
    let method = req.method().clone();
    let origin = req.headers().get(header::ORIGIN).cloned();
    let parsed = Route::parse(&method, req.uri().path());
    let rider = matches!(parsed, Ok(Route::Rider { .. }));
    let (name, api, mut resp) = match parsed {
        Ok(route) => {
            let resp = dispatch(&state, route, peer, req).await;
            (route.name(), route.is_api(), resp)
        }
        Err(RouteError::NotFound) => {
            let api = routes::is_api_path(req.uri().path());
            let resp = if api {
                response::json_error(StatusCode::NOT_FOUND, "no such endpoint", None)
            } else {
                response::error_page(&state, StatusCode::NOT_FOUND)
            };
            ("not_found", api, resp)
        }
        Err(RouteError::MethodNotAllowed { allow }) => {
            let api = routes::is_api_path(req.uri().path());
            let mut resp = if api {
                let msg = format!("method not allowed; use {allow}");
                response::json_error(StatusCode::METHOD_NOT_ALLOWED, &msg, None)
            } else {
                response::error_page(&state, StatusCode::METHOD_NOT_ALLOWED)
            };
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            ("method_not_allowed", api, resp)
        }
    };
    if api {
        cors(&state, origin.as_ref(), &mut resp);
    }
    response::secure(&mut resp);
    if rider {
        rider_pages::frame_policy(&state, &mut resp);
    }
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    state.metrics.observe(name, status, elapsed);
    tracing::info!(
        method = %method,
        route = name,
        status,
        ms = %format_args!("{:.1}", elapsed.as_secs_f64() * 1000.0),
        "request"
    );
    resp
}

async fn dispatch(
    state: &Arc<HttpState>,
    route: Route,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Resp {
    match route {
        Route::CreateOffer => api::create_offer(state, peer, req).await,
        Route::GetOffer(id) => api::get_offer(state, &req, id).await,
        Route::RequestSeat(id) => api::request_seat(state, peer, req, id).await,
        Route::Link { action, submit } => links::link(state, action, submit, peer, req).await,
        Route::ResendLink => links::resend(state, peer, req).await,
        Route::OfferPage(id) => dashboard::offer_page(state, &req, id).await,
        Route::Dashboard => dashboard::dashboard(state, &req).await,
        Route::Health => ops::health(state).await,
        Route::Metrics => ops::metrics(state).await,
        Route::Rider { page, embed } => rider_pages::handle(state, page, embed, peer, req).await,
        Route::Options { allow, api } => options(state, &req, allow, api),
    }
}

fn allowed_origin<'a>(state: &HttpState, origin: Option<&'a HeaderValue>) -> Option<&'a str> {
    let origin = origin?.to_str().ok()?;
    state
        .config
        .cors_origins
        .iter()
        .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
        .then_some(origin)
}

fn cors(state: &HttpState, origin: Option<&HeaderValue>, resp: &mut Resp) {
    if state.config.cors_origins.is_empty() {
        return;
    }
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = allowed_origin(state, origin) {
        response::set_header(resp, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
}

/// OPTIONS: the Allow list, and for a browser's CORS preflight on the JSON API the
/// methods and headers it may use (when its Origin is allowed).
fn options(state: &HttpState, req: &Request<Incoming>, allow: &'static str, api: bool) -> Resp {
    let origin = req.headers().get(header::ORIGIN);
    let preflight = origin.is_some()
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if api && preflight && allowed_origin(state, origin).is_none() {
        return response::json_error(
            StatusCode::FORBIDDEN,
            "this origin is not allowed to call the API (server.cors_origins)",
            None,
        );
    }
    let mut resp = response::empty(StatusCode::NO_CONTENT);
    let h = resp.headers_mut();
    h.insert(header::ALLOW, HeaderValue::from_static(allow));
    if api && preflight {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(allow),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    resp
}

/// Runs blocking work (SQLite) off the async workers. A panic inside becomes a 500.
pub(super) async fn blocking<T, F>(f: F) -> Result<T, StatusCode>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "blocking task failed");
        StatusCode::INTERNAL_SERVER_ERROR
    })
}
