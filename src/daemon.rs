//! `carette serve`: wires the store, the outbox sender, the scheduler, the itinerary worker and
//! the HTTP server, with one shutdown path (SIGINT/SIGTERM): stop accepting, drain requests,
//! stop the scheduler, let the sender finish its current message, close the database.
//! Both steps are a [`Shutdown`]: the request (the HTTP server watches it), then, once the
//! requests are drained, the workers' (each thread checks it and is woken by it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;

use crate::config::Config;
use crate::domain::token::TokenSigner;
use crate::heartbeat::Heartbeat;
use crate::http::{HttpConfig, HttpState};
use crate::itinerary::ItineraryWorker;
use crate::mail::sender::OutboxSender;
use crate::wakeup::Shutdown;
use crate::wiring::Env;

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
    let shutdown = Shutdown::default();
    let requested = shutdown.clone();
    runtime.spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested: draining requests");
        requested.trigger();
    });
    let daemon = Daemon::start(env, listener, &shutdown, &runtime)?;
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
    /// Triggered once the HTTP server has drained.
    workers: Shutdown,
    threads: Vec<JoinHandle<()>>,
}

impl Daemon {
    /// Starts everything on an already bound listener; triggering `shutdown` stops it.
    pub fn start(
        env: &Env,
        listener: tokio::net::TcpListener,
        shutdown: &Shutdown,
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
            email = %config.email_summary(),
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
        let workers = Shutdown::new(vec![
            service.outbox_wakeup().clone(),
            service.itinerary_wakeup().clone(),
        ]);
        let (sender_beat, scheduler_beat) = heartbeats(config);
        let mut threads = Vec::new();
        threads.push(
            sender
                .with_heartbeat(sender_beat.clone())
                .spawn(workers.clone())
                .context("cannot start the outbox sender")?,
        );
        threads.push(
            crate::scheduler::spawn(
                service.clone(),
                vec![optimize_task(service.clone())],
                workers.clone(),
                scheduler_beat.clone(),
            )
            .context("cannot start the scheduler")?,
        );
        match ItineraryWorker::from_config(service.clone(), &config.routing) {
            Some(worker) => threads.push(
                worker
                    .spawn(workers.clone())
                    .context("cannot start the itinerary worker")?,
            ),
            None => tracing::info!("itinerary recalculation off (routing.osrm_url not set)"),
        }

        let state = HttpState::new(
            service.clone(),
            TokenSigner::new(secret.as_bytes()),
            renderer,
            HttpConfig::from_config(config),
        )
        .with_heartbeats(vec![sender_beat, scheduler_beat]);
        let server = runtime.spawn(crate::http::serve(
            listener,
            Arc::new(state),
            shutdown.receiver(),
        ));
        Ok(Daemon {
            addr,
            server,
            workers,
            threads,
        })
    }

    /// Waits for the HTTP server to finish draining, then stops the workers in order.
    pub fn wait(self, runtime: &tokio::runtime::Runtime) {
        if let Err(e) = runtime.block_on(self.server) {
            tracing::error!(error = %e, "HTTP server task failed");
        }
        self.workers.trigger();
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
