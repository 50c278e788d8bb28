//! Serving one connection to its end: the first request must come in time, and once the
//! server starts closing, the connection finishes what it is answering and closes.
//!
//! One hand-written future around hyper's connection watches both. It is polled on every
//! read and write of every connection, so it is kept cheap there:
//!
//! - the first-request timer is dropped as soon as a request arrives, rather than staying
//!   armed (and polled) until it would have fired;
//! - closing is a flag, written once and otherwise only read, plus a waker per connection
//!   in a slot only that connection writes, so that idle connections hear of it. No lock
//!   is shared between connections on the request path (hyper-util's `GracefulShutdown`
//!   locks one mutex shared by all of them on every poll).

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
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

/// A connection that can be asked to answer what it is answering and close: hyper's
/// (whose trait is sealed), or a stand-in in the tests.
pub(crate) trait Graceful: Future {
    /// Starts closing.
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<C: GracefulConnection> Graceful for C {
    fn graceful_shutdown(self: Pin<&mut Self>) {
        GracefulConnection::graceful_shutdown(self);
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
pub(crate) async fn serve<C: Graceful>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Waker};

    /// A connection that stays open until asked to close, like an idle kept-alive one.
    #[derive(Default)]
    struct Idle {
        asked_to_close: bool,
        waker: Option<Waker>,
    }

    impl Future for Idle {
        type Output = &'static str;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
            if self.asked_to_close {
                return Poll::Ready("closed gracefully");
            }
            self.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    impl Graceful for Idle {
        fn graceful_shutdown(mut self: Pin<&mut Self>) {
            self.asked_to_close = true;
        }
    }

    const LONG: Duration = Duration::from_secs(30);
    const SHORT: Duration = Duration::from_millis(50);

    async fn served(
        closing: Arc<Closing>,
        seen: bool,
        first_request: Duration,
    ) -> Ended<&'static str> {
        let seen = AtomicBool::new(seen);
        serve(Idle::default(), &closing, &seen, first_request).await
    }

    #[tokio::test]
    async fn closing_ends_an_idle_connection_gracefully() {
        let closing = Arc::new(Closing::default());
        let task = tokio::spawn(served(closing.clone(), true, LONG));
        tokio::time::sleep(SHORT).await;
        assert!(!task.is_finished(), "ended before the server closed");
        closing.close();
        let ended = tokio::time::timeout(Duration::from_secs(5), task).await;
        assert!(
            matches!(ended, Ok(Ok(Ended::Served("closed gracefully")))),
            "{ended:?}"
        );
        assert!(
            closing.open.lock().expect("lock").is_empty(),
            "still registered"
        );
    }

    #[tokio::test]
    async fn a_connection_opened_after_closing_ends_at_once() {
        let closing = Arc::new(Closing::default());
        closing.close();
        let ended = tokio::time::timeout(SHORT, served(closing, true, LONG)).await;
        assert!(matches!(ended, Ok(Ended::Served(_))), "{ended:?}");
    }

    #[tokio::test]
    async fn no_request_in_time_ends_the_connection() {
        let closing = Arc::new(Closing::default());
        let ended =
            tokio::time::timeout(Duration::from_secs(5), served(closing, false, SHORT)).await;
        assert!(matches!(ended, Ok(Ended::NoRequest)), "{ended:?}");
    }

    #[tokio::test]
    async fn after_a_request_the_first_request_deadline_no_longer_applies() {
        let closing = Arc::new(Closing::default());
        let task = tokio::spawn(served(closing.clone(), true, SHORT));
        tokio::time::sleep(SHORT * 4).await;
        assert!(!task.is_finished(), "closed by the first-request deadline");
        closing.close();
        let ended = tokio::time::timeout(Duration::from_secs(5), task).await;
        assert!(matches!(ended, Ok(Ok(Ended::Served(_)))), "{ended:?}");
    }
}
