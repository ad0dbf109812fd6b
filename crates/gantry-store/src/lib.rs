//! Entity storage for the Admin API and the proxy's snapshot builder. One [`Store`]
//! trait with an embedded SQLite implementation (the default, zero setup), an in-memory
//! one (DB-less), and later PostgreSQL. Entities are stored as Kong's JSON objects
//! (every schema field present); the store enforces what Kong's DAO enforces — unique
//! fields and cache keys, foreign keys, cascading and restricted deletes — from the
//! schemas in `gantry-core`, and applies every write as one transaction.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use serde_json::Value;
use uuid::Uuid;

/// Why a store operation failed. Each maps to one Kong error (see `kong_code`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Kong code 5 (409): `UNIQUE violation detected on '{name="x"}'`.
    #[error("UNIQUE violation on {entity}")]
    Unique {
        entity: String,
        /// The conflicting unique key, e.g. `{"name": "x"}`.
        fields: serde_json::Map<String, Value>,
    },
    /// Kong code 4 (400): `the foreign key '{id="..."}' does not reference an existing
    /// 'services' entity.`
    #[error("foreign key on {entity}.{field} references a missing {parent}")]
    ForeignKey {
        entity: String,
        field: String,
        parent: String,
        id: Uuid,
    },
    /// Kong (400): `an existing 'routes' entity references this 'services' entity`.
    #[error("an existing '{child}' entity references this '{parent}' entity")]
    Referenced { parent: String, child: String },
    /// Kong code 6 (404) on update of a missing entity.
    #[error("{entity} {id} not found")]
    NotFound { entity: String, id: Uuid },
    /// Kong code 7 (400): bad pagination token.
    #[error("'{0}' is not a valid offset: bad base64 encoding")]
    InvalidOffset(String),
    /// Kong code 12 (405): writes on a read-only (DB-less) store outside `/config`.
    #[error("operation unsupported")]
    ReadOnly,
    /// Kong code 8 (500): anything the database itself reported.
    #[error("database error: {0}")]
    Database(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Tag filter of a list query (`?tags=a,b` = all, `?tags=a/b` = any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    All(Vec<String>),
    Any(Vec<String>),
}

/// A page request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Page size (the Admin API validates 1..=1000, default 100).
    pub size: usize,
    /// Opaque token from a previous page.
    pub offset: Option<String>,
    pub tags: Option<TagFilter>,
    /// Only children of this parent: (foreign-key field, parent id), e.g.
    /// (`service`, <uuid>) for `/services/{s}/routes`.
    pub foreign: Option<(String, Uuid)>,
}

/// One page of entities, in a stable order (by primary key).
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<Value>,
    /// Token for the next page; `None` on the last page.
    pub offset: Option<String>,
}

/// One write inside a transaction. Values are complete, validated Kong objects (the
/// Admin API validated and merged them), with `id` set.
#[derive(Debug, Clone)]
pub enum Write {
    /// Fails with `Unique` if the id or a unique field already exists.
    Insert { entity: String, value: Value },
    /// Creates or fully replaces the entity with this id.
    Upsert { entity: String, value: Value },
    /// Replaces an existing entity; `NotFound` if it does not exist.
    Update { entity: String, value: Value },
    /// Deletes if present (cascading to children whose relation cascades, refusing
    /// with `Referenced` where Kong restricts); deleting a missing id is not an error.
    Delete { entity: String, id: Uuid },
}

/// Every stored entity, by schema name (`services`, `routes`, `keyauth_credentials`, …).
pub type Dump = BTreeMap<String, Vec<Value>>;

/// What changed in one committed transaction.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Monotonic version after the commit.
    pub version: u64,
    /// (entity, id) of every row written or deleted (cascades included).
    pub touched: Vec<(String, Uuid)>,
}

/// Storage of Kong entities.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads one entity by primary key.
    async fn get(&self, entity: &str, id: Uuid) -> StoreResult<Option<Value>>;

    /// Reads one entity by a unique field (endpoint keys such as `services.name`,
    /// `consumers.username`, `keyauth_credentials.key`).
    async fn find_unique(&self, entity: &str, field: &str, value: &Value) -> StoreResult<Option<Value>>;

    /// Lists entities, paginated.
    async fn list(&self, entity: &str, query: &ListQuery) -> StoreResult<Page>;

    /// Applies all writes in one transaction: all or nothing. Returns the stored value
    /// of each insert, upsert and update (in order; deletes give `Value::Null`).
    async fn apply(&self, writes: Vec<Write>) -> StoreResult<Vec<Value>>;

    /// Everything stored (snapshot builds, `db_export`, `GET /config`).
    async fn dump(&self) -> StoreResult<Dump>;

    /// Atomically replaces everything (`db_import`, DB-less `POST /config`).
    async fn replace_all(&self, dump: Dump) -> StoreResult<()>;

    /// Committed changes, in order. A receiver that lags may miss `Change`s: it should
    /// then rebuild from `dump` (the version tells it).
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change>;

    /// Current version (bumped by every committed write).
    fn version(&self) -> u64;
}
