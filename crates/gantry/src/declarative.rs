//! Loading a declarative configuration (kong.yml or JSON) through the core crate's
//! Kong-compatible parser and validator.

use std::path::Path;

use gantry_core::declarative::{self, DeclarativeConfig};

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

/// Reads and validates a file; the error lists every problem with its path.
pub fn load_file(path: &Path) -> Result<Loaded, String> {
    declarative::parse_file(path)
        .map(|config| Loaded { config })
        .map_err(|e| e.to_string())
}

/// Validates an inline configuration.
pub fn load_str(text: &str) -> Result<Loaded, String> {
    declarative::parse(text)
        .map(|config| Loaded { config })
        .map_err(|e| e.to_string())
}
