//! `carette serve`: wires the store, the outbox sender, the scheduler, the route worker and
//! the HTTP server, with one shutdown path (SIGINT/SIGTERM): stop accepting, drain requests,
//! stop the scheduler, let the sender finish its current message, close the database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use tokio::sync::watch;

use crate::app::Env;
use crate::config::{Config, TlsMode};
use crate::domain::token::TokenSigner;
use crate::heartbeat::Heartbeat;
use crate::http::{HttpConfig, HttpState};
use crate::mail::sender::OutboxSender;
use crate::routing::RouteWorker;
use crate::signal::Signal;

/// How emails leave, for the startup line and the TUI.
pub fn email_mode(c: &Config) -> String {
    if c.dev_mode() {
        return "DEV MODE (emails logged and written as .eml, not sent)".to_owned();
    }
    let tls = match c.smtp.tls {
        TlsMode::Starttls => "STARTTLS",
        TlsMode::Tls => "implicit TLS",
        TlsMode::None => "plain, no TLS",
    };
    let auth = if c.smtp.auth {
        ""
    } else {
        ", unauthenticated relay"
    };
    format!(
        "SMTP {}:{} ({tls}{auth})",
        c.smtp.host.as_deref().unwrap_or("?"),
        c.smtp.port
    )
}

/// Runs the daemon until SIGINT/SIGTERM. Blocks.
pub fn serve(env: &Env) -> anyhow::Result<()> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(env.config.server.listen))
        .with_context(|| {
            format!(
                "cannot listen on {} (server.listen)",
                env.config.server.listen
            )
        })?;
    let (tx, rx) = watch::channel(false);
    runtime.spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested: draining requests");
        let _ = tx.send(true);
    });
    let daemon = Daemon::start(env, listener, rx, &runtime)?;
    daemon.wait(&runtime);
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The heartbeats /healthz watches. A thread counts as stuck after the longest silence
/// its loop can have when all is well: the sender's batch ends within half a lease plus
/// one SMTP timeout (and writes wait at most the request timeout); a scheduler tick runs
/// two jobs, each a few database writes.
fn heartbeats(config: &Config) -> (Arc<Heartbeat>, Arc<Heartbeat>) {
    let margin = Duration::from_secs(60);
    let db = Duration::from_secs(config.server.request_timeout_secs);
    let sender = Duration::from_secs(config.email.outbox_lease_secs)
        + Duration::from_secs(config.smtp.timeout_secs)
        + db
        + margin;
    let scheduler = db * 4 + margin * 2;
    (
        Heartbeat::new("sender", sender),
        Heartbeat::new("scheduler", scheduler),
    )
}

/// A started daemon: the HTTP server task and the worker threads.
pub struct Daemon {
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
    stop: Arc<AtomicBool>,
    wake: Vec<Arc<Signal>>,
    threads: Vec<JoinHandle<()>>,
}

impl Daemon {
    /// Starts everything on an already bound listener; `shutdown` flipping to true stops it.
    pub fn start(
        env: &Env,
        listener: tokio::net::TcpListener,
        shutdown: watch::Receiver<bool>,
        runtime: &tokio::runtime::Runtime,
    ) -> anyhow::Result<Daemon> {
        let config = &env.config;
        let service = env.open_service()?;
        let secret = env.secret()?;
        let sender =
            OutboxSender::from_config(config, &env.data_dir, secret.as_bytes(), service.clone())
                .context("cannot prepare email delivery")?;
        let renderer = sender.renderer();
        let addr = listener.local_addr().context("listener has no address")?;
        let stats = service.stats(Utc::now())?;
        tracing::info!(
            listen = %addr,
            database = %env.db_path.display(),
            email = %email_mode(config),
            queued_emails = stats.outbox_queued + stats.outbox_sending,
            "carette {} started",
            env!("CARGO_PKG_VERSION")
        );

        if config.dev_mode() {
            tracing::warn!(
                dir = %env.data_dir.join("emails").display(),
                "DEV MODE: no SMTP password configured, emails are not sent but written here (see `carette test-email`)"
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let scheduler_wake = Arc::new(Signal::default());
        let (sender_beat, scheduler_beat) = heartbeats(config);
        let mut threads = Vec::new();
        threads.push(
            sender
                .with_heartbeat(sender_beat.clone())
                .spawn(stop.clone())
                .context("cannot start the outbox sender")?,
        );
        threads.push(
            crate::scheduler::spawn(
                service.clone(),
                vec![optimize_task(service.clone())],
                stop.clone(),
                scheduler_wake.clone(),
                scheduler_beat.clone(),
            )
            .context("cannot start the scheduler")?,
        );
        match RouteWorker::from_config(service.clone(), &config.routing) {
            Some(worker) => threads.push(
                worker
                    .spawn(stop.clone())
                    .context("cannot start the route worker")?,
            ),
            None => tracing::info!("route recalculation off (routing.osrm_url not set)"),
        }

        let state = HttpState::new(
            service.clone(),
            TokenSigner::new(secret.as_bytes()),
            renderer,
            HttpConfig::from_config(config),
        )
        .with_heartbeats(vec![sender_beat, scheduler_beat]);
        let server = runtime.spawn(crate::http::serve(listener, Arc::new(state), shutdown));
        Ok(Daemon {
            addr,
            server,
            stop,
            wake: vec![
                service.outbox_signal().clone(),
                service.route_signal().clone(),
                scheduler_wake,
            ],
            threads,
        })
    }

    /// Waits for the HTTP server to finish draining, then stops the workers in order.
    pub fn wait(self, runtime: &tokio::runtime::Runtime) {
        if let Err(e) = runtime.block_on(self.server) {
            tracing::error!(error = %e, "HTTP server task failed");
        }
        self.stop.store(true, Ordering::SeqCst);
        for w in &self.wake {
            w.notify();
        }
        for t in self.threads {
            if t.join().is_err() {
                tracing::error!("a worker thread panicked during shutdown");
            }
        }
        tracing::info!("carette stopped");
    }
}

/// How often the daemon refreshes the query planner's statistics (SQLite's advice for
/// long-lived connections: `PRAGMA optimize` periodically, and at close).
const OPTIMIZE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// A scheduler task running `PRAGMA optimize` once an hour: cheap when nothing changed,
/// and it keeps the plans of the hot queries good as the tables grow.
fn optimize_task(service: crate::service::Service) -> crate::scheduler::TickTask {
    let mut last = std::time::Instant::now();
    Box::new(move |_now| {
        if last.elapsed() < OPTIMIZE_EVERY {
            return;
        }
        last = std::time::Instant::now();
        if let Err(e) = service.optimize_database() {
            tracing::warn!(error = %e, "PRAGMA optimize failed; query plans may age");
        }
    })
}
