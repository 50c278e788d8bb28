//! The HTTPS webhook server: what kube-apiserver calls on every `kubectl apply` of an
//! ImageBasedGroupUpgrade. The decisions are [`admission`](crate::admission)'s, unchanged;
//! this module adapts the network to them.
//!
//! Connections: TLS handshakes and request headers are bounded in time, the number of
//! open connections is capped, and HTTP/1.1 and HTTP/2 are served on one port (hyper-util's
//! `auto` builder, which reads the protocol from the connection's preface).
//!
//! Slow and idle clients (slowloris) are cut by time:
//!
//! - the TLS handshake must finish within [`Options::handshake_timeout`] (10 s);
//! - then the first request's headers must arrive within [`Options::header_timeout`]
//!   (10 s), whatever the protocol: a timer per connection until its first request, and
//!   for HTTP/1.1 hyper's header timeout, which also closes a kept-alive connection idle
//!   that long between requests and cuts headers sent a byte at a time;
//! - a body must arrive within the request's deadline (the apiserver's `?timeout=`,
//!   at most 30 s), see [`routes`];
//! - at most [`Options::max_connections`] connections (1024) are open at once, more
//!   wait in the listen backlog; one source IP may hold at most
//!   [`Options::max_connections_per_ip`] of them (512), more are closed once accepted
//!   ([`per_ip`] says why).
//!
//! Shutdown ([`Server::run`]'s `shutdown` future, SIGTERM or SIGINT in `serve`): readiness
//! turns false, responses carry `Connection: close` for the drain period so the
//! apiserver's kept-alive connections move to another pod, then the listener closes,
//! connections accepted just before get a moment to send their request, and hyper-util's
//! graceful shutdown lets in-flight requests finish within a bound before `run` returns.

pub mod logs;
pub mod lookup;
pub mod metrics;
mod per_ip;
pub mod routes;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::service::Service as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use self::lookup::SecretLookups;
use self::metrics::Metrics;
use self::per_ip::{IpSlot, PerIp};
use self::tls::{CertFiles, CertStore, Reload};
use crate::policy::Config;
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
    /// Open connections at once; more wait to be accepted.
    pub max_connections: usize,
    /// Open connections from one source IP; more are closed once accepted.
    pub max_connections_per_ip: usize,
    /// Request body bytes buffered at once across all requests (at least the 7 MiB
    /// largest body); requests that cannot reserve their body in time get a 503.
    pub body_budget: usize,
    /// How long a client may take to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// How long a client may take to send a request's headers after the handshake, or
    /// after the previous response on a kept-alive HTTP/1.1 connection.
    pub header_timeout: Duration,
    /// The log writer's count of lines it dropped, for `/metrics` and a log line once it
    /// catches up; `None` when the logs are not written through one.
    pub dropped_log_lines: Option<tracing_appender::non_blocking::ErrorCounter>,
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
            max_connections: 1024,
            max_connections_per_ip: 512,
            body_budget: routes::DEFAULT_BODY_BUDGET,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            header_timeout: HEADER_TIMEOUT,
            dropped_log_lines: None,
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
    #[error("listening on {addr} for {listener}: {source}")]
    Bind {
        /// Which listener: `HTTPS` or `metrics`.
        listener: &'static str,
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

/// How long a client may take to finish the TLS handshake, by default (Go's TLS clients
/// give up after 10 s too).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connections accepted just before the listener closed get to send a request.
const LINGER: Duration = Duration::from_secs(1);
/// How long a client may take to send a request's headers, by default.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest HTTP/1.1 read buffer per connection (hyper's default is about 400 KiB):
/// bounds what each of up to 1024 connections holds while reading; headers fit easily.
const H1_MAX_BUF: usize = 64 * 1024;
/// HTTP/2 flow-control windows: what a client may send before the server reads it, per
/// connection and per stream (hyper's defaults are 1 MiB each).
const H2_WINDOW: u32 = 256 * 1024;

impl Server {
    /// Binds the listener and builds the TLS configuration around `certs`.
    pub async fn bind(options: Options, certs: Arc<CertStore>) -> Result<Self, ServerError> {
        let config = tls::server_config(certs.clone(), options.client_ca.as_deref())?;
        let listener =
            TcpListener::bind(options.addr)
                .await
                .map_err(|source| ServerError::Bind {
                    listener: "HTTPS",
                    addr: options.addr,
                    source,
                })?;
        let metrics_listener = match options.metrics_addr {
            None => None,
            Some(addr) => {
                Some(
                    TcpListener::bind(addr)
                        .await
                        .map_err(|source| ServerError::Bind {
                            listener: "metrics",
                            addr,
                            source,
                        })?,
                )
            }
        };
        let state = Arc::new(AppState {
            policy: options.policy.clone(),
            metrics: Arc::new(Metrics::new(
                certs.clone(),
                options.dropped_log_lines.clone(),
            )),
            hub: options.hub.clone().map(|c| Arc::new(SecretLookups::new(c))),
            certs,
            ready: true.into(),
            draining: false.into(),
            body_budget: Arc::new(Semaphore::new(
                options
                    .body_budget
                    .clamp(routes::MAX_BODY_BYTES, Semaphore::MAX_PERMITS),
            )),
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
        let drops = options
            .dropped_log_lines
            .clone()
            .map(|counter| tokio::spawn(logs::report_dropped(counter, logs::DROP_CHECK_INTERVAL)));
        let reloader = options.cert_files.clone().map(|files| {
            let certs = state.certs.clone();
            let (every, watch) = (options.reload_interval, options.watch_cert_dir);
            tokio::spawn(async move { reload_loop(certs, files, every, watch).await })
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_timeout)
            .max_buf_size(H1_MAX_BUF);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .initial_connection_window_size(H2_WINDOW)
            .initial_stream_window_size(H2_WINDOW);

        let graceful = GracefulShutdown::new();
        let ctx = Accept {
            connections: Arc::new(Semaphore::new(options.max_connections.max(1))),
            per_ip: PerIp::new(options.max_connections_per_ip),
            acceptor,
            app,
            builder: Arc::new(builder),
            handshake_timeout: options.handshake_timeout,
            header_timeout: options.header_timeout,
        };
        ctx.until(&listener, &graceful, shutdown).await;

        // Drain: not ready, `Connection: close` on every response, still accepting.
        tracing::info!(
            drain_seconds = options.drain.as_secs_f64(),
            "shutting down: draining connections"
        );
        state.ready.store(false, Ordering::Relaxed);
        state.draining.store(true, Ordering::Relaxed);
        let drain = tokio::time::sleep(options.drain);
        ctx.until(&listener, &graceful, drain).await;
        drop(listener);
        // A connection accepted moments ago may not have sent its request yet, and would
        // look idle to the graceful shutdown below, which closes idle connections: give
        // such requests time to arrive (they are answered with `Connection: close`).
        tokio::time::sleep(LINGER.min(options.drain)).await;
        for task in [reloader, metrics_server, drops].into_iter().flatten() {
            task.abort();
        }
        // Every connection, from its handshake on, holds a watcher: the shutdown ends
        // once each has finished what it is answering and closed.
        match tokio::time::timeout(options.shutdown_timeout, graceful.shutdown()).await {
            Ok(()) => tracing::info!("all connections closed"),
            Err(_) => tracing::warn!("in-flight requests did not finish in time; closing"),
        }
    }
}

/// Whether a watch event can mean new contents: a file created, written, renamed or
/// removed. Opening and reading are not (inotify reports every open): the reload opens
/// both files, and counting that as a change woke the loop again 50 ms later, forever,
/// re-reading the pair about 20 times a second on an idle server.
fn is_change(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Watches the directories holding the certificate files; changes only wake the reload
/// loop, which re-reads and validates as on a poll.
fn watch_dirs(
    files: &CertFiles,
    tx: tokio::sync::mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && is_change(&event.kind)
        {
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
    per_ip: Arc<PerIp>,
    acceptor: TlsAcceptor,
    app: axum::Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    handshake_timeout: Duration,
    header_timeout: Duration,
}

impl Accept {
    /// Accepts connections, each served in its own task and watched by `graceful`,
    /// until `stop` completes.
    async fn until(
        &self,
        listener: &TcpListener,
        graceful: &GracefulShutdown,
        stop: impl Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                () = self.one(listener, graceful.watcher()) => {}
            }
        }
    }

    /// Accepts one connection, once one of [`Options::max_connections`] is free.
    async fn one(&self, listener: &TcpListener, watcher: Watcher) {
        // The semaphore is never closed.
        let Ok(permit) = self.connections.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let Some(slot) = self.per_ip.admit(peer.ip()) else {
                    let max = self.per_ip.max;
                    return tracing::debug!(%peer, max, "connection refused: too many from this IP");
                };
                let _ = tcp.set_nodelay(true);
                tokio::spawn(self.serve(tcp, peer, (permit, slot), watcher));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// Serves one accepted connection to its end.
    fn serve(
        &self,
        tcp: tokio::net::TcpStream,
        peer: SocketAddr,
        permits: (OwnedSemaphorePermit, IpSlot),
        watcher: Watcher,
    ) -> impl Future<Output = ()> + Send + 'static {
        let (acceptor, app, builder) = (
            self.acceptor.clone(),
            self.app.clone(),
            self.builder.clone(),
        );
        let (handshake_timeout, header_timeout) = (self.handshake_timeout, self.header_timeout);
        async move {
            let _permits = permits;
            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            // Told of every request: until the first, the connection is cut after the
            // header timeout (hyper's own covers HTTP/1.1 only, and not before the
            // protocol is known).
            let requested = Arc::new(Notify::new());
            let service = {
                let (requested, inner) = (requested.clone(), TowerToHyperService::new(app));
                hyper::service::service_fn(move |request| {
                    requested.notify_one();
                    inner.call(request)
                })
            };
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            let conn = watcher.watch(conn.into_owned());
            tokio::pin!(conn);
            let ended = tokio::select! {
                ended = &mut conn => ended,
                first = tokio::time::timeout(header_timeout, requested.notified()) => match first {
                    Ok(()) => conn.await,
                    Err(_) => return tracing::debug!(%peer, "no request in time; closing"),
                },
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_the_certificate_files_does_not_count_as_a_change() {
        let dir = std::env::temp_dir().join(format!("ibgu-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let files = CertFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
        };
        std::fs::write(&files.cert, "cert").expect("cert");
        std::fs::write(&files.key, "key").expect("key");
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let watcher = watch_dirs(&files, tx).expect("watcher");
        let settle = || std::thread::sleep(Duration::from_millis(200));
        settle();
        while rx.try_recv().is_ok() {}
        for _ in 0..3 {
            let _ = std::fs::read(&files.cert).expect("read");
            let _ = std::fs::read(&files.key).expect("read");
        }
        settle();
        assert!(rx.try_recv().is_err(), "a read woke the reload loop");
        std::fs::write(dir.join("..data_tmp"), "new").expect("write");
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).expect("rename");
        settle();
        assert!(rx.try_recv().is_ok(), "a swap did not wake the reload loop");
        drop(watcher);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
