//! Knobs every mock shares: an artificial response delay, a queue of
//! planned failures, and a counter of accepted messages tests can wait on.
//! Also the small server handle that stops a mock when it is dropped.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use axum::response::Response;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A failure the next requests should get instead of being processed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlannedFailure {
    pub status: u16,
    pub retry_after: Option<Duration>,
}

#[derive(Debug)]
pub(crate) struct Control {
    delay: Mutex<Duration>,
    /// Planned failures in the order they will be served.
    failures: Mutex<VecDeque<PlannedFailure>>,
    accepted: watch::Sender<usize>,
    requests: Mutex<usize>,
    /// When each request arrived and the planned failure status it got,
    /// so rate tests can count requests per time window.
    arrivals: Mutex<Vec<Arrival>>,
}

/// One request as the mock saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    pub at: Instant,
    /// The status of a planned failure, `None` when it was processed.
    pub refused: Option<u16>,
}

impl Control {
    pub fn new() -> Self {
        Control {
            delay: Mutex::new(Duration::ZERO),
            failures: Mutex::new(VecDeque::new()),
            accepted: watch::Sender::new(0),
            requests: Mutex::new(0),
            arrivals: Mutex::new(Vec::new()),
        }
    }

    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.delay) = delay;
    }

    /// Sleeps for the configured delay. Mocks call it after doing the work
    /// and before answering, which is the window in which a real provider
    /// has accepted a message but the client has not heard back yet.
    pub async fn pause(&self) {
        let delay = *lock(&self.delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    /// Queues `count` failures after any already planned, so a test can
    /// script "503, then 429 with Retry-After, then success".
    pub fn fail_next(&self, count: usize, status: u16, retry_after: Option<Duration>) {
        let failure = PlannedFailure {
            status,
            retry_after,
        };
        lock(&self.failures).extend(std::iter::repeat_n(failure, count));
    }

    /// Consumes one planned failure, if any are left, for the request
    /// `count_request` numbered `arrival`.
    pub fn take_failure(&self, arrival: usize) -> Option<PlannedFailure> {
        let failure = lock(&self.failures).pop_front();
        if let Some(f) = failure
            && let Some(a) = lock(&self.arrivals).get_mut(arrival)
        {
            a.refused = Some(f.status);
        }
        failure
    }

    /// Called first by every handler: counts and timestamps the request;
    /// returns its number for `take_failure`.
    pub fn count_request(&self) -> usize {
        *lock(&self.requests) += 1;
        let mut arrivals = lock(&self.arrivals);
        arrivals.push(Arrival {
            at: Instant::now(),
            refused: None,
        });
        arrivals.len() - 1
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.arrivals).clone()
    }

    pub fn requests(&self) -> usize {
        *lock(&self.requests)
    }

    pub fn accept(&self) {
        self.accepted.send_modify(|n| *n += 1);
    }

    pub fn accepted(&self) -> usize {
        *self.accepted.borrow()
    }

    pub async fn wait_for(&self, count: usize, timeout: Duration) -> bool {
        let mut rx = self.accepted.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|n| *n >= count))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Mock state stays usable after a panicking test thread poisoned a lock.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running mock server; dropping it stops accepting connections.
#[derive(Debug)]
pub(crate) struct Server {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// Binds an ephemeral loopback port; mocks that must know their own
    /// address before building routes call this first.
    pub async fn listen() -> (tokio::net::TcpListener, SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the mock");
        let addr = listener.local_addr().expect("mock listener address");
        (listener, addr)
    }

    /// Serves `router` on `listener`, HTTP/1.1 and h2c alike, with
    /// TCP_NODELAY as providers' front ends do: without it an HTTP/2
    /// answer written in two frames waits for the client's delayed ACK
    /// (40 ms on Linux) whenever the connection goes quiet.
    pub fn serve(
        listener: tokio::net::TcpListener,
        addr: SocketAddr,
        router: axum::Router,
    ) -> Server {
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::warn!("mock server stopped: {e}");
            }
        });
        Server { addr, task }
    }

    pub async fn http(router: axum::Router) -> Server {
        let (listener, addr) = Self::listen().await;
        Self::serve(listener, addr, router)
    }

    pub fn spawned(addr: SocketAddr, task: JoinHandle<()>) -> Server {
        Server { addr, task }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A random lowercase hex string, for sids and ids the mocks hand out.
/// Arrival times grouped by key, for the mocks' `accepted_at`; entries
/// without a key are left out.
pub(crate) fn group_times<K: Hash + Eq>(
    entries: impl IntoIterator<Item = (Instant, Option<K>)>,
) -> HashMap<K, Vec<Instant>> {
    let mut times: HashMap<K, Vec<Instant>> = HashMap::new();
    for (at, key) in entries {
        if let Some(k) = key {
            times.entry(k).or_default().push(at);
        }
    }
    times
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("operating system randomness");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Adds `Retry-After: <secs>` when a planned failure asks for it.
pub(crate) fn with_retry_after(mut response: Response, retry_after: Option<Duration>) -> Response {
    if let Some(wait) = retry_after {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            wait.as_secs()
                .to_string()
                .parse()
                .expect("digits are a valid header"),
        );
    }
    response
}

pub(crate) fn content_type_is(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}
