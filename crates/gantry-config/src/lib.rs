//! kong.conf-compatible settings for Gantry.
//!
//! Settings come from built-in defaults (Kong 3.x's, except `prefix` and
//! `database`), then a kong.conf-style file, then `KONG_<KEY>` environment
//! variables, then `GANTRY_<KEY>` variables (highest). See
//! `docs/configuration.md` for every key.
//!
//! ```
//! use gantry_config::Settings;
//! let env = vec![("KONG_LOG_LEVEL".to_string(), "debug".to_string())];
//! let (settings, warnings) = Settings::from_conf_str("admin_listen = off\n", env).unwrap();
//! assert!(settings.admin_listen.is_empty());
//! assert_eq!(settings.log_level.as_str(), "debug");
//! assert!(warnings.is_empty());
//! ```
//!
//! In the binary: `Settings::load(cli_conf.as_deref(), gantry_config::process_env())`,
//! then log each [`Warning`] at its [`WarningLevel`].
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod build;
mod display;
mod error;
mod file;
mod headers;
pub mod keys;
mod listeners;
mod load;
mod raw;
mod realip;
mod secret;
mod settings;
pub mod values;

pub use error::{ConfigError, InvalidValue, Source, Warning, WarningLevel};
pub use headers::{ResponseHeaders, UpstreamHeaders};
pub use listeners::{LISTEN_USAGE, ListenHost, Listener, SoKeepalive, parse_listeners};
pub use load::{DEFAULT_CONF_PATHS, NON_SETTING_ENV_VARS, process_env};
pub use raw::{RawConfig, RawValue};
pub use realip::{RealIpHeader, TrustedIps};
pub use secret::{REDACTED, Secret};
pub use settings::{
    CertPairs, DEFAULT_PREFIX, Database, ErrorDefaultType, LogLevel, PgSettings, RouterFlavor,
    Settings, UpstreamKeepalive, WorkerProcesses,
};
