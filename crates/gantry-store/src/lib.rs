//! Entity storage for the Admin API and the proxy's snapshot builder. One [`Store`]
//! trait with an embedded SQLite implementation (the default, zero setup), an in-memory
//! one (DB-less), and later PostgreSQL. Entities are stored as Kong's JSON objects
//! (every schema field present); the store enforces what Kong's DAO enforces — unique
//! fields and cache keys, foreign keys, cascading and restricted deletes — from the
//! schemas in `gantry-core`, and applies every write as one transaction.
//!
//! # Design
//!
//! * **One rule engine, several backends.** [`rules`] derives, from `gantry-core`'s
//!   schemas, what every write must check: unique fields (`unique = true`), unique
//!   cache keys (plugins per name+route+service+consumer, targets per
//!   upstream+target, acls per consumer+group), foreign keys that must exist, and for
//!   each parent the children whose relation cascades (`on_delete = "cascade"`, plus
//!   the certificates DAO's own cascade to snis) or restricts (every other relation:
//!   a service with routes cannot be deleted). It runs against a small synchronous
//!   `Tx` trait (get, unique owner, referencing children, put, remove) that each
//!   backend implements inside its own transaction, so both backends agree by
//!   construction.
//! * **Generic storage.** Entities are JSON documents keyed by (entity, id) with
//!   three index relations computed by the rule engine: unique values, foreign
//!   references and tags. Any entity type works without a table of its own.
//! * **[`MemoryStore`]** (DB-less, tests): B-tree maps behind one lock, an undo log
//!   for rollback; `read_only` refuses `apply` but accepts `replace_all` (`/config`).
//! * **[`SqliteStore`]** (default): one connection on a dedicated thread (the async
//!   API never blocks the runtime), WAL with `synchronous = FULL`, foreign keys on
//!   (the index tables reference the entity rows, a second line of defence behind the
//!   rule engine), versioned migrations in `schema_migrations` run on open, every
//!   `apply` in one `BEGIN IMMEDIATE` transaction.
//! * **Pagination** is by primary key (uuid order, as Kong's PostgreSQL strategy)
//!   with Kong's token: base64 of the JSON array of the last id (see [`page`]).
//! * **Change events**: each committed transaction bumps a version and broadcasts a
//!   [`Change`] (the entities touched, cascades included, or `full` after
//!   `replace_all`); a lagging subscriber rebuilds from [`Store::dump`].
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use serde_json::Value;
use uuid::Uuid;

mod memory;
pub mod page;
pub mod rules;
mod sqlite;

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;
pub use sqlite::migrations;

/// Why a store operation failed. Each maps to one Kong error (see `kong_code`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Kong code 5 (409): `UNIQUE violation detected on '{name="x"}'`.
    #[error("UNIQUE violation on {entity}")]
    Unique {
        /// Entity written.
        entity: String,
        /// The conflicting unique key, e.g. `{"name": "x"}`.
        fields: serde_json::Map<String, Value>,
    },
    /// Kong code 4 (400): `the foreign key '{id="..."}' does not reference an existing
    /// 'services' entity.`
    #[error("foreign key on {entity}.{field} references a missing {parent}")]
    ForeignKey {
        /// Entity written.
        entity: String,
        /// Its foreign-key field.
        field: String,
        /// Referenced entity.
        parent: String,
        /// The missing parent id.
        id: Uuid,
    },
    /// Kong (400): `an existing 'routes' entity references this 'services' entity`.
    #[error("an existing '{child}' entity references this '{parent}' entity")]
    Referenced {
        /// The entity being deleted.
        parent: String,
        /// The entity that still references it.
        child: String,
    },
    /// Kong code 3 (400): `primary key violation on key '{id="..."}'` (insert of an
    /// existing id).
    #[error("primary key violation on {entity} {id}")]
    PrimaryKey {
        /// Entity written.
        entity: String,
        /// The existing id.
        id: Uuid,
    },
    /// Kong code 6 (404) on update of a missing entity.
    #[error("{entity} {id} not found")]
    NotFound {
        /// Entity written.
        entity: String,
        /// The missing id.
        id: Uuid,
    },
    /// Kong code 7 (400): bad pagination token.
    #[error("'{0}' is not a valid offset: bad base64 encoding")]
    InvalidOffset(String),
    /// Kong code 12 (405): writes on a read-only (DB-less) store outside `/config`.
    #[error("operation unsupported")]
    ReadOnly,
    /// A write the store cannot index: not an object, no valid `id`, a foreign key
    /// that is not `{"id": "<uuid>"}`. A bug in the caller (which validates first):
    /// Kong code 8 (500).
    #[error("invalid entity: {0}")]
    Invalid(String),
    /// Kong code 8 (500): anything the database itself reported.
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// Kong's error code and HTTP status for this error (kong-reference §2.6).
    pub fn kong_code(&self) -> (u16, u16) {
        match self {
            StoreError::PrimaryKey { .. } => (3, 400),
            // Kong's `foreign_key_violation_restricted` uses the foreign-key code too.
            StoreError::ForeignKey { .. } | StoreError::Referenced { .. } => (4, 400),
            StoreError::Unique { .. } => (5, 409),
            StoreError::NotFound { .. } => (6, 404),
            StoreError::InvalidOffset(_) => (7, 400),
            StoreError::ReadOnly => (12, 405),
            StoreError::Invalid(_) | StoreError::Database(_) => (8, 500),
        }
    }

    /// Kong's `message` for this error, e.g. `UNIQUE violation detected on
    /// '{name="foo"}'` (keys sorted, Lua-table style, `null` for nulls).
    pub fn kong_message(&self) -> String {
        match self {
            StoreError::Unique { fields, .. } => {
                format!("UNIQUE violation detected on '{}'", lua_table(fields))
            }
            StoreError::PrimaryKey { id, .. } => {
                format!("primary key violation on key '{{id=\"{id}\"}}'")
            }
            StoreError::ForeignKey { parent, id, .. } => format!(
                "the foreign key '{{id=\"{id}\"}}' does not reference an existing '{parent}' entity."
            ),
            StoreError::NotFound { id, .. } => {
                format!("could not find the entity with primary key '{{id=\"{id}\"}}'")
            }
            other => other.to_string(),
        }
    }
}

/// Renders a JSON object the way Kong's error messages print Lua tables.
fn lua_table(map: &serde_json::Map<String, Value>) -> String {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let parts: Vec<String> = keys
        .into_iter()
        .map(|k| format!("{k}={}", lua_value(map.get(k).unwrap_or(&Value::Null))))
        .collect();
    format!("{{{}}}", parts.join(","))
}

fn lua_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => format!("\"{s}\""),
        Value::Object(m) => lua_table(m),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(lua_value).collect();
            format!("{{{}}}", parts.join(","))
        }
        other => other.to_string(),
    }
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Tag filter of a list query (`?tags=a,b` = all, `?tags=a/b` = any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    /// Entities having every one of these tags.
    All(Vec<String>),
    /// Entities having at least one of these tags.
    Any(Vec<String>),
}

/// A page request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Page size (the Admin API validates 1..=1000, default 100; 0 here means 100).
    pub size: usize,
    /// Opaque token from a previous page.
    pub offset: Option<String>,
    /// Tag filter (`?tags=`).
    pub tags: Option<TagFilter>,
    /// Only children of this parent: (foreign-key field, parent id), e.g.
    /// (`service`, <uuid>) for `/services/{s}/routes`.
    pub foreign: Option<(String, Uuid)>,
}

/// One page of entities, in a stable order (by primary key).
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The entities of this page.
    pub items: Vec<Value>,
    /// Token for the next page; `None` on the last page.
    pub offset: Option<String>,
}

/// One write inside a transaction. Values are complete, validated Kong objects (the
/// Admin API validated and merged them), with `id` set.
#[derive(Debug, Clone)]
pub enum Write {
    /// Fails with `Unique` if the id or a unique field already exists.
    Insert {
        /// Schema name.
        entity: String,
        /// The complete entity.
        value: Value,
    },
    /// Creates or fully replaces the entity with this id.
    Upsert {
        /// Schema name.
        entity: String,
        /// The complete entity.
        value: Value,
    },
    /// Replaces an existing entity; `NotFound` if it does not exist.
    Update {
        /// Schema name.
        entity: String,
        /// The complete entity.
        value: Value,
    },
    /// Deletes if present (cascading to children whose relation cascades, refusing
    /// with `Referenced` where Kong restricts); deleting a missing id is not an error.
    Delete {
        /// Schema name.
        entity: String,
        /// Primary key.
        id: Uuid,
    },
}

impl Write {
    /// The entity this write targets.
    pub fn entity(&self) -> &str {
        match self {
            Write::Insert { entity, .. }
            | Write::Upsert { entity, .. }
            | Write::Update { entity, .. }
            | Write::Delete { entity, .. } => entity,
        }
    }
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
    /// Everything was replaced (`replace_all`): `touched` is empty, rebuild from
    /// [`Store::dump`].
    pub full: bool,
}

/// Storage of Kong entities.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads one entity by primary key.
    async fn get(&self, entity: &str, id: Uuid) -> StoreResult<Option<Value>>;

    /// Reads one entity by a unique field (endpoint keys such as `services.name`,
    /// `consumers.username`, `keyauth_credentials.key`).
    async fn find_unique(
        &self,
        entity: &str,
        field: &str,
        value: &Value,
    ) -> StoreResult<Option<Value>>;

    /// Reads one entity by its composite cache key, e.g. `targets` by
    /// `{"upstream": {"id": ..}, "target": "a:80"}` (`/upstreams/{u}/targets/{t}`) or
    /// `acls` by `{"consumer": .., "group": "g"}`. Every cache-key field must be given
    /// (`null` for an unset foreign key); `None` for an entity without a composite key.
    async fn find_by_cache_key(
        &self,
        entity: &str,
        key: &serde_json::Map<String, Value>,
    ) -> StoreResult<Option<Value>>;

    /// Lists entities, paginated.
    async fn list(&self, entity: &str, query: &ListQuery) -> StoreResult<Page>;

    /// Applies all writes in one transaction: all or nothing. Returns the stored value
    /// of each insert, upsert and update (in order; deletes give `Value::Null`).
    async fn apply(&self, writes: Vec<Write>) -> StoreResult<Vec<Value>>;

    /// The `/tags` listing: items `{"tag", "entity_name", "entity_id"}` ordered by
    /// (tag, entity, id), or by (entity, id) when `tag` is given; only `size` and
    /// `offset` of `query` apply.
    async fn list_tags(&self, tag: Option<&str>, query: &ListQuery) -> StoreResult<Page>;

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
