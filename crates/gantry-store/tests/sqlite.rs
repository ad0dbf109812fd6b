//! The behaviour suite against `SqliteStore`, plus persistence, migrations and a
//! kill -9 crash test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod suite;

use std::io::{BufRead, BufReader};
use std::ops::Deref;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gantry_store::{SqliteStore, Store, migrations};
use serde_json::json;
use suite::{ins, route, service};
use uuid::Uuid;

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("gantry-store-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn db(&self) -> PathBuf {
        SqliteStore::default_path(self.0.join("prefix"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A store on a fresh database, with its directory.
struct Fixture {
    store: SqliteStore,
    _dir: TempDir,
}

impl Deref for Fixture {
    type Target = SqliteStore;
    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

fn fixture() -> Fixture {
    let dir = TempDir::new();
    let store = SqliteStore::open(dir.db()).unwrap();
    Fixture { store, _dir: dir }
}

store_suite!(sqlite, fixture());

#[tokio::test]
async fn reopen_persists_data_version_and_indexes() {
    let dir = TempDir::new();
    let (s, r) = (Uuid::new_v4(), Uuid::new_v4());
    {
        let store = SqliteStore::open(dir.db()).unwrap();
        store
            .apply(vec![
                ins("services", service(s, "kept")),
                ins("routes", route(r, Some(s))),
            ])
            .await
            .unwrap();
        assert_eq!(store.version(), 1);
    }
    let store = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(store.version(), 1, "version survives a restart");
    assert_eq!(
        store.get("routes", r).await.unwrap().unwrap()["service"]["id"],
        s.to_string()
    );
    assert!(
        store
            .find_unique("services", "name", &json!("kept"))
            .await
            .unwrap()
            .is_some()
    );
    let err = store
        .apply(vec![ins("services", service(Uuid::new_v4(), "kept"))])
        .await;
    assert!(matches!(err, Err(gantry_store::StoreError::Unique { .. })));
    let err = store.apply(vec![suite::del("services", s)]).await;
    assert!(matches!(
        err,
        Err(gantry_store::StoreError::Referenced { .. })
    ));
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
}

#[tokio::test]
async fn migrations_are_recorded_and_idempotent() {
    let dir = TempDir::new();
    let status = migrations::list_at(&dir.db()).unwrap();
    assert!(status.executed.is_empty());
    assert_eq!(status.pending.len(), migrations::MIGRATIONS.len());
    let ran = migrations::up_at(&dir.db()).unwrap();
    assert_eq!(ran.len(), migrations::MIGRATIONS.len());
    assert!(
        migrations::up_at(&dir.db()).unwrap().is_empty(),
        "second run does nothing"
    );
    let store = SqliteStore::open(dir.db()).unwrap();
    let status = store.migrations().await.unwrap();
    assert!(status.pending.is_empty());
    assert_eq!(status.executed[0], (1, "000_base".to_string()));
    drop(store);
    // A database from a newer Gantry is refused rather than misread.
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let err = SqliteStore::open(dir.db()).unwrap_err();
    assert!(err.to_string().contains("does not know"), "{err}");
}

#[tokio::test]
async fn wal_is_on() {
    let f = fixture();
    let conn = rusqlite::Connection::open(f.path()).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn concurrent_writers_are_serialised() {
    let f = fixture();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = f.store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .apply(vec![ins(
                    "services",
                    service(Uuid::new_v4(), &format!("c{i}")),
                )])
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(f.store.version(), 20);
    assert_eq!(f.store.dump().await.unwrap()["services"].len(), 20);
}

const CRASH_ENV: &str = "GANTRY_STORE_CRASH_DB";

/// Child half of the crash test: writes until killed, printing `ACK <id>` after each
/// acknowledged (committed) transaction. Does nothing unless `CRASH_ENV` is set.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CRASH_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        for i in 0u64.. {
            let (s, r) = (Uuid::new_v4(), Uuid::new_v4());
            store
                .apply(vec![
                    ins("services", service(s, &format!("crash-{i}"))),
                    ins("routes", route(r, Some(s))),
                ])
                .await
                .unwrap();
            println!("ACK {s} {r}");
        }
    });
}

#[tokio::test]
async fn kill_9_loses_no_acknowledged_write() {
    let dir = TempDir::new();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CRASH_ENV, dir.db())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("ACK ") && tx.send(line).is_err() {
                break;
            }
        }
    });
    // Let it acknowledge a good number of writes, then kill it mid-stream.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut acks: Vec<String> = Vec::new();
    while acks.len() < 150 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            acks.push(line);
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    reader.join().unwrap();
    // Every line printed before the kill was acknowledged.
    acks.extend(rx.try_iter());
    assert!(
        acks.len() >= 10,
        "the child acknowledged only {} writes",
        acks.len()
    );
    let store = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
    for line in &acks {
        let mut parts = line.split_whitespace().skip(1);
        let s = Uuid::parse_str(parts.next().unwrap()).unwrap();
        let r = Uuid::parse_str(parts.next().unwrap()).unwrap();
        assert!(
            store.get("services", s).await.unwrap().is_some(),
            "lost service {s}"
        );
        assert!(
            store.get("routes", r).await.unwrap().is_some(),
            "lost route {r}"
        );
    }
    let dump = store.dump().await.unwrap();
    let services = dump.get("services").map_or(0, Vec::len);
    assert!(services >= acks.len());
    // Each transaction is whole: a service never without its route.
    assert_eq!(dump.get("routes").map_or(0, Vec::len), services);
    // And the database is still writable.
    store
        .apply(vec![ins(
            "services",
            service(Uuid::new_v4(), "after-crash"),
        )])
        .await
        .unwrap();
}
