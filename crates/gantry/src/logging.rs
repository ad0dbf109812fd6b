//! Log setup: `log_level` from kong.conf, overridable with `GANTRY_LOG` (tracing's
//! env-filter syntax) for finer control.

use gantry_config::{LogLevel, Warning, WarningLevel};
use tracing_subscriber::EnvFilter;

/// Maps Kong's nginx levels to tracing levels.
fn directive(level: LogLevel) -> &'static str {
    match level.as_str() {
        "debug" => "debug",
        "info" | "notice" => "info",
        "warn" => "warn",
        _ => "error",
    }
}

/// Installs the global subscriber (stderr, like Kong's error log in the foreground).
pub fn init(level: LogLevel) {
    let filter = std::env::var("GANTRY_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(directive(level)));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Logs a settings warning at its level.
pub fn warning(w: &Warning) {
    match w.level {
        WarningLevel::Warn => tracing::warn!("{w}"),
        _ => tracing::debug!("{w}"),
    }
}
