//! Database commands: `config db_import`, `config db_export` and `migrations`, as in
//! Kong's CLI, against the node's configured store.

use std::path::Path;

use gantry_config::{Database, Settings};
use gantry_core::declarative::DeclarativeConfig;
use gantry_store::Write;

use crate::{declarative, node, reconfigure};

/// Order in which entities are written so that parents exist before children.
const IMPORT_ORDER: &[&str] = &[
    "certificates",
    "snis",
    "ca_certificates",
    "services",
    "routes",
    "upstreams",
    "targets",
    "consumers",
    "plugins",
    "keyauth_credentials",
    "basicauth_credentials",
    "jwt_secrets",
    "hmacauth_credentials",
    "acls",
    "oauth2_credentials",
];

fn require_db(settings: &Settings) -> anyhow::Result<()> {
    if settings.database == Database::Off {
        anyhow::bail!("this command needs a database (database = sqlite); it is 'off'");
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Imports a declarative file: every entity is upserted in one transaction, so a file
/// that fails anywhere imports nothing.
pub fn import(settings: &Settings, file: &Path) -> anyhow::Result<String> {
    require_db(settings)?;
    let loaded = declarative::load_file(file)
        .map_err(|e| anyhow::anyhow!("{} is invalid:\n{e}", file.display()))?;
    gantry_proxy::Snapshot::build(&reconfigure::entities(&loaded.config))
        .map_err(|e| anyhow::anyhow!("{} is invalid: {e}", file.display()))?;
    let mut map = loaded.config.to_entity_map();
    let mut writes = Vec::new();
    for entity in IMPORT_ORDER {
        for value in map.remove(*entity).unwrap_or_default() {
            writes.push(Write::Upsert {
                entity: (*entity).to_string(),
                value,
            });
        }
    }
    let store = node::open_store(settings)?;
    runtime()?
        .block_on(store.apply(writes))
        .map_err(|e| anyhow::anyhow!("import failed: {e}"))?;
    Ok(loaded.describe())
}

/// Exports the database as a flat kong.yml (`_format_version: "3.0"`).
pub fn export(settings: &Settings) -> anyhow::Result<String> {
    require_db(settings)?;
    let store = node::open_store(settings)?;
    let dump = runtime()?
        .block_on(store.dump())
        .map_err(|e| anyhow::anyhow!("export failed: {e}"))?;
    let (cfg, errors) = DeclarativeConfig::from_entity_map(&dump);
    if !errors.is_empty() {
        anyhow::bail!(
            "export failed, entities that do not load:\n{}",
            errors.join("\n")
        );
    }
    cfg.to_yaml().map_err(anyhow::Error::msg)
}

/// `migrations bootstrap` / `up`: runs pending migrations; returns what ran.
pub fn migrations_up(settings: &Settings) -> anyhow::Result<Vec<u32>> {
    require_db(settings)?;
    std::fs::create_dir_all(&settings.prefix)?;
    gantry_store::migrations::up_at(&node::sqlite_path(settings))
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// `migrations list`: executed and pending migrations, one per line.
pub fn migrations_list(settings: &Settings) -> anyhow::Result<String> {
    require_db(settings)?;
    let status = gantry_store::migrations::list_at(&node::sqlite_path(settings))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = String::new();
    for (n, name) in &status.executed {
        out.push_str(&format!("executed: {n:03} {name}\n"));
    }
    for (n, name) in &status.pending {
        out.push_str(&format!("pending:  {n:03} {name}\n"));
    }
    if status.pending.is_empty() {
        out.push_str("Database is up to date\n");
    }
    Ok(out)
}
