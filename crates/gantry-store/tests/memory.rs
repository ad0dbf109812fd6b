//! The behaviour suite against `MemoryStore`, plus DB-less read-only mode.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod suite;

use gantry_store::{MemoryStore, Store, StoreError};
use suite::{ins, service};

store_suite!(memory, Box::new(MemoryStore::new()) as Box<dyn Store>);

#[tokio::test]
async fn read_only_refuses_apply_but_replaces_all() {
    let store = MemoryStore::read_only();
    assert!(store.is_read_only());
    let err = store
        .apply(vec![ins("services", service(suite::id(), "x"))])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly));
    assert_eq!(err.kong_code(), (12, 405));
    let mut dump = gantry_store::Dump::new();
    dump.insert("services".into(), vec![service(suite::id(), "x")]);
    store.replace_all(dump).await.unwrap();
    assert!(
        store
            .find_unique("services", "name", &serde_json::json!("x"))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.version(), 1);
}
