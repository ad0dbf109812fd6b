//! Loading: built-in defaults < configuration file < `KONG_*` < `GANTRY_*`.

use std::path::{Path, PathBuf};

use crate::build::build;
use crate::error::{ConfigError, Source, Warning, WarningLevel};
use crate::file::parse_conf;
use crate::keys::{self, KeyKind};
use crate::raw::RawConfig;
use crate::settings::Settings;

/// Files tried, in order, when no `-c FILE` is given (Kong's default paths).
pub const DEFAULT_CONF_PATHS: &[&str] = &["/etc/kong/kong.conf", "/etc/kong.conf"];

/// Environment variables starting with `GANTRY_` that are not settings (no
/// warning is given for them).
pub const NON_SETTING_ENV_VARS: &[&str] = &["GANTRY_LOG", "GANTRY_CONF", "GANTRY_CONFIG"];

/// The process environment as `(name, value)` pairs, skipping variables whose
/// name or value is not valid UTF-8 (`std::env::vars` would panic on them).
pub fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
}

impl Settings {
    /// Loads the settings: built-in defaults, then the file (`file` if given
    /// — it must exist — else the first of [`DEFAULT_CONF_PATHS`] that
    /// exists, else none), then `KONG_<KEY>` variables, then `GANTRY_<KEY>`
    /// variables from `env` (pass [`process_env()`] in the binary).
    ///
    /// Returns every invalid value at once as [`ConfigError::Invalid`], or the
    /// settings plus warnings for the binary to log at their level.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Settings, Vec<Warning>), ConfigError> {
        let defaults: Vec<&Path> = DEFAULT_CONF_PATHS.iter().map(Path::new).collect();
        Self::load_with_default_paths(file, &defaults, env)
    }

    /// [`Settings::load`] with explicit fallback paths (for tests and tools).
    pub fn load_with_default_paths(
        file: Option<&Path>,
        default_paths: &[&Path],
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Settings, Vec<Warning>), ConfigError> {
        let path: Option<PathBuf> = match file {
            Some(p) if !p.exists() => return Err(ConfigError::NoFile { path: p.into() }),
            Some(p) => Some(p.into()),
            None => default_paths
                .iter()
                .find(|p| p.is_file())
                .map(|p| p.to_path_buf()),
        };
        let text = match &path {
            Some(p) => {
                Some(
                    std::fs::read_to_string(p).map_err(|source| ConfigError::ReadFile {
                        path: p.clone(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let file = match (&path, &text) {
            (Some(p), Some(t)) => Some((p.as_path(), t.as_str())),
            _ => None,
        };
        load_layers(file, env)
    }

    /// Loads from configuration text instead of a file (reported as
    /// `<string>` in messages); the environment applies as in [`Settings::load`].
    pub fn from_conf_str(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Settings, Vec<Warning>), ConfigError> {
        load_layers(Some((Path::new("<string>"), text)), env)
    }
}

/// Merges the layers and builds typed settings.
fn load_layers(
    file: Option<(&Path, &str)>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(Settings, Vec<Warning>), ConfigError> {
    let mut raw = RawConfig::with_defaults();
    let mut warnings = Vec::new();
    let config_file = file.map(|(p, _)| p.to_path_buf());
    if let Some((path, text)) = file {
        apply_file(&mut raw, &mut warnings, path, text);
    }
    apply_env(&mut raw, &mut warnings, env);
    let (settings, more) = build(raw, config_file)?;
    warnings.extend(more);
    Ok((settings, warnings))
}

fn apply_file(raw: &mut RawConfig, warnings: &mut Vec<Warning>, path: &Path, text: &str) {
    let (entries, malformed) = parse_conf(text);
    let at = |line: usize| Source::File {
        path: path.to_path_buf(),
        line,
    };
    for m in malformed {
        warnings.push(Warning::new(WarningLevel::Warn, None, at(m.line), m.reason));
    }
    let mut seen: Vec<(String, usize)> = Vec::new();
    for e in entries {
        let source = at(e.line);
        let canonical = keys::canonical(&e.key).to_owned();
        if !accept_key(warnings, &e.key, &e.value, &source, false) {
            continue;
        }
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == canonical) {
            warnings.push(Warning::new(
                WarningLevel::Debug,
                Some(&canonical),
                source.clone(),
                format!(
                    "{} is set more than once (first on line {first}); the last value wins",
                    e.key
                ),
            ));
        } else {
            seen.push((canonical, e.line));
        }
        raw.set(&e.key, &e.value, source);
    }
}

fn apply_env(
    raw: &mut RawConfig,
    warnings: &mut Vec<Warning>,
    env: impl IntoIterator<Item = (String, String)>,
) {
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("KONG_") || k.starts_with("GANTRY_"))
        .collect();
    vars.sort();
    for (name, value) in vars {
        let gantry = name.starts_with("GANTRY_");
        let suffix = name
            .strip_prefix("GANTRY_")
            .or_else(|| name.strip_prefix("KONG_"))
            .unwrap_or("");
        if suffix.is_empty() || (gantry && NON_SETTING_ENV_VARS.contains(&name.as_str())) {
            continue;
        }
        let source = Source::Env { var: name.clone() };
        if suffix.bytes().any(|b| b.is_ascii_lowercase()) {
            warnings.push(Warning::new(
                WarningLevel::Debug,
                None,
                source,
                format!(
                    "ignoring {name}: setting names in environment variables must be uppercase"
                ),
            ));
            continue;
        }
        let key = suffix.to_ascii_lowercase();
        // Unknown KONG_* variables are common (e.g. set by images or tools) and
        // Kong ignores them quietly; unknown GANTRY_* ones are likely typos.
        if accept_key(warnings, &key, &value, &source, !gantry) {
            raw.set(&key, &value, source);
        }
    }
}

/// Decides whether a key is stored, adding a warning for unknown keys (a
/// debug note when `quiet_unknown`) and a debug note for Kong keys that
/// Gantry ignores.
fn accept_key(
    warnings: &mut Vec<Warning>,
    key: &str,
    value: &str,
    source: &Source,
    quiet_unknown: bool,
) -> bool {
    let canonical = keys::canonical(key);
    match keys::classify(canonical) {
        KeyKind::Used => true,
        KeyKind::Ignored => {
            let is_default = keys::DEFAULTS
                .iter()
                .any(|(k, v)| *k == canonical && v.trim() == value.trim());
            if !is_default {
                warnings.push(Warning::new(
                    WarningLevel::Debug,
                    Some(canonical),
                    source.clone(),
                    format!("{key} is a Kong setting that Gantry accepts but does not use"),
                ));
            }
            true
        }
        KeyKind::Unknown => {
            let lower = key.to_ascii_lowercase();
            let hint = if lower != key && keys::classify(&lower) != KeyKind::Unknown {
                format!(" (did you mean '{lower}'? keys are lowercase)")
            } else {
                String::new()
            };
            let level = if quiet_unknown {
                WarningLevel::Debug
            } else {
                WarningLevel::Warn
            };
            warnings.push(Warning::new(
                level,
                Some(key),
                source.clone(),
                format!("unknown setting '{key}' ignored{hint}"),
            ));
            false
        }
    }
}
