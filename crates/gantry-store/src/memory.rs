//! [`MemoryStore`]: the DB-less store. Rows in B-tree maps (so pages come in
//! primary-key order) with the rule engine's index entries beside them, one lock,
//! and an undo log that rolls a failed transaction back.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound::{Excluded, Unbounded};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::{Map, Value};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::page::{
    decode_offset, decode_tag_offset, effective_size, encode_offset, encode_tag_offset, tag_item,
    tags_pass,
};
use crate::rules::{self, Index, Rules, Tx};
use crate::{Change, Dump, ListQuery, Page, Store, StoreError, StoreResult, Write};

/// Capacity of the change channel; a subscriber further behind gets `Lagged`.
pub(crate) const CHANGE_CAPACITY: usize = 1024;

/// A row is kept as its compact JSON text, not as a `Value`: a `Value` costs a
/// map entry and a heap string per field name (a consumer with its key credential
/// took ~2.3 KB as `Value`s, a fifth of that as text). Reads parse it back, which
/// costs microseconds per row; DB-less reads are Admin API pages and full reloads.
#[derive(Debug, Clone)]
struct Row {
    json: Box<str>,
    index: Index,
}

impl Row {
    fn new(value: &Value, index: &Index) -> StoreResult<Row> {
        let json = serde_json::to_string(value)
            .map_err(|e| StoreError::Database(format!("cannot keep a row: {e}")))?;
        Ok(Row {
            json: json.into_boxed_str(),
            index: index.clone(),
        })
    }

    fn value(&self) -> StoreResult<Value> {
        serde_json::from_str(&self.json)
            .map_err(|e| StoreError::Database(format!("cannot read a row back: {e}")))
    }
}

/// One entity's rows and their index entries. Keyed per entity, so no entry holds
/// its own copy of the entity's name (10k credentials would hold 10k of them).
#[derive(Debug, Default)]
struct Table {
    rows: BTreeMap<Uuid, Row>,
    /// unique key → canonical value → owner.
    uniques: HashMap<String, HashMap<String, Uuid>>,
    /// foreign field → parent id → children.
    refs: HashMap<String, HashMap<Uuid, BTreeSet<Uuid>>>,
}

/// Every entity's table.
#[derive(Debug, Default)]
struct State {
    tables: HashMap<String, Table>,
}

impl State {
    fn table(&self, entity: &str) -> Option<&Table> {
        self.tables.get(entity)
    }

    fn row(&self, entity: &str, id: &Uuid) -> Option<&Row> {
        self.table(entity).and_then(|t| t.rows.get(id))
    }

    fn unique_owner(&self, entity: &str, key: &str, canon: &str) -> Option<Uuid> {
        self.table(entity)?.uniques.get(key)?.get(canon).copied()
    }

    fn children(&self, entity: &str, field: &str, parent: &Uuid) -> Option<&BTreeSet<Uuid>> {
        self.table(entity)?.refs.get(field)?.get(parent)
    }

    /// Replaces the row (`None` removes it), keeping the indexes in step; returns
    /// the previous row.
    fn set(&mut self, entity: &str, id: Uuid, row: Option<Row>) -> Option<Row> {
        let table = match self.tables.get_mut(entity) {
            Some(t) => t,
            None if row.is_none() => return None,
            None => self.tables.entry(entity.to_string()).or_default(),
        };
        let old = table.rows.remove(&id);
        if let Some(old) = &old {
            for (key, canon) in &old.index.uniques {
                if let Some(owners) = table.uniques.get_mut(key)
                    && owners.get(canon) == Some(&id)
                {
                    owners.remove(canon);
                }
            }
            for (field, _, parent) in &old.index.refs {
                if let Some(by_parent) = table.refs.get_mut(field)
                    && let Some(set) = by_parent.get_mut(parent)
                {
                    set.remove(&id);
                    if set.is_empty() {
                        by_parent.remove(parent);
                    }
                }
            }
        }
        if let Some(row) = row {
            for (key, canon) in &row.index.uniques {
                let owners = match table.uniques.get_mut(key) {
                    Some(o) => o,
                    None => table.uniques.entry(key.clone()).or_default(),
                };
                owners.insert(canon.clone(), id);
            }
            for (field, _, parent) in &row.index.refs {
                let by_parent = match table.refs.get_mut(field) {
                    Some(b) => b,
                    None => table.refs.entry(field.clone()).or_default(),
                };
                by_parent.entry(*parent).or_default().insert(id);
            }
            table.rows.insert(id, row);
        }
        old
    }
}

/// A transaction over the state: every change is logged so it can be undone.
struct MemTx<'a> {
    state: &'a mut State,
    undo: Vec<(String, Uuid, Option<Row>)>,
}

impl MemTx<'_> {
    fn rollback(self) {
        for (entity, id, old) in self.undo.into_iter().rev() {
            self.state.set(&entity, id, old);
        }
    }
}

impl Tx for MemTx<'_> {
    fn get(&mut self, entity: &str, id: Uuid) -> StoreResult<Option<Value>> {
        self.state.row(entity, &id).map(Row::value).transpose()
    }

    fn unique_owner(&mut self, entity: &str, key: &str, canon: &str) -> StoreResult<Option<Uuid>> {
        Ok(self.state.unique_owner(entity, key, canon))
    }

    fn referencing(&mut self, child: &str, field: &str, parent: Uuid) -> StoreResult<Vec<Uuid>> {
        Ok(self
            .state
            .children(child, field, &parent)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default())
    }

    fn put(&mut self, entity: &str, id: Uuid, value: &Value, index: &Index) -> StoreResult<()> {
        let row = Row::new(value, index)?;
        let old = self.state.set(entity, id, Some(row));
        self.undo.push((entity.to_string(), id, old));
        Ok(())
    }

    fn remove(&mut self, entity: &str, id: Uuid) -> StoreResult<()> {
        let old = self.state.set(entity, id, None);
        self.undo.push((entity.to_string(), id, old));
        Ok(())
    }
}

/// The in-memory store: DB-less mode (`database = off`, read-only but for
/// `replace_all`) and tests. Same semantics as [`crate::SqliteStore`].
#[derive(Debug)]
pub struct MemoryStore {
    state: RwLock<State>,
    rules: Arc<Rules>,
    read_only: bool,
    version: AtomicU64,
    changes: broadcast::Sender<Change>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A writable, empty store with the bundled schemas' rules.
    pub fn new() -> Self {
        Self::with_rules(Rules::bundled().clone(), false)
    }

    /// A DB-less store: `apply` answers [`StoreError::ReadOnly`]; `replace_all`
    /// (declarative config, `POST /config`) works.
    pub fn read_only() -> Self {
        Self::with_rules(Rules::bundled().clone(), true)
    }

    /// A store with custom rules (e.g. from schemas with a custom plugin catalogue).
    pub fn with_rules(rules: Rules, read_only: bool) -> Self {
        let (changes, _) = broadcast::channel(CHANGE_CAPACITY);
        Self {
            state: RwLock::new(State::default()),
            rules: Arc::new(rules),
            read_only,
            version: AtomicU64::new(0),
            changes,
        }
    }

    /// Whether `apply` is refused.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A poisoned lock still holds consistent data: every mutation either
        // completes or is undone before the guard drops, and none panics.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Bumps the version and broadcasts; called with the write lock held so events
    /// go out in version order.
    fn commit(&self, touched: Vec<(String, Uuid)>, full: bool) {
        let version = self.version.fetch_add(1, Ordering::SeqCst) + 1;
        // No subscriber is not an error.
        let _ = self.changes.send(Change {
            version,
            touched,
            full,
        });
    }

    fn lookup(&self, entity: &str, given: &Map<String, Value>) -> StoreResult<Option<Value>> {
        let Some((key, canon)) = self.rules.lookup_key(entity, given)? else {
            return Ok(None);
        };
        let st = self.read();
        let Some(id) = st.unique_owner(entity, &key, &canon) else {
            return Ok(None);
        };
        st.row(entity, &id).map(Row::value).transpose()
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn get(&self, entity: &str, id: Uuid) -> StoreResult<Option<Value>> {
        let st = self.read();
        st.row(entity, &id).map(Row::value).transpose()
    }

    async fn find_unique(
        &self,
        entity: &str,
        field: &str,
        value: &Value,
    ) -> StoreResult<Option<Value>> {
        let mut given = Map::new();
        given.insert(field.to_string(), value.clone());
        self.lookup(entity, &given)
    }

    async fn find_by_cache_key(
        &self,
        entity: &str,
        key: &Map<String, Value>,
    ) -> StoreResult<Option<Value>> {
        self.lookup(entity, key)
    }

    async fn list(&self, entity: &str, query: &ListQuery) -> StoreResult<Page> {
        let after = query.offset.as_deref().map(decode_offset).transpose()?;
        let size = effective_size(query.size);
        let st = self.read();
        let Some(table) = st.table(entity) else {
            return Ok(Page::default());
        };
        let rows = &table.rows;
        let lower = after.map_or(Unbounded, Excluded);
        let ids: Box<dyn Iterator<Item = &Uuid>> = match &query.foreign {
            Some((field, parent)) => match st.children(entity, field, parent) {
                Some(set) => Box::new(set.range((lower, Unbounded))),
                None => Box::new(std::iter::empty()),
            },
            None => Box::new(rows.range((lower, Unbounded)).map(|(id, _)| id)),
        };
        let mut page = Page::default();
        let mut last = None;
        for id in ids {
            let Some(row) = rows.get(id) else { continue };
            // Filtered on the row's indexed tags: only rows on the page are parsed.
            if let Some(filter) = &query.tags
                && !tags_pass(filter, &row.index.tags)
            {
                continue;
            }
            if page.items.len() == size {
                page.offset = last.map(encode_offset);
                break;
            }
            page.items.push(row.value()?);
            last = Some(*id);
        }
        Ok(page)
    }

    async fn apply(&self, writes: Vec<Write>) -> StoreResult<Vec<Value>> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let mut st = self.write();
        let mut tx = MemTx {
            state: &mut st,
            undo: Vec::new(),
        };
        let mut touched = Vec::new();
        let mut out = Vec::with_capacity(writes.len());
        for write in &writes {
            match rules::apply_write(&self.rules, &mut tx, write, &mut touched) {
                Ok(v) => out.push(v),
                Err(e) => {
                    tx.rollback();
                    return Err(e);
                }
            }
        }
        drop(tx);
        if !touched.is_empty() {
            self.commit(touched, false);
        }
        Ok(out)
    }

    async fn list_tags(&self, tag: Option<&str>, query: &ListQuery) -> StoreResult<Page> {
        let after = query.offset.as_deref().map(decode_tag_offset).transpose()?;
        let size = effective_size(query.size);
        // DB-less only: a scan is fine for the rarely used `/tags`.
        let mut all = Vec::new();
        for (entity, table) in &self.read().tables {
            for (id, row) in &table.rows {
                for t in &row.index.tags {
                    if tag.is_none_or(|want| want == t) {
                        all.push((t.clone(), entity.clone(), *id));
                    }
                }
            }
        }
        all.sort();
        let start = after.map_or(0, |a| all.partition_point(|p| *p <= a));
        let mut page = Page::default();
        let rest = all.get(start..).unwrap_or_default();
        for (i, pos) in rest.iter().enumerate() {
            if i == size {
                page.offset = rest.get(i - 1).map(encode_tag_offset);
                break;
            }
            page.items.push(tag_item(&pos.0, &pos.1, pos.2));
        }
        Ok(page)
    }

    async fn dump(&self) -> StoreResult<Dump> {
        let st = self.read();
        st.tables
            .iter()
            .filter(|(_, t)| !t.rows.is_empty())
            .map(|(e, t)| {
                Ok((
                    e.clone(),
                    t.rows
                        .values()
                        .map(Row::value)
                        .collect::<StoreResult<_>>()?,
                ))
            })
            .collect::<StoreResult<_>>()
    }

    async fn replace_all(&self, dump: Dump) -> StoreResult<()> {
        let mut fresh = State::default();
        let mut tx = MemTx {
            state: &mut fresh,
            undo: Vec::new(),
        };
        rules::load_dump(&self.rules, &mut tx, &dump)?;
        let mut st = self.write();
        *st = fresh;
        self.commit(Vec::new(), true);
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }
}
