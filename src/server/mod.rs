//! The HTTPS webhook server: what kube-apiserver calls on every `kubectl apply` of an
//! ImageBasedGroupUpgrade. The decisions are [`admission`](crate::admission)'s, unchanged;
//! this module adapts the network to them.
//!
//! Connections: TLS handshakes and request headers are bounded in time, the number of
//! open connections is capped, and HTTP/1.1 and HTTP/2 are served on one port by ALPN.
//!
//! Shutdown ([`Server::run`]'s `shutdown` future, SIGTERM or SIGINT in `serve`): readiness
//! turns false, responses carry `Connection: close` for the drain period so the
//! apiserver's kept-alive connections move to another pod, then the listener closes,
//! connections accepted just before get a moment to send their request, in-flight
//! requests finish within a bound, and `run` returns.

pub mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::hub::lookup::SecretLookups;
use crate::metrics::Metrics;
use crate::policy::Config;
use crate::tls::{self, CertFiles, CertStore, Reload};
pub use routes::AppState;

/// How the server listens and drains.
#[derive(Clone)]
pub struct Options {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Where to serve `/metrics` over plain HTTP; `None` for nowhere.
    pub metrics_addr: Option<SocketAddr>,
    /// The policy options.
    pub policy: Config,
    /// PEM bundle of CAs whose client certificates are accepted; none means no client auth.
    pub client_ca: Option<Vec<u8>>,
    /// A client for the hub's API, for Secret lookups; `None` for no hub access.
    pub hub: Option<kube::Client>,
    /// Where the serving pair lives, for reloading; `None` for an in-memory certificate.
    pub cert_files: Option<CertFiles>,
    /// How often the certificate files are re-read (the fallback when the watch misses).
    pub reload_interval: Duration,
    /// Watch the certificate files' directories and reload as soon as they change.
    pub watch_cert_dir: bool,
    /// How long responses carry `Connection: close` after shutdown starts.
    pub drain: Duration,
    /// How long in-flight requests may take to finish after that.
    pub shutdown_timeout: Duration,
    /// Admission requests decided at once; more wait, within their deadline.
    pub max_in_flight: usize,
    /// Open connections at once; more wait to be accepted.
    pub max_connections: usize,
}

impl Options {
    /// Defaults for `addr`, sized for a 1 to 2 CPU pod.
    pub fn new(addr: SocketAddr) -> Self {
        Options {
            addr,
            metrics_addr: None,
            policy: Config::default(),
            client_ca: None,
            hub: None,
            cert_files: None,
            reload_interval: Duration::from_secs(5),
            watch_cert_dir: true,
            drain: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            max_in_flight: 256,
            max_connections: 1024,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The TLS configuration was refused.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The address could not be bound.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    acceptor: TlsAcceptor,
    state: Arc<AppState>,
    options: Options,
}

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connections accepted just before the listener closed get to send a request.
const LINGER: Duration = Duration::from_secs(1);
/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

impl Server {
    /// Binds the listener and builds the TLS configuration around `certs`.
    pub async fn bind(options: Options, certs: Arc<CertStore>) -> Result<Self, ServerError> {
        let config = tls::server_config(certs.clone(), options.client_ca.as_deref())?;
        let listener =
            TcpListener::bind(options.addr)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: options.addr,
                    source,
                })?;
        let metrics_listener = match options.metrics_addr {
            None => None,
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServerError::Bind { addr, source })?,
            ),
        };
        let state = Arc::new(AppState {
            policy: options.policy.clone(),
            metrics: Arc::new(Metrics::new(certs.clone())),
            hub: options.hub.clone().map(|c| Arc::new(SecretLookups::new(c))),
            certs,
            ready: true.into(),
            draining: false.into(),
            decisions: Semaphore::new(options.max_in_flight.max(1)),
        });
        Ok(Server {
            listener,
            metrics_listener,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            state,
            options,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The bound metrics address, if any.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then drains and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Server {
            listener,
            metrics_listener,
            acceptor,
            state,
            options,
        } = self;
        let metrics_server = metrics_listener.map(|l| {
            let app = routes::metrics_router(state.metrics.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(l, app).await {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            })
        });
        let app = routes::router(state.clone());
        let graceful = GracefulShutdown::new();
        let connections = Arc::new(Semaphore::new(options.max_connections.max(1)));
        let reloader = options.cert_files.clone().map(|files| {
            let certs = state.certs.clone();
            let (every, watch) = (options.reload_interval, options.watch_cert_dir);
            tokio::spawn(async move { reload_loop(certs, files, every, watch).await })
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(30)));
        let builder = Arc::new(builder);

        let ctx = Accept {
            connections,
            acceptor,
            app,
            builder,
            graceful,
        };
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                more = ctx.one(&listener) => if more.is_none() { break },
            }
        }

        // Drain: not ready, `Connection: close` on every response, still accepting.
        tracing::info!(
            drain_seconds = options.drain.as_secs_f64(),
            "shutting down: draining connections"
        );
        state.ready.store(false, Ordering::Relaxed);
        state.draining.store(true, Ordering::Relaxed);
        let drain = tokio::time::sleep(options.drain);
        tokio::pin!(drain);
        loop {
            tokio::select! {
                _ = &mut drain => break,
                more = ctx.one(&listener) => if more.is_none() { break },
            }
        }
        drop(listener);
        // A connection accepted moments ago may not have sent its request yet, and would
        // look idle to the graceful shutdown below, which closes idle connections: give
        // such requests time to arrive (they are answered with `Connection: close`).
        tokio::time::sleep(LINGER.min(options.drain)).await;
        for task in [reloader, metrics_server].into_iter().flatten() {
            task.abort();
        }
        match tokio::time::timeout(options.shutdown_timeout, ctx.graceful.shutdown()).await {
            Ok(()) => tracing::info!("all connections closed"),
            Err(_) => tracing::warn!("in-flight requests did not finish in time; closing"),
        }
    }
}

/// Watches the directories holding the certificate files; events only wake the reload
/// loop, which re-reads and validates as on a poll.
fn watch_dirs(
    files: &CertFiles,
    tx: tokio::sync::mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = tx.try_send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the certificate directory; polling only");
            return None;
        }
    };
    let mut dirs: Vec<&std::path::Path> = [&files.cert, &files.key]
        .iter()
        .filter_map(|p| p.parent())
        .map(|d| {
            if d.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                d
            }
        })
        .collect();
    dirs.dedup();
    for dir in dirs {
        if let Err(e) = watcher.watch(dir, notify::RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch; polling only");
        }
    }
    Some(watcher)
}

/// What accepting a connection needs.
struct Accept {
    connections: Arc<Semaphore>,
    acceptor: TlsAcceptor,
    app: axum::Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    graceful: GracefulShutdown,
}

impl Accept {
    /// Accepts one connection and serves it in its own task; `None` when closed.
    async fn one(&self, listener: &TcpListener) -> Option<()> {
        let permit = self.connections.clone().acquire_owned().await.ok()?;
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: back off rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Some(());
            }
        };
        let _ = tcp.set_nodelay(true);
        let watcher = self.graceful.watcher();
        let (acceptor, app, builder) = (
            self.acceptor.clone(),
            self.app.clone(),
            self.builder.clone(),
        );
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = TowerToHyperService::new(app);
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
        Some(())
    }
}

/// Re-reads the certificate files when their directories change (the `..data` swap shows
/// up as a rename there) and every `every` in any case, swapping in valid changes.
async fn reload_loop(certs: Arc<CertStore>, files: CertFiles, every: Duration, watch: bool) {
    let (tx, mut changed) = tokio::sync::mpsc::channel::<()>(1);
    // Kept alive for the loop's lifetime; without it, polling alone still reloads.
    let _watcher = if watch { watch_dirs(&files, tx) } else { None };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(()) = changed.recv() => {
                // Let the writer finish its swap before reading.
                tokio::time::sleep(Duration::from_millis(50)).await;
                while changed.try_recv().is_ok() {}
            }
        }
        let certs = certs.clone();
        let files = files.clone();
        let result = tokio::task::spawn_blocking(move || {
            let r = certs.reload_from(&files);
            (r, certs.not_after())
        })
        .await;
        match result {
            Ok((Ok(Reload::Reloaded), not_after)) => {
                tracing::info!(not_after, "serving certificate reloaded")
            }
            Ok((Ok(Reload::Unchanged), _)) => {}
            Ok((Err(e), _)) => {
                tracing::error!(error = %e, "new serving certificate refused; the previous one keeps serving");
                // A swap caught half-way (new certificate, old key) is refused too: look
                // again soon rather than at the next poll.
                tick.reset_after(every.min(Duration::from_secs(1)));
            }
            Err(e) => tracing::error!(error = %e, "certificate reload task failed"),
        }
    }
}
