//! Serving one connection to its end: the first request must come in time, and once the
//! server starts closing, the connection finishes what it is answering and closes.
//!
//! Both are watched by one hand-written future around hyper's connection, because it is
//! polled on every read and write of every connection, and what it costs there is paid on
//! every request:
//!
//! - The first-request watchdog's timer is dropped as soon as a request arrives. (It was
//!   a `select!` against a 10 s sleep that stayed armed, and was polled, for 10 s.)
//! - Closing is a flag read on each poll, plus a waker kept per connection so that idle
//!   connections hear of it. hyper-util's `GracefulShutdown` locks one mutex shared by
//!   every connection on each poll (its watch channel's waiter list); a cancellation
//!   token per connection locks that connection's own waiter list instead. A flag that is
//!   only ever written once is read from each core's cache, and the waker is stored in a
//!   slot only its connection writes.

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures::task::AtomicWaker;
use hyper_util::server::graceful::GracefulConnection;

/// Tells every open connection that the server is closing.
#[derive(Default)]
pub(crate) struct Closing {
    closing: AtomicBool,
    next_id: AtomicU64,
    /// The waker of every open connection, by id.
    open: Mutex<HashMap<u64, Arc<AtomicWaker>>>,
}

impl Closing {
    /// Starts closing: every connection, idle or not, is woken to close.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        for waker in open.values() {
            waker.wake();
        }
    }

    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    fn register(self: &Arc<Self>) -> Registered {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let waker = Arc::new(AtomicWaker::new());
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, waker.clone());
        Registered {
            closing: self.clone(),
            id,
            waker,
        }
    }
}

/// One connection's place in [`Closing`]; removed when dropped.
struct Registered {
    closing: Arc<Closing>,
    id: u64,
    waker: Arc<AtomicWaker>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.closing
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// How a connection ended.
#[derive(Debug)]
pub(crate) enum Ended<T> {
    /// hyper finished serving it, with this result.
    Served(T),
    /// No request came within the first-request deadline.
    NoRequest,
}

/// Serves `conn` until it ends. Until `seen` is set (by the first request), it is closed
/// after `first_request`. Once `closing` closes, it answers what it is answering and ends
/// (an idle connection ends at once).
pub(crate) async fn serve<C: GracefulConnection>(
    conn: C,
    closing: &Arc<Closing>,
    seen: &AtomicBool,
    first_request: Duration,
) -> Ended<C::Output> {
    let registered = closing.register();
    let mut conn = pin!(conn);
    let mut watchdog = pin!(Some(tokio::time::sleep(first_request)));
    let mut shutting_down = false;
    poll_fn(|cx| {
        if !shutting_down {
            // Registered before the flag is read: a `close` after this poll's read wakes
            // this waker, and one before it is seen by the read.
            registered.waker.register(cx.waker());
            if closing.is_closing() {
                conn.as_mut().graceful_shutdown();
                shutting_down = true;
            }
        }
        if let Poll::Ready(out) = conn.as_mut().poll(cx) {
            return Poll::Ready(Ended::Served(out));
        }
        if let Some(sleep) = watchdog.as_mut().as_pin_mut() {
            if seen.load(Ordering::Relaxed) {
                watchdog.set(None);
            } else if sleep.poll(cx).is_ready() {
                return Poll::Ready(Ended::NoRequest);
            }
        }
        Poll::Pending
    })
    .await
}
