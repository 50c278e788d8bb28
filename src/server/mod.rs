//! The HTTPS webhook server: what kube-apiserver calls on every `kubectl apply` of an
//! ImageBasedGroupUpgrade. The decisions are [`admission`](crate::admission)'s, unchanged;
//! this module adapts the network to them.
//!
//! Connections: TLS handshakes and request headers are bounded in time, the number of
//! open connections is capped, and HTTP/1.1 and HTTP/2 are served on one port by ALPN.
//!
//! Slow and idle clients (slowloris) are cut by time, and cannot take every connection:
//!
//! - the TLS handshake must finish within [`Options::handshake_timeout`] (10 s);
//! - then the first request's headers must arrive within [`Options::header_timeout`]
//!   (10 s), whichever protocol ALPN chose: HTTP/1.1 through hyper's header timeout
//!   (which also closes a kept-alive connection idle that long between requests, and cuts
//!   headers sent a byte at a time), HTTP/2 and clients without ALPN through a per-
//!   connection watchdog. (Before, a client that finished TLS and then said nothing was
//!   held forever by hyper-util's protocol detection, which has no timeout.) The protocol
//!   is taken from ALPN rather than sniffed when the client offers it;
//! - a body must arrive within the request's deadline (the apiserver's `?timeout=`,
//!   at most 30 s), see [`routes`];
//! - one source IP may hold at most [`Options::max_connections_per_ip`] of the
//!   [`Options::max_connections`] connections (512 of 1024 by default); connections
//!   over that are closed as soon as they are accepted.
//!
//! Why a per-IP cap rather than, say, a separate cap on connections that have not sent
//! a request yet: any cap on a shared pool is filled by the attacker first, and then the
//! apiserver's new connections wait in the backlog with everyone else's. A per-IP cap
//! keeps half the pool for other sources whatever one source does. The apiserver calls
//! from a few addresses (its nodes, or one konnectivity agent) over HTTP/2, one or two
//! connections each, or over kept-alive HTTP/1.1 with one connection per concurrent call
//! (hundreds at most), so half the pool per address never limits it. An attacker
//! spread over many addresses is still limited by the timeouts and the global cap.
//!
//! Shutdown ([`Server::run`]'s `shutdown` future, SIGTERM or SIGINT in `serve`): readiness
//! turns false, responses carry `Connection: close` for the drain period so the
//! apiserver's kept-alive connections move to another pod, then the listener closes,
//! connections accepted just before get a moment to send their request, in-flight
//! requests finish within a bound, and `run` returns.

mod connection;
pub mod logs;
pub mod lookup;
pub mod metrics;
pub mod routes;
pub mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::service::Service as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use self::lookup::SecretLookups;
use self::metrics::Metrics;
use self::tls::{CertFiles, CertStore, Reload};
use crate::policy::Config;
use connection::{Closing, Ended};
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
        let closing = Arc::new(Closing::default());
        // A u32: shutdown takes every permit back in one `acquire_many`.
        let max_connections = u32::try_from(options.max_connections.max(1)).unwrap_or(u32::MAX);
        let connections = Arc::new(Semaphore::new(max_connections as usize));
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
        let builders = Arc::new(Builders {
            h1: builder.clone().http1_only(),
            h2: builder.clone().http2_only(),
            sniff: builder,
        });

        let ctx = Accept {
            connections,
            per_ip: Arc::new(PerIp {
                max: options.max_connections_per_ip.max(1),
                open: std::sync::Mutex::new(HashMap::new()),
            }),
            acceptor,
            app,
            builders,
            closing,
            handshake_timeout: options.handshake_timeout,
            header_timeout: options.header_timeout,
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
        for task in [reloader, metrics_server, drops].into_iter().flatten() {
            task.abort();
        }
        // Every connection finishes what it is answering, then closes; each holds a
        // connection permit until its task ends, so all permits back means all closed.
        ctx.closing.close();
        let closed = ctx.connections.acquire_many(max_connections);
        match tokio::time::timeout(options.shutdown_timeout, closed).await {
            Ok(_) => tracing::info!("all connections closed"),
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

/// The connection builders: by ALPN, and sniffing for clients that offered none.
struct Builders {
    h1: auto::Builder<TokioExecutor>,
    h2: auto::Builder<TokioExecutor>,
    sniff: auto::Builder<TokioExecutor>,
}

/// Open connections per source IP.
struct PerIp {
    max: usize,
    open: std::sync::Mutex<HashMap<IpAddr, usize>>,
}

impl PerIp {
    /// Counts a connection from `ip`; `None` when that IP is at its cap.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            per_ip: self.clone(),
            ip,
        })
    }
}

/// One connection counted against its IP; uncounted when dropped.
struct IpSlot {
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.per_ip.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// What accepting a connection needs.
struct Accept {
    connections: Arc<Semaphore>,
    per_ip: Arc<PerIp>,
    acceptor: TlsAcceptor,
    app: axum::Router,
    builders: Arc<Builders>,
    /// Closed when the server stops; every connection watches it.
    closing: Arc<Closing>,
    handshake_timeout: Duration,
    header_timeout: Duration,
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
        let Some(ip_slot) = self.per_ip.admit(peer.ip()) else {
            tracing::debug!(%peer, max = self.per_ip.max, "connection refused: too many from this IP");
            return Some(());
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, app, builders, closing) = (
            self.acceptor.clone(),
            self.app.clone(),
            self.builders.clone(),
            self.closing.clone(),
        );
        let (handshake_timeout, header_timeout) = (self.handshake_timeout, self.header_timeout);
        tokio::spawn(async move {
            let _permits = (permit, ip_slot);
            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
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
            let builder = match tls.get_ref().1.alpn_protocol() {
                Some(b"h2") => &builders.h2,
                Some(_) => &builders.h1,
                None => &builders.sniff,
            };
            // Set by the first request: the watchdog below closes connections that send
            // none in time (hyper's own header timeout covers HTTP/1.1 only once it has
            // started, not HTTP/2 nor protocol sniffing).
            let seen = Arc::new(AtomicBool::new(false));
            let service = {
                let (seen, inner) = (seen.clone(), TowerToHyperService::new(app));
                hyper::service::service_fn(move |request| {
                    if !seen.load(Ordering::Relaxed) {
                        seen.store(true, Ordering::Relaxed);
                    }
                    inner.call(request)
                })
            };
            let conn = builder
                .serve_connection(TokioIo::new(tls), service)
                .into_owned();
            let ended = match connection::serve(conn, &closing, &seen, header_timeout).await {
                Ended::Served(ended) => ended,
                Ended::NoRequest => {
                    tracing::debug!(%peer, "no request in time; closing");
                    return;
                }
            };
            if let Err(e) = ended {
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

    #[test]
    fn per_ip_slots_are_capped_and_given_back() {
        let per_ip = Arc::new(PerIp {
            max: 2,
            open: std::sync::Mutex::new(HashMap::new()),
        });
        let a = IpAddr::from([127, 0, 0, 2]);
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().expect("ip");
        let first = per_ip.admit(a).expect("first");
        let second = per_ip
            .admit(mapped)
            .expect("second: the same IP, IPv4-mapped");
        assert!(per_ip.admit(a).is_none(), "a third from the same IP");
        assert!(per_ip.admit(IpAddr::from([127, 0, 0, 1])).is_some());
        drop(first);
        let third = per_ip.admit(a).expect("a slot given back");
        drop((second, third));
        assert!(
            per_ip.open.lock().expect("lock").is_empty(),
            "no entry left for closed connections"
        );
    }
}
