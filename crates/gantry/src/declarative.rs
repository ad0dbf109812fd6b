//! Loading a declarative configuration (kong.yml or JSON) through the core crate's
//! Kong-compatible parser and validator.

use std::path::Path;
use std::sync::OnceLock;

use gantry_core::declarative::{self, DeclarativeConfig};
use gantry_core::schemas::Schemas;

/// A parsed and validated configuration.
pub struct Loaded {
    pub config: DeclarativeConfig,
}

impl Loaded {
    /// One line: how many entities of each kind.
    pub fn describe(&self) -> String {
        let c = &self.config;
        format!(
            "{} services, {} routes, {} upstreams, {} targets, {} consumers, {} plugins, {} certificates",
            c.services.len(),
            c.routes.len(),
            c.upstreams.len(),
            c.targets.len(),
            c.consumers.len(),
            c.plugins.len(),
            c.certificates.len()
        )
    }
}

/// Kong's schemas with the real config schema of every plugin Gantry implements (the
/// others are checked by name only), shared by declarative loading and the Admin API.
pub fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| Schemas::new(gantry_plugins::catalog()))
}

/// Reads and validates a file; the error lists every problem with its path.
pub fn load_file(path: &Path) -> Result<Loaded, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("could not read {}: {e}", path.display()))?;
    load_str(&text)
}

/// Validates an inline configuration.
pub fn load_str(text: &str) -> Result<Loaded, String> {
    declarative::parse_with(text, schemas())
        .map(|config| Loaded { config })
        .map_err(|e| e.to_string())
}
