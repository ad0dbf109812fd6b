//! Loading a declarative configuration (kong.yml or JSON) into the entities the proxy
//! compiles, through the core crate's Kong-compatible parser and validator.

use std::path::Path;

use gantry_core::declarative::{self, DeclarativeConfig};
use gantry_proxy::ConfigEntities;

/// A parsed and validated configuration.
pub struct Loaded {
    pub config: DeclarativeConfig,
    pub entities: ConfigEntities,
}

impl Loaded {
    fn new(config: DeclarativeConfig) -> Self {
        let entities = ConfigEntities {
            services: config.services.clone(),
            routes: config.routes.clone(),
            upstreams: config.upstreams.clone(),
            targets: config.targets.clone(),
            certificates: config.certificates.clone(),
            snis: config.snis.clone(),
        };
        Loaded { config, entities }
    }

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
        .map(Loaded::new)
        .map_err(|e| e.to_string())
}

/// Validates an inline configuration.
pub fn load_str(text: &str) -> Result<Loaded, String> {
    declarative::parse(text)
        .map(Loaded::new)
        .map_err(|e| e.to_string())
}
