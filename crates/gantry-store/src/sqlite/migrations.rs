//! Versioned schema migrations of the SQLite store, recorded in `schema_migrations`
//! (`gantry migrations bootstrap|up|list`). Each migration runs in its own
//! transaction together with its bookkeeping row, so a crash leaves it either fully
//! applied or not at all.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::{StoreError, StoreResult};

/// One migration: applied in `version` order, at most once.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Strictly increasing version.
    pub version: u32,
    /// Name shown by `migrations list`.
    pub name: &'static str,
    /// The SQL (several statements).
    pub sql: &'static str,
}

/// Every migration this build knows, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "000_base",
        sql: BASE,
    },
    Migration {
        version: 2,
        name: "001_tags_by_tag",
        // `/tags` and `/tags/{tag}` walk the tag index in (tag, entity, id) order.
        sql: "CREATE INDEX tags_by_tag ON tags (tag, entity, id);",
    },
];

/// Storage layout: one generic entity table plus the rule engine's index relations.
/// The index tables reference their owner row (`ON DELETE CASCADE`), and `refs`
/// references the parent row too (restrict), so SQLite itself refuses a dangling
/// foreign key even if the rule engine were wrong.
const BASE: &str = "
CREATE TABLE entities (
    entity TEXT NOT NULL,
    id     TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (entity, id)
) WITHOUT ROWID;
CREATE INDEX entities_seq ON entities (seq);

CREATE TABLE unique_keys (
    entity TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    id     TEXT NOT NULL,
    PRIMARY KEY (entity, key, value),
    FOREIGN KEY (entity, id) REFERENCES entities (entity, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX unique_keys_owner ON unique_keys (entity, id);

CREATE TABLE refs (
    entity        TEXT NOT NULL,
    field         TEXT NOT NULL,
    parent        TEXT NOT NULL,
    id            TEXT NOT NULL,
    parent_entity TEXT NOT NULL,
    PRIMARY KEY (entity, field, parent, id),
    FOREIGN KEY (entity, id) REFERENCES entities (entity, id) ON DELETE CASCADE,
    FOREIGN KEY (parent_entity, parent) REFERENCES entities (entity, id)
) WITHOUT ROWID;
CREATE INDEX refs_owner ON refs (entity, id);
CREATE INDEX refs_parent ON refs (parent_entity, parent);

CREATE TABLE tags (
    entity TEXT NOT NULL,
    tag    TEXT NOT NULL,
    id     TEXT NOT NULL,
    PRIMARY KEY (entity, tag, id),
    FOREIGN KEY (entity, id) REFERENCES entities (entity, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX tags_owner ON tags (entity, id);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('version', 0);
";

/// Executed and pending migrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationStatus {
    /// (version, name) of the migrations already run, in order.
    pub executed: Vec<(u32, String)>,
    /// (version, name) of the migrations still to run.
    pub pending: Vec<(u32, &'static str)>,
}

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

fn ensure_table(conn: &Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )
    .map_err(db_err)
}

/// The migration status of an open database.
pub fn list(conn: &Connection) -> StoreResult<MigrationStatus> {
    ensure_table(conn)?;
    let mut stmt = conn
        .prepare("SELECT version, name FROM schema_migrations ORDER BY version")
        .map_err(db_err)?;
    let executed = stmt
        .query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)))
        .map_err(db_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    if let Some((v, name)) = executed
        .iter()
        .find(|(v, _)| !MIGRATIONS.iter().any(|m| m.version == *v))
    {
        return Err(StoreError::Database(format!(
            "the database has migration {v} ({name}) that this version of Gantry does not know; upgrade Gantry"
        )));
    }
    let pending = MIGRATIONS
        .iter()
        .filter(|m| !executed.iter().any(|(v, _)| *v == m.version))
        .map(|m| (m.version, m.name))
        .collect();
    Ok(MigrationStatus { executed, pending })
}

/// Runs every pending migration, each in its own transaction; returns the versions
/// run now (empty when up to date, so running it again is harmless).
pub fn up(conn: &mut Connection) -> StoreResult<Vec<u32>> {
    // Refuses a database migrated by a newer Gantry.
    list(conn)?;
    let mut ran = Vec::new();
    for m in MIGRATIONS {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        // Checked inside the write transaction: two processes cannot both run it.
        let done = tx
            .query_row(
                "SELECT 1 FROM schema_migrations WHERE version = ?1",
                [m.version],
                |_| Ok(()),
            )
            .optional()
            .map_err(db_err)?
            .is_some();
        if done {
            continue;
        }
        tx.execute_batch(m.sql).map_err(db_err)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, unixepoch())",
            rusqlite::params![m.version, m.name],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        ran.push(m.version);
    }
    Ok(ran)
}

/// `gantry migrations list`: opens the database at `path` without migrating it.
pub fn list_at(path: &Path) -> StoreResult<MigrationStatus> {
    let conn = super::connect(path)?;
    list(&conn)
}

/// `gantry migrations bootstrap` / `up`: creates the database at `path` if needed
/// and runs the pending migrations.
pub fn up_at(path: &Path) -> StoreResult<Vec<u32>> {
    let mut conn = super::connect(path)?;
    up(&mut conn)
}
