//! [`SqliteStore`]: the default, embedded store. One connection owned by a dedicated
//! thread that runs jobs sent from the async API (so no query ever blocks the tokio
//! runtime); every `apply` is one `BEGIN IMMEDIATE` transaction driven by the shared
//! rule engine through [`SqliteTx`].

pub mod migrations;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};
use serde_json::{Map, Value};
use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

use crate::memory::CHANGE_CAPACITY;
use crate::page::{
    TagPosition, decode_offset, decode_tag_offset, effective_size, encode_offset,
    encode_tag_offset, tag_item,
};
use crate::rules::{self, Index, Rules, Tx};
use crate::{Change, Dump, ListQuery, Page, Store, StoreError, StoreResult, TagFilter, Write};

/// How long a statement waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

fn parse(text: &str) -> StoreResult<Value> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Database(format!("corrupt entity JSON: {e}")))
}

fn parse_id(text: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(text).map_err(|e| StoreError::Database(format!("corrupt id: {e}")))
}

/// Opens a connection with the store's settings (creating the file and its
/// directory if needed), without migrating.
pub(crate) fn connect(path: &Path) -> StoreResult<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Database(format!("cannot create {}: {e}", dir.display())))?;
    }
    let conn = Connection::open(path).map_err(db_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
    // WAL: readers never block the writer and a commit is one append to the log.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(db_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Database(format!(
            "cannot enable WAL (journal_mode = {mode})"
        )));
    }
    // FULL, not NORMAL: with WAL, NORMAL already survives a killed process (the log
    // is in the OS page cache), but a power loss or kernel crash may roll back the
    // last commits; FULL fsyncs the log at every commit, so a write we acknowledged
    // (the Admin API answered 2xx) survives those too. The cost is one fsync per
    // transaction, negligible for admin writes.
    // cache_size: SQLite's default 2 MiB page cache thrashes once the index tables
    // outgrow it — importing 100k routes took 8 minutes, mostly page reads. 64 MiB
    // (negative = KiB) keeps the hot indexes resident; it is only used as needed.
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;",
    )
    .map_err(db_err)?;
    Ok(conn)
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The embedded SQLite store (`database = sqlite`).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    jobs: mpsc::Sender<Job>,
    rules: Arc<Rules>,
    version: Arc<AtomicU64>,
    changes: broadcast::Sender<Change>,
    path: PathBuf,
}

impl SqliteStore {
    /// File name of the database under the prefix directory.
    pub const DEFAULT_FILE: &'static str = "gantry.db";

    /// The default database path for a prefix directory: `<prefix>/gantry.db`.
    pub fn default_path(prefix: impl AsRef<Path>) -> PathBuf {
        prefix.as_ref().join(Self::DEFAULT_FILE)
    }

    /// Opens (creating if needed) the database at `path`, runs pending migrations and
    /// starts the database thread. Blocking: call it at startup or from
    /// `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with_rules(path, Rules::bundled().clone())
    }

    /// [`SqliteStore::open`] with custom rules (e.g. a custom plugin catalogue).
    pub fn open_with_rules(path: impl AsRef<Path>, rules: Rules) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        let mut conn = connect(&path)?;
        migrations::up(&mut conn)?;
        let version: i64 = conn
            .query_row("SELECT value FROM meta WHERE key = 'version'", [], |r| {
                r.get(0)
            })
            .map_err(db_err)?;
        let version = u64::try_from(version).unwrap_or_default();
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("gantry-sqlite".into())
            .spawn(move || {
                // Ends when the last store handle drops its sender; the connection
                // closes (and checkpoints) with it.
                for job in rx {
                    job(&mut conn);
                }
            })
            .map_err(|e| StoreError::Database(format!("cannot start the database thread: {e}")))?;
        let (changes, _) = broadcast::channel(CHANGE_CAPACITY);
        Ok(Self {
            inner: Arc::new(Inner {
                jobs,
                rules: Arc::new(rules),
                version: Arc::new(AtomicU64::new(version)),
                changes,
                path,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on the database thread.
    async fn call<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Inner) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let inner = Arc::clone(&self.inner);
        let job: Job = Box::new(move |conn| {
            // The caller may have gone away; nothing to report to then.
            let _ = tx.send(f(conn, &inner));
        });
        let gone = || StoreError::Database("the database thread has stopped".into());
        self.inner.jobs.send(job).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// `PRAGMA integrity_check`: `"ok"` for a healthy database.
    pub async fn integrity_check(&self) -> StoreResult<String> {
        self.call(|conn, _| {
            conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
                .map_err(db_err)
        })
        .await
    }

    /// Executed and pending migrations.
    pub async fn migrations(&self) -> StoreResult<migrations::MigrationStatus> {
        self.call(|conn, _| migrations::list(conn)).await
    }

    async fn lookup(&self, entity: &str, given: &Map<String, Value>) -> StoreResult<Option<Value>> {
        let Some((key, canon)) = self.inner.rules.lookup_key(entity, given)? else {
            return Ok(None);
        };
        let entity = entity.to_string();
        self.call(move |conn, _| {
            let text: Option<String> = conn
                .prepare_cached(
                    "SELECT e.value FROM unique_keys u JOIN entities e
                     ON e.entity = u.entity AND e.id = u.id
                     WHERE u.entity = ?1 AND u.key = ?2 AND u.value = ?3",
                )
                .map_err(db_err)?
                .query_row(params![entity, key, canon], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            text.as_deref().map(parse).transpose()
        })
        .await
    }
}

/// Bumps the persistent version inside `tx`.
fn bump_version(tx: &rusqlite::Transaction<'_>) -> StoreResult<u64> {
    let v: i64 = tx
        .query_row(
            "UPDATE meta SET value = value + 1 WHERE key = 'version' RETURNING value",
            [],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    Ok(u64::try_from(v).unwrap_or_default())
}

/// Publishes a committed change (on the database thread, so in commit order).
fn publish(inner: &Inner, version: u64, touched: Vec<(String, Uuid)>, full: bool) {
    inner.version.store(version, Ordering::SeqCst);
    // No subscriber is not an error.
    let _ = inner.changes.send(Change {
        version,
        touched,
        full,
    });
}

/// Deleting a row's index entries before rewriting them. INDEXED BY: without it
/// SQLite 3.54's planner walks `refs` by its primary-key prefix (`entity = 'routes'`:
/// every route's row) instead of the owner index, which made importing 100k routes
/// quadratic (8 minutes; 11 s with the index).
const OWNER_DELETES: [&str; 3] = [
    "DELETE FROM unique_keys INDEXED BY unique_keys_owner WHERE entity = ?1 AND id = ?2",
    "DELETE FROM refs INDEXED BY refs_owner WHERE entity = ?1 AND id = ?2",
    "DELETE FROM tags INDEXED BY tags_owner WHERE entity = ?1 AND id = ?2",
];

/// The rule engine's view of an open SQLite transaction.
struct SqliteTx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
}

impl Tx for SqliteTx<'_> {
    fn get(&mut self, entity: &str, id: Uuid) -> StoreResult<Option<Value>> {
        let text: Option<String> = self
            .tx
            .prepare_cached("SELECT value FROM entities WHERE entity = ?1 AND id = ?2")
            .map_err(db_err)?
            .query_row(params![entity, id.to_string()], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        text.as_deref().map(parse).transpose()
    }

    fn unique_owner(&mut self, entity: &str, key: &str, canon: &str) -> StoreResult<Option<Uuid>> {
        let text: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT id FROM unique_keys WHERE entity = ?1 AND key = ?2 AND value = ?3",
            )
            .map_err(db_err)?
            .query_row(params![entity, key, canon], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        text.as_deref().map(parse_id).transpose()
    }

    fn referencing(&mut self, child: &str, field: &str, parent: Uuid) -> StoreResult<Vec<Uuid>> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT id FROM refs WHERE entity = ?1 AND field = ?2 AND parent = ?3 ORDER BY id",
            )
            .map_err(db_err)?;
        let ids = stmt
            .query_map(params![child, field, parent.to_string()], |r| {
                r.get::<_, String>(0)
            })
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        ids.iter().map(|s| parse_id(s)).collect()
    }

    fn put(&mut self, entity: &str, id: Uuid, value: &Value, index: &Index) -> StoreResult<()> {
        let id = id.to_string();
        let tx = self.tx;
        tx.prepare_cached(
            "INSERT INTO entities (entity, id, seq, value)
             VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM entities), ?3)
             ON CONFLICT (entity, id) DO UPDATE SET value = excluded.value",
        )
        .map_err(db_err)?
        .execute(params![entity, id, value.to_string()])
        .map_err(db_err)?;
        for sql in OWNER_DELETES {
            tx.prepare_cached(sql)
                .map_err(db_err)?
                .execute(params![entity, id])
                .map_err(db_err)?;
        }
        let mut ins = tx
            .prepare_cached(
                "INSERT INTO unique_keys (entity, key, value, id) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(db_err)?;
        for (key, canon) in &index.uniques {
            ins.execute(params![entity, key, canon, id])
                .map_err(db_err)?;
        }
        let mut ins = tx
            .prepare_cached(
                "INSERT INTO refs (entity, field, parent, id, parent_entity) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(db_err)?;
        for (field, parent_entity, parent) in &index.refs {
            ins.execute(params![
                entity,
                field,
                parent.to_string(),
                id,
                parent_entity
            ])
            .map_err(db_err)?;
        }
        let mut ins = tx
            .prepare_cached("INSERT INTO tags (entity, tag, id) VALUES (?1, ?2, ?3)")
            .map_err(db_err)?;
        for tag in &index.tags {
            ins.execute(params![entity, tag, id]).map_err(db_err)?;
        }
        Ok(())
    }

    fn remove(&mut self, entity: &str, id: Uuid) -> StoreResult<()> {
        // The index rows go with it (ON DELETE CASCADE); a row still referenced by a
        // `refs` row makes SQLite refuse, which the rule engine never lets happen.
        self.tx
            .prepare_cached("DELETE FROM entities WHERE entity = ?1 AND id = ?2")
            .map_err(db_err)?
            .execute(params![entity, id.to_string()])
            .map_err(db_err)?;
        Ok(())
    }
}

/// The SQL and parameters of a page query.
fn list_sql(
    entity: &str,
    query: &ListQuery,
    after: Option<Uuid>,
    limit: usize,
) -> (String, Vec<SqlValue>) {
    let mut params: Vec<SqlValue> = vec![
        SqlValue::Text(entity.to_string()),
        SqlValue::Text(after.map(|u| u.to_string()).unwrap_or_default()),
    ];
    let mut sql = match &query.foreign {
        Some((field, parent)) => {
            params.push(SqlValue::Text(field.clone()));
            params.push(SqlValue::Text(parent.to_string()));
            String::from(
                "SELECT e.id, e.value FROM refs r JOIN entities e ON e.entity = r.entity AND e.id = r.id
                 WHERE r.entity = ?1 AND r.id > ?2 AND r.field = ?3 AND r.parent = ?4",
            )
        }
        None => {
            String::from("SELECT e.id, e.value FROM entities e WHERE e.entity = ?1 AND e.id > ?2")
        }
    };
    if let Some(filter) = &query.tags {
        let (TagFilter::All(tags) | TagFilter::Any(tags)) = filter;
        let mut tags: Vec<&String> = tags.iter().collect();
        tags.sort();
        tags.dedup();
        let first = params.len() + 1;
        let marks: Vec<String> = (first..first + tags.len())
            .map(|i| format!("?{i}"))
            .collect();
        params.extend(tags.iter().map(|t| SqlValue::Text((*t).clone())));
        let inner = format!(
            "FROM tags t WHERE t.entity = e.entity AND t.id = e.id AND t.tag IN ({})",
            marks.join(", ")
        );
        match filter {
            TagFilter::All(_) => {
                sql.push_str(&format!(" AND (SELECT COUNT(*) {inner}) = {}", tags.len()))
            }
            TagFilter::Any(_) => sql.push_str(&format!(" AND EXISTS (SELECT 1 {inner})")),
        }
    }
    sql.push_str(&format!(" ORDER BY e.id LIMIT {limit}"));
    (sql, params)
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn get(&self, entity: &str, id: Uuid) -> StoreResult<Option<Value>> {
        let entity = entity.to_string();
        self.call(move |conn, _| {
            let tx = conn.transaction().map_err(db_err)?;
            SqliteTx { tx: &tx }.get(&entity, id)
        })
        .await
    }

    async fn find_unique(
        &self,
        entity: &str,
        field: &str,
        value: &Value,
    ) -> StoreResult<Option<Value>> {
        let mut given = Map::new();
        given.insert(field.to_string(), value.clone());
        self.lookup(entity, &given).await
    }

    async fn find_by_cache_key(
        &self,
        entity: &str,
        key: &Map<String, Value>,
    ) -> StoreResult<Option<Value>> {
        self.lookup(entity, key).await
    }

    async fn list(&self, entity: &str, query: &ListQuery) -> StoreResult<Page> {
        let after = query.offset.as_deref().map(decode_offset).transpose()?;
        let size = effective_size(query.size);
        let (sql, params) = list_sql(entity, query, after, size.saturating_add(1));
        self.call(move |conn, _| {
            let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
            let rows = stmt
                .query_map(params_from_iter(params), |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            let mut page = Page::default();
            for (i, (id, value)) in rows.iter().enumerate() {
                if i == size {
                    let last = rows.get(size - 1).map(|(id, _)| id.as_str()).unwrap_or(id);
                    page.offset = Some(encode_offset(parse_id(last)?));
                    break;
                }
                page.items.push(parse(value)?);
            }
            Ok(page)
        })
        .await
    }

    async fn apply(&self, writes: Vec<Write>) -> StoreResult<Vec<Value>> {
        self.call(move |conn, inner| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let mut touched = Vec::new();
            let mut out = Vec::with_capacity(writes.len());
            {
                let mut stx = SqliteTx { tx: &tx };
                for write in &writes {
                    // On error `tx` drops here and SQLite rolls everything back.
                    out.push(rules::apply_write(
                        &inner.rules,
                        &mut stx,
                        write,
                        &mut touched,
                    )?);
                }
            }
            if touched.is_empty() {
                return Ok(out);
            }
            let version = bump_version(&tx)?;
            tx.commit().map_err(db_err)?;
            publish(inner, version, touched, false);
            Ok(out)
        })
        .await
    }

    async fn list_tags(&self, tag: Option<&str>, query: &ListQuery) -> StoreResult<Page> {
        let after = query.offset.as_deref().map(decode_tag_offset).transpose()?;
        let size = effective_size(query.size);
        let (after_tag, after_entity, after_id) = after
            .map(|(t, e, id)| (t, e, id.to_string()))
            .unwrap_or_default();
        let limit = i64::try_from(size.saturating_add(1)).unwrap_or(i64::MAX);
        let tag = tag.map(str::to_string);
        self.call(move |conn, _| {
            let rows: Vec<(String, String, String)> = match &tag {
                Some(tag) => {
                    let mut stmt = conn
                        .prepare_cached(
                            "SELECT tag, entity, id FROM tags WHERE tag = ?1 AND (entity, id) > (?2, ?3)
                             ORDER BY tag, entity, id LIMIT ?4",
                        )
                        .map_err(db_err)?;
                    stmt.query_map(params![tag, after_entity, after_id, limit], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .map_err(db_err)?
                    .collect::<Result<_, _>>()
                    .map_err(db_err)?
                }
                None => {
                    let mut stmt = conn
                        .prepare_cached(
                            "SELECT tag, entity, id FROM tags WHERE (tag, entity, id) > (?1, ?2, ?3)
                             ORDER BY tag, entity, id LIMIT ?4",
                        )
                        .map_err(db_err)?;
                    stmt.query_map(params![after_tag, after_entity, after_id, limit], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .map_err(db_err)?
                    .collect::<Result<_, _>>()
                    .map_err(db_err)?
                }
            };
            let mut page = Page::default();
            let mut last: Option<TagPosition> = None;
            for (i, (t, entity, id)) in rows.into_iter().enumerate() {
                if i == size {
                    page.offset = last.as_ref().map(encode_tag_offset);
                    break;
                }
                let id = parse_id(&id)?;
                page.items.push(tag_item(&t, &entity, id));
                last = Some((t, entity, id));
            }
            Ok(page)
        })
        .await
    }

    async fn dump(&self) -> StoreResult<Dump> {
        self.call(|conn, _| {
            let tx = conn.transaction().map_err(db_err)?;
            let mut stmt = tx
                .prepare_cached("SELECT entity, value FROM entities ORDER BY entity, id")
                .map_err(db_err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(db_err)?;
            let mut dump = Dump::new();
            for row in rows {
                let (entity, value) = row.map_err(db_err)?;
                dump.entry(entity).or_default().push(parse(&value)?);
            }
            Ok(dump)
        })
        .await
    }

    async fn replace_all(&self, dump: Dump) -> StoreResult<()> {
        self.call(move |conn, inner| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            tx.execute_batch("DELETE FROM tags; DELETE FROM unique_keys; DELETE FROM refs; DELETE FROM entities;")
                .map_err(db_err)?;
            rules::load_dump(&inner.rules, &mut SqliteTx { tx: &tx }, &dump)?;
            let version = bump_version(&tx)?;
            tx.commit().map_err(db_err)?;
            publish(inner, version, Vec::new(), true);
            Ok(())
        })
        .await
    }

    fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }

    fn version(&self) -> u64 {
        self.inner.version.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Every per-row statement of a write is an index lookup, never a scan over all
    /// rows of an entity (that made big imports quadratic).
    #[test]
    fn per_row_statements_use_the_owner_indexes() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrations::up(&mut conn).unwrap();
        for (sql, index) in
            OWNER_DELETES
                .iter()
                .zip(["unique_keys_owner", "refs_owner", "tags_owner"])
        {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let plan: Vec<String> = stmt
                .query_map(params!["routes", "x"], |r| r.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(
                plan.iter()
                    .any(|p| p.contains(&format!("INDEX {index} (entity=? AND id=?)"))),
                "{sql}: {plan:?}"
            );
        }
    }
}
