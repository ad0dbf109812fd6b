//! A running Gantry node: loads the configuration, starts the proxy workers, and reacts
//! to signals — SIGTERM/SIGINT/SIGQUIT stop gracefully (in-flight requests finish),
//! SIGHUP reloads the declarative configuration without dropping a request.

use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use gantry_config::{Database, Settings};
use gantry_proxy::{ConfigEntities, ProxyServer, Snapshot};
use tokio::signal::unix::{SignalKind, signal};

use crate::{control, declarative, options};

/// Runs until a stop signal arrives.
pub fn run(settings: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.prefix)
        .with_context(|| format!("cannot create prefix {}", settings.prefix.display()))?;
    let pid_path = control::write_pid(&settings.prefix)?;
    let result = serve(&settings);
    let _ = std::fs::remove_file(&pid_path);
    result
}

fn serve(settings: &Settings) -> anyhow::Result<()> {
    let entities = initial_config(settings)?;
    let snapshot = Snapshot::build(&entities).context("cannot compile the configuration")?;
    let shared = Arc::new(ArcSwap::from_pointee(snapshot));

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
    if !settings.admin_listen.is_empty() {
        tracing::warn!("admin_listen is set but the Admin API is not built yet");
    }
    tracing::info!(prefix = %settings.prefix.display(), "Gantry started");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the control runtime")?;
    rt.block_on(wait_for_signals(settings, &shared))?;
    tracing::info!("stopping: waiting for in-flight requests");
    server.shutdown(gantry_proxy::server::DEFAULT_GRACE);
    tracing::info!("Gantry stopped");
    Ok(())
}

async fn wait_for_signals(
    settings: &Settings,
    shared: &Arc<ArcSwap<Snapshot>>,
) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = quit.recv() => return Ok(()),
            _ = hup.recv() => reload(settings, shared),
        }
    }
}

/// Re-reads the declarative configuration; a bad file is reported and the running
/// configuration is kept.
fn reload(settings: &Settings, shared: &Arc<ArcSwap<Snapshot>>) {
    match initial_config(settings).and_then(|e| Snapshot::build(&e).map_err(Into::into)) {
        Ok(snapshot) => {
            shared.store(Arc::new(snapshot));
            tracing::info!("configuration reloaded");
        }
        Err(e) => tracing::error!("reload failed, keeping the running configuration: {e:#}"),
    }
}

/// The configuration to serve at start: the declarative file or string when given.
fn initial_config(settings: &Settings) -> anyhow::Result<ConfigEntities> {
    if settings.database != Database::Off {
        tracing::warn!(
            "database = {}: the embedded store is not built yet; serving declarative_config only",
            settings.database.as_str()
        );
    }
    if let Some(path) = &settings.declarative_config {
        let loaded = declarative::load_file(path).map_err(|e| {
            anyhow::anyhow!("declarative config {} is invalid:\n{e}", path.display())
        })?;
        tracing::info!(
            "loaded declarative config {}: {}",
            path.display(),
            loaded.describe()
        );
        return Ok(loaded.entities);
    }
    if let Some(text) = &settings.declarative_config_string {
        let loaded = declarative::load_str(text.expose())
            .map_err(|e| anyhow::anyhow!("declarative_config_string is invalid:\n{e}"))?;
        tracing::info!("loaded declarative_config_string: {}", loaded.describe());
        return Ok(loaded.entities);
    }
    tracing::info!("no declarative configuration: every request gets 404 until one is loaded");
    Ok(ConfigEntities::default())
}
