//! A running Gantry node: opens the store (embedded SQLite by default, in memory for
//! DB-less), loads the declarative configuration when DB-less, starts the proxy workers,
//! keeps the proxy's snapshot in step with the store, and reacts to signals —
//! SIGTERM/SIGINT/SIGQUIT stop gracefully (in-flight requests finish), SIGHUP reloads
//! the declarative configuration without dropping a request.

use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use gantry_config::{Database, Settings};
use gantry_proxy::ProxyServer;
use gantry_store::{MemoryStore, SqliteStore, Store};
use tokio::signal::unix::{SignalKind, signal};

use crate::{admin, control, declarative, options, reconfigure};

/// Runs until a stop signal arrives.
pub fn run(settings: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.prefix)
        .with_context(|| format!("cannot create prefix {}", settings.prefix.display()))?;
    let pid_path = control::write_pid(&settings.prefix)?;
    let result = serve(&settings);
    let _ = std::fs::remove_file(&pid_path);
    result
}

/// The SQLite database file of a prefix.
pub fn sqlite_path(settings: &Settings) -> std::path::PathBuf {
    settings.prefix.join("gantry.db")
}

/// Opens the store `database` names.
pub fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    match settings.database {
        Database::Off => Ok(Arc::new(MemoryStore::read_only())),
        Database::Sqlite => {
            let path = sqlite_path(settings);
            let store = SqliteStore::open(&path)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
            tracing::info!("database: sqlite at {}", path.display());
            Ok(Arc::new(store))
        }
        Database::Postgres => anyhow::bail!(
            "database = postgres is not supported yet; use sqlite (the default) or off"
        ),
    }
}

fn serve(settings: &Settings) -> anyhow::Result<()> {
    // Control plane of the node (store, reconfiguration, signals) on its own runtime;
    // the proxy workers run their own.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the control runtime")?;
    let server = rt.block_on(async {
        let store = open_store(settings)?;
        if settings.database == Database::Off {
            load_declarative(settings, store.as_ref()).await?;
        } else if settings.declarative_config.is_some() {
            tracing::warn!(
                "declarative_config is only read when database = off; it is ignored with database = {}",
                settings.database.as_str()
            );
        }
        let builder = reconfigure::Builder::new(settings)?;
        // Subscribe before reading, so no change falls between the two.
        let changes = store.subscribe();
        let version = store.version();
        let mirror = reconfigure::Mirror::load(store.as_ref()).await?;
        let snapshot = builder
            .compile(mirror.entities(), None, None)
            .await
            .context("cannot compile the configuration")?;
        // The dump and its JSON are gone; give their pages back before serving.
        gantry_alloc::release_freed_memory();
        let shared = Arc::new(ArcSwap::new(snapshot));

        let listens = options::proxy_listens(settings)?;
        let workers = settings.worker_threads();
        let mut opts = options::proxy_options(settings);
        opts.default_certificate = options::default_certificate(settings)?;
        let server = ProxyServer::start(&listens, workers, Arc::clone(&shared), opts)
            .context("cannot open the proxy listeners")?;
        for (addr, spec) in server.local_addrs().iter().zip(&listens) {
            let scheme = if spec.tls { "https" } else { "http" };
            tracing::info!("proxy listening on {scheme}://{addr} ({workers} worker(s))");
        }
        tokio::spawn(reconfigure::follow(
            Arc::clone(&store),
            changes,
            mirror,
            version,
            Arc::clone(&shared),
            builder,
        ));
        admin::start(settings, admin::state(settings, Arc::clone(&store), Arc::clone(&shared))).await?;
        tracing::info!(prefix = %settings.prefix.display(), "Gantry started");
        wait_for_signals(settings, store.as_ref()).await?;
        anyhow::Ok(server)
    })?;
    tracing::info!("stopping: waiting for in-flight requests");
    server.shutdown(gantry_proxy::server::DEFAULT_GRACE);
    tracing::info!("Gantry stopped");
    Ok(())
}

async fn wait_for_signals(settings: &Settings, store: &dyn Store) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = quit.recv() => return Ok(()),
            _ = hup.recv() => {
                if settings.database != Database::Off {
                    tracing::info!("SIGHUP: nothing to reload with database = {}", settings.database.as_str());
                } else if let Err(e) = load_declarative(settings, store).await {
                    tracing::error!("reload failed, keeping the running configuration: {e:#}");
                }
            }
        }
    }
}

/// DB-less: parses `declarative_config` (or `declarative_config_string`) and replaces
/// the store's content with it. A bad file changes nothing.
async fn load_declarative(settings: &Settings, store: &dyn Store) -> anyhow::Result<()> {
    let loaded = if let Some(path) = &settings.declarative_config {
        let l = declarative::load_file(path).map_err(|e| {
            anyhow::anyhow!("declarative config {} is invalid:\n{e}", path.display())
        })?;
        tracing::info!(
            "loaded declarative config {}: {}",
            path.display(),
            l.describe()
        );
        l
    } else if let Some(text) = &settings.declarative_config_string {
        let l = declarative::load_str(text.expose())
            .map_err(|e| anyhow::anyhow!("declarative_config_string is invalid:\n{e}"))?;
        tracing::info!("loaded declarative_config_string: {}", l.describe());
        l
    } else {
        tracing::info!("no declarative configuration: every request gets 404 until one is loaded");
        return Ok(());
    };
    // Certificates are loaded here too, so that a bad one is refused before anything
    // is replaced (the store does not parse PEM).
    gantry_proxy::Snapshot::build(&reconfigure::entities(&loaded.config))
        .map_err(|e| anyhow::anyhow!("declarative config is invalid: {e}"))?;
    store
        .replace_all(loaded.config.to_entity_map())
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the declarative configuration: {e}"))
}
