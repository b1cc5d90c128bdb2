//! Fixtures read from `tests/fixtures/`, clients pointed at loopback servers, clocks
//! that do not sleep (one whose timeouts fire only when a test moves it), and a
//! scripted loopback server for fault sequences.

use std::{
    io::Write,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use ec_billing::{policy::Clock, policy::Sleep};

use reqwest::header::{AUTHORIZATION, HeaderValue};

/// An API key that must never show up anywhere but the `Authorization` header.
pub(crate) const CANARY_KEY: &str = "canary-key-7c1e5a9f";

/// The text of a fixture file.
pub(crate) fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// A fixture parsed as JSON.
pub(crate) fn fixture_json(name: &str) -> serde_json::Value {
    serde_json::from_str(&fixture(name)).expect("fixture is valid JSON")
}

/// A generated client for `base_url` that authenticates with [`CANARY_KEY`], and its
/// hooks, which record the head of the last response.
pub(crate) fn generated_client(
    base_url: &str,
) -> (ec_billing_api::Client, ec_billing_api::CallHooks) {
    let mut auth = HeaderValue::from_str(&format!("ApiKey {CANARY_KEY}")).expect("valid header");
    auth.set_sensitive(true);
    let hooks = ec_billing_api::CallHooks::new().with_header(AUTHORIZATION, auth);
    (ec_billing_api::Client::new(base_url, hooks.clone()), hooks)
}

/// A UTC instant from an RFC 3339 literal.
pub(crate) fn ts(text: &str) -> jiff::Timestamp {
    text.parse().expect("valid RFC 3339 timestamp")
}

/// A clock for retries that never really sleeps: it records each wait and moves its
/// own time forward by it.
#[derive(Debug)]
pub(crate) struct TestClock {
    now: Mutex<jiff::Timestamp>,
    sleeps: Mutex<Vec<Duration>>,
}

impl TestClock {
    /// A clock that reads `2024-06-01T00:00:00Z` until something sleeps.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            now: Mutex::new(ts("2024-06-01T00:00:00Z")),
            sleeps: Mutex::default(),
        })
    }

    /// Every wait asked for, in order.
    pub(crate) fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.lock().unwrap().clone()
    }
}

impl Clock for TestClock {
    fn now(&self) -> jiff::Timestamp {
        *self.now.lock().unwrap()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        self.sleeps.lock().unwrap().push(duration);
        let mut now = self.now.lock().unwrap();
        *now = now.checked_add(duration).expect("test time stays in range");
        Box::pin(async {})
    }
}

/// A clock on which nothing happens until a test says so: its time moves by the
/// waits asked of it (as [`TestClock`]'s) and by [`advance`](Self::advance), and its
/// timers (the client's read and attempt timeouts) fire only when its time passes
/// their end. A test of a bound then checks what the clock saw, exactly, not a window
/// of wall time.
#[derive(Debug)]
pub(crate) struct VirtualClock {
    state: tokio::sync::watch::Sender<VirtualTime>,
}

/// What a [`VirtualClock`] has seen.
#[derive(Clone, Debug)]
struct VirtualTime {
    now: jiff::Timestamp,
    /// Every timer asked for, in order.
    timers: Vec<Duration>,
}

impl VirtualClock {
    /// A clock at `2024-06-01T00:00:00Z`.
    pub(crate) fn new() -> Arc<Self> {
        let (state, _) = tokio::sync::watch::channel(VirtualTime {
            now: ts("2024-06-01T00:00:00Z"),
            timers: Vec::new(),
        });
        Arc::new(Self { state })
    }

    /// Moves its time forward by `by`, firing the timers that end by then.
    pub(crate) fn advance(&self, by: Duration) {
        self.state.send_modify(|time| {
            time.now = time.now.checked_add(by).expect("test time stays in range");
        });
    }

    /// How far its time has moved since it was made.
    pub(crate) fn elapsed(&self) -> Duration {
        let now = self.state.borrow().now;
        Duration::try_from(now.duration_since(ts("2024-06-01T00:00:00Z"))).expect("forward")
    }

    /// Every timer asked for, in order.
    pub(crate) fn timers(&self) -> Vec<Duration> {
        self.state.borrow().timers.clone()
    }

    /// Waits until `count` timers of `duration` have been asked for.
    pub(crate) async fn until_timers(&self, duration: Duration, count: usize) {
        let mut seen = self.state.subscribe();
        seen.wait_for(|time| time.timers.iter().filter(|t| **t == duration).count() >= count)
            .await
            .expect("the clock lives");
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> jiff::Timestamp {
        self.state.borrow().now
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        self.advance(duration);
        Box::pin(async {})
    }

    fn timer(&self, duration: Duration) -> Sleep {
        let mut end = None;
        self.state.send_modify(|time| {
            time.timers.push(duration);
            end = time.now.checked_add(duration).ok();
        });
        let mut seen = self.state.subscribe();
        Box::pin(async move {
            match end {
                Some(end) => {
                    let _ = seen.wait_for(|time| time.now >= end).await;
                }
                // Past the end of the time scale: never.
                None => std::future::pending().await,
            }
        })
    }
}

/// A wrapper client for `base_url` with [`CANARY_KEY`], the given clock, and retries
/// without jitter so that waits are exact.
pub(crate) fn wrapper_client(base_url: &str, clock: Arc<impl Clock>) -> ec_billing::Client {
    wrapper_builder(base_url, clock)
        .build()
        .expect("a valid configuration")
}

/// As [`wrapper_client`], for tests that configure more.
pub(crate) fn wrapper_builder(base_url: &str, clock: Arc<impl Clock>) -> ec_billing::ClientBuilder {
    ec_billing::Client::builder()
        .base_url(base_url)
        .api_key(CANARY_KEY.parse().expect("a valid key"))
        .attempt_timeout(Duration::from_secs(5))
        .retry_policy(
            ec_billing::policy::RetryPolicy::default()
                .with_jitter(ec_billing::policy::Jitter::None),
        )
        .clock(clock)
}

/// A simulator that accepts [`CANARY_KEY`] and injects `faults`.
pub(crate) async fn simulator(faults: ec_billing_sim::Faults) -> ec_billing_sim::RunningSimulator {
    ec_billing_sim::Simulator::new()
        .api_key(CANARY_KEY)
        .faults(faults)
        .start()
        .await
        .expect("the simulator starts")
}

/// Faults that answer every request with `fault`.
pub(crate) fn every_answer(fault: ec_billing_sim::Fault) -> ec_billing_sim::Faults {
    ec_billing_sim::Faults {
        share: 1.0,
        kinds: vec![fault],
        ..ec_billing_sim::Faults::default()
    }
}

/// Retries as [`wrapper_builder`] has them (no jitter), at most `count` attempts.
pub(crate) fn retries(count: u32) -> ec_billing::policy::RetryPolicy {
    ec_billing::policy::RetryPolicy::default()
        .with_jitter(ec_billing::policy::Jitter::None)
        .with_max_attempts(attempts(count))
}

/// A [`wrapper_client`] of `base_url` that makes at most `count` attempts per request.
pub(crate) fn client_with_attempts(base_url: &str, count: u32) -> ec_billing::Client {
    wrapper_builder(base_url, TestClock::new())
        .retry_policy(retries(count))
        .build()
        .expect("a valid configuration")
}

/// A concurrency limit (requests in flight).
pub(crate) fn in_flight(limit: usize) -> std::num::NonZeroUsize {
    std::num::NonZeroUsize::new(limit).expect("a limit above 0")
}

/// A number of attempts.
pub(crate) fn attempts(count: u32) -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(count).expect("a count above 0")
}

/// A decimal from its text.
pub(crate) fn dec(text: &str) -> ec_billing::Decimal {
    text.parse().expect("a valid decimal")
}

/// One scripted answer of a [`ScriptedServer`].
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// These bytes, then the connection is closed.
    Raw(Vec<u8>),
    /// The connection is closed without an answer.
    Hangup,
    /// Nothing for this long, then these bytes.
    Stall(Duration, Vec<u8>),
}

/// A complete HTTP/1.1 answer with `Content-Length` and `Connection: close`.
pub(crate) fn http(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
    Reply::Raw(http_bytes(status, headers, body, body.len()))
}

/// An answer whose `Content-Length` promises more body than is sent.
pub(crate) fn truncated(status: u16, body: &str, sent: usize) -> Reply {
    let mut bytes = http_bytes(status, &[], body, body.len());
    bytes.truncate(bytes.len() - body.len() + sent);
    Reply::Raw(bytes)
}

fn http_bytes(status: u16, headers: &[(&str, &str)], body: &str, length: usize) -> Vec<u8> {
    let mut head =
        format!("HTTP/1.1 {status} Status\r\ncontent-length: {length}\r\nconnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// A loopback HTTP server that answers each connection with the next reply of a
/// script (the last one repeats), and records each request's head.
#[derive(Debug)]
pub(crate) struct ScriptedServer {
    base_url: String,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedServer {
    pub(crate) async fn start(script: Vec<Reply>) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base_url = format!("http://{}/api/v1", listener.local_addr().expect("bound"));
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = requests.clone();
        let task = tokio::spawn(async move {
            let mut served = 0;
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let reply = script[served.min(script.len() - 1)].clone();
                served += 1;
                let log = log.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    log.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    match reply {
                        Reply::Raw(bytes) => {
                            let _ = socket.write_all(&bytes).await;
                        }
                        Reply::Hangup => {}
                        Reply::Stall(delay, bytes) => {
                            tokio::time::sleep(delay).await;
                            let _ = socket.write_all(&bytes).await;
                        }
                    }
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self {
            base_url,
            requests,
            task,
        }
    }

    /// The base URL, with the `/api/v1` prefix.
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The head of every request received, in order.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A writer for a tracing subscriber that keeps everything written.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Captures every event up to `level` on this thread until the guard is dropped
    /// (tests run on a current-thread runtime, so the client's events come here).
    pub(crate) fn install(&self, level: tracing::Level) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        // A callsite first hit by another test thread while this subscriber was being
        // installed can keep a stale "never" interest: ask again.
        tracing::callsite::rebuild_interest_cache();
        guard
    }

    /// Everything captured so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A loopback server whose every answer is `head` and then an endless body written as
/// fast as the client takes it (`pause` between pieces), counting the body bytes it
/// managed to send: to check that a client stops reading.
#[derive(Debug)]
pub(crate) struct EndlessServer {
    base_url: String,
    sent: Arc<std::sync::atomic::AtomicU64>,
    /// How many connections have ended (the client closed them).
    closed: tokio::sync::watch::Sender<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl EndlessServer {
    pub(crate) async fn start(head: &str, piece: &'static [u8], pause: Duration) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base_url = format!("http://{}/api/v1", listener.local_addr().expect("bound"));
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let head = head.replace('\n', "\r\n").into_bytes();
        let counter = sent.clone();
        let (closed, _) = tokio::sync::watch::channel(0);
        let ended = closed.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (head, counter, ended) = (head.clone(), counter.clone(), ended.clone());
                tokio::spawn(async move {
                    // Counted when this task ends, however it does.
                    struct Ended(tokio::sync::watch::Sender<usize>);
                    impl Drop for Ended {
                        fn drop(&mut self) {
                            self.0.send_modify(|closed| *closed += 1);
                        }
                    }
                    let _ended = Ended(ended);
                    let mut buf = [0u8; 4096];
                    let mut request = Vec::new();
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    if socket.write_all(&head).await.is_err() {
                        return;
                    }
                    while socket.write_all(piece).await.is_ok() {
                        counter.fetch_add(piece.len() as u64, Ordering::Relaxed);
                        if !pause.is_zero() {
                            tokio::time::sleep(pause).await;
                        }
                    }
                });
            }
        });
        Self {
            base_url,
            sent,
            closed,
            task,
        }
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Body bytes written so far.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until `count` connections have ended: then [`sent`](Self::sent) is final
    /// for them.
    pub(crate) async fn until_closed(&self, count: usize) {
        let mut closed = self.closed.subscribe();
        closed
            .wait_for(|closed| *closed >= count)
            .await
            .expect("the server lives");
    }
}

impl Drop for EndlessServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A directory of its own under the system's temporary one, removed when dropped.
#[derive(Debug)]
pub(crate) struct TempDir(std::path::PathBuf);

impl TempDir {
    /// A new, empty directory named after `name` (a test's), this process and a counter.
    pub(crate) fn new(name: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("ec-billing-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temporary directory");
        Self(path)
    }

    /// `name` inside it.
    pub(crate) fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The environment variable that names a PostgreSQL server for the ledger's tests
/// (e.g. `postgres://postgres@127.0.0.1:5432/postgres`); each test makes a database of
/// its own there, and drops it.
pub(crate) const POSTGRES_VARIABLE: &str = "EC_BILLING_TEST_POSTGRES";

/// Where a test keeps a ledger: a SQLite file in a folder of its own, or a PostgreSQL
/// database of its own (dropped with this).
#[derive(Debug)]
pub(crate) enum TestStore {
    Sqlite(TempDir),
    Postgres(TestDatabase),
}

impl TestStore {
    /// What `Ledger::open` takes: a file path or a URL.
    pub(crate) fn location(&self) -> String {
        match self {
            Self::Sqlite(dir) => dir.join("costs.db").display().to_string(),
            Self::Postgres(db) => db.url.clone(),
        }
    }

    /// `sqlite` or `postgres`, for messages.
    pub(crate) fn engine(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Says which store a failing test ran on, when dropped by its panic.
    pub(crate) fn named_if_failing(&self) -> NamedIfFailing {
        NamedIfFailing(self.engine())
    }
}

/// See [`TestStore::named_if_failing`].
#[derive(Debug)]
pub(crate) struct NamedIfFailing(&'static str);

impl Drop for NamedIfFailing {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(the failing test ran on {})", self.0);
        }
    }
}

/// The stores a ledger test runs on: SQLite always; PostgreSQL when
/// [`POSTGRES_VARIABLE`] names a server (once per run, one line on the terminal says
/// whether they ran).
pub(crate) async fn stores(name: &str) -> Vec<TestStore> {
    let mut stores = vec![TestStore::Sqlite(TempDir::new(name))];
    match std::env::var(POSTGRES_VARIABLE) {
        Ok(server) if !server.is_empty() => {
            say_once(&format!(
                "note: the ledger's tests ran on PostgreSQL too ({})",
                ec_billing::text::redact_url(&server)
            ));
            stores.push(TestStore::Postgres(
                TestDatabase::create(&server, name).await,
            ));
        }
        _ => say_once(&format!(
            "note: the ledger's PostgreSQL tests did not run: set {POSTGRES_VARIABLE} to a \
             server's URL (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run them"
        )),
    }
    stores
}

/// The PostgreSQL server of [`POSTGRES_VARIABLE`], if one is named (and a line says
/// so, once, when none is).
pub(crate) fn postgres_server() -> Option<String> {
    match std::env::var(POSTGRES_VARIABLE) {
        Ok(server) if !server.is_empty() => Some(server),
        _ => {
            say_once(&format!(
                "note: the ledger's PostgreSQL tests did not run: set {POSTGRES_VARIABLE} to a \
                 server's URL (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run them"
            ));
            None
        }
    }
}

/// A connection to the database at `url`, its connection driven in the background.
pub(crate) async fn connect_postgres(url: &str) -> tokio_postgres::Client {
    admin(url).await
}

/// Writes `line` to the terminal once per run (past the test harness's capture).
fn say_once(line: &str) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{line}");
    });
}

/// A database of a test's own on the server of [`POSTGRES_VARIABLE`].
#[derive(Debug)]
pub(crate) struct TestDatabase {
    server: String,
    name: String,
    /// The database's URL.
    pub(crate) url: String,
}

impl TestDatabase {
    /// Creates `ec_billing_test_<name>_<process>_<n>` on `server`.
    pub(crate) async fn create(server: &str, name: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let clean: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(30)
            .collect();
        let name = format!("ec_billing_test_{clean}_{}_{n}", std::process::id());
        let admin = admin(server).await;
        // One statement at a time: several would run in one transaction, where a
        // database can be neither dropped nor created.
        for statement in [
            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            format!("CREATE DATABASE \"{name}\""),
        ] {
            admin.batch_execute(&statement).await.unwrap_or_else(|e| {
                panic!(
                    "cannot create a test database on {POSTGRES_VARIABLE}: {e}: {:?}",
                    e.as_db_error().map(|d| d.message())
                )
            });
        }
        Self {
            server: server.to_string(),
            url: with_database(server, &name),
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // A runtime of its own: this may be dropped inside a test's runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let admin = admin(&server).await;
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}

/// A connection to `server`'s own database, its connection driven in the background.
async fn admin(server: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{POSTGRES_VARIABLE} names {}, which does not answer: {e}",
                ec_billing::text::redact_url(server)
            )
        });
    tokio::spawn(connection);
    client
}

/// `server` with its database replaced by `database`.
pub(crate) fn with_database(server: &str, database: &str) -> String {
    let (url, query) = match server.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (server, None),
    };
    let host_start = url.find("://").map_or(0, |i| i + 3);
    let base = match url[host_start..].find('/') {
        Some(slash) => &url[..host_start + slash],
        None => url,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}
