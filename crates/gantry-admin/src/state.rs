//! What every Admin API handler shares: the store, the schemas, node identity
//! and the listener settings.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use gantry_core::schemas::Schemas;
use gantry_store::Store;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::info::Stats;
use crate::routes::{RouteSpec, route_table};

/// `configuration_hash` before any configuration is loaded.
pub const EMPTY_HASH: &str = "00000000000000000000000000000000";

/// Identity of this node as `GET /` reports it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Kong-compatible version string (`3.9.1`); clients such as decK read it.
    pub version: String,
    /// Node id (`node_id`).
    pub node_id: Uuid,
    /// Host name (`hostname`).
    pub hostname: String,
}

impl Default for NodeInfo {
    fn default() -> Self {
        Self {
            version: "3.9.1".into(),
            node_id: Uuid::new_v4(),
            hostname: "localhost".into(),
        }
    }
}

/// Settings of the Admin API listener.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// `database = off`: entities are read-only, `/config` replaces them.
    pub dbless: bool,
    /// `admin_api_token`: when set, every request must carry it in
    /// `Kong-Admin-Token` (401 `{"message":"Unauthorized"}` otherwise).
    pub token: Option<String>,
    /// Largest accepted request body in bytes (Kong's default `10m`); larger → 413.
    pub body_limit: usize,
    /// `admin_gui_origin`: fixed `Access-Control-Allow-Origin` instead of echoing `Origin`.
    pub gui_origin: Option<String>,
    /// The node configuration shown (redacted) at `GET /` under `configuration`.
    pub configuration: Map<String, Value>,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            dbless: false,
            token: None,
            body_limit: 10 * 1024 * 1024,
            gui_origin: None,
            configuration: Map::new(),
        }
    }
}

/// Shared state of the Admin API (cheap to clone).
#[derive(Clone)]
pub struct AdminState {
    /// Entity storage.
    pub store: Arc<dyn Store>,
    /// Entity schemas (and the plugin catalogue).
    pub schemas: &'static Schemas,
    /// Node identity.
    pub node: Arc<NodeInfo>,
    /// Listener settings.
    pub settings: Arc<AdminSettings>,
    /// The route table (shared by the router, `/endpoints` and `/openapi.json`).
    pub routes: Arc<Vec<RouteSpec>>,
    /// When the node started (for `/status`).
    pub started: Instant,
    /// Serializes `POST /config` (Kong answers 429 while one is loading).
    pub config_lock: Arc<tokio::sync::Mutex<()>>,
    /// Request counters for `/status`.
    pub stats: Arc<Stats>,
    /// Hash of the loaded declarative configuration (DB-less).
    config_hash: Arc<RwLock<String>>,
    /// The node's running balancers, for the upstream health endpoints.
    pub health: Option<Arc<dyn crate::health::HealthSource>>,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("node", &self.node)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AdminState {
    /// State over a store and schema set, with default node info and settings.
    pub fn new(store: Arc<dyn Store>, schemas: &'static Schemas) -> Self {
        Self {
            store,
            schemas,
            node: Arc::new(NodeInfo::default()),
            settings: Arc::new(AdminSettings::default()),
            routes: Arc::new(route_table(schemas)),
            started: Instant::now(),
            config_lock: Arc::new(tokio::sync::Mutex::new(())),
            stats: Arc::new(Stats::default()),
            config_hash: Arc::new(RwLock::new(EMPTY_HASH.to_string())),
            health: None,
        }
    }

    /// Serves the upstream health endpoints from these balancers.
    pub fn with_health(mut self, health: Arc<dyn crate::health::HealthSource>) -> Self {
        self.health = Some(health);
        self
    }

    /// Replaces the node identity.
    pub fn with_node(mut self, node: NodeInfo) -> Self {
        self.node = Arc::new(node);
        self
    }

    /// Replaces the listener settings.
    pub fn with_settings(mut self, settings: AdminSettings) -> Self {
        self.settings = Arc::new(settings);
        self
    }

    /// Hash of the current declarative configuration (32 hex digits, zeros
    /// when none was loaded); `POST /config?check_hash=1` compares with it.
    pub fn config_hash(&self) -> String {
        self.config_hash
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|_| EMPTY_HASH.to_string())
    }

    /// Records the hash of the loaded configuration (the binary calls this
    /// after loading `declarative_config` at start; see [`crate::config::hash_document`]).
    pub fn set_config_hash(&self, hash: String) {
        if let Ok(mut g) = self.config_hash.write() {
            *g = hash;
        }
    }

    /// Whether the node runs without a database.
    pub fn dbless(&self) -> bool {
        self.settings.dbless
    }
}
