//! Errors, warnings and value provenance produced while loading settings.

use std::fmt;
use std::path::PathBuf;

/// Where the effective value of a setting came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// Gantry's built-in default (Kong's `kong_defaults.lua`, with Gantry's
    /// own overrides for `prefix` and `database`).
    Default,
    /// A line of the configuration file.
    File {
        /// Path of the file as it was given (or found).
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// An environment variable (`KONG_<KEY>` or `GANTRY_<KEY>`).
    Env {
        /// The variable's name exactly as found in the environment.
        var: String,
    },
}

impl Source {
    /// Precedence rank: a higher rank overrides a lower one.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Source::Default => 0,
            Source::File { .. } => 1,
            Source::Env { var } if var.starts_with("GANTRY_") => 3,
            Source::Env { .. } => 2,
        }
    }

    /// True when the value was set by the user (file or environment).
    pub fn is_user_set(&self) -> bool {
        !matches!(self, Source::Default)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("built-in default"),
            Source::File { path, line } => write!(f, "{}:{line}", path.display()),
            Source::Env { var } => write!(f, "environment variable {var}"),
        }
    }
}

/// How loudly the binary should report a [`Warning`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WarningLevel {
    /// Informational: e.g. a Kong setting that Gantry accepts but ignores.
    Debug,
    /// Something the operator most likely wants to fix (unknown key, malformed line).
    Warn,
}

/// A non-fatal problem found while loading settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Suggested log level.
    pub level: WarningLevel,
    /// The setting concerned, if any (lowercase key, e.g. `log_level`).
    pub key: Option<String>,
    /// Where the offending line or variable came from.
    pub source: Source,
    /// Human-readable description (does not repeat `source`).
    pub message: String,
}

impl Warning {
    pub(crate) fn new(
        level: WarningLevel,
        key: Option<&str>,
        source: Source,
        message: String,
    ) -> Self {
        Warning {
            level,
            key: key.map(str::to_owned),
            source,
            message,
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.source)
    }
}

/// One invalid setting. Messages follow Kong's wording where Kong has one,
/// e.g. `log_level has an invalid value: 'loud' (debug, info, ...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidValue {
    /// The setting's key (lowercase).
    pub key: String,
    /// Where the bad value came from.
    pub source: Source,
    /// The full message; it names the key and (unless sensitive) the value.
    pub message: String,
}

impl fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.source.is_user_set() {
            write!(f, "{} (from {})", self.message, self.source)
        } else {
            f.write_str(&self.message)
        }
    }
}

/// A fatal configuration error: Gantry must not start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `-c FILE` named a file that does not exist (Kong: `no file at: <path>`).
    #[error("no file at: {}", path.display())]
    NoFile {
        /// The path that was given.
        path: PathBuf,
    },
    /// The configuration file exists but could not be read.
    #[error("could not load config file {}: {source}", path.display())]
    ReadFile {
        /// The file's path.
        path: PathBuf,
        /// The underlying I/O error (including invalid UTF-8).
        #[source]
        source: std::io::Error,
    },
    /// One or more settings have invalid values; all of them are listed.
    #[error("{}", join_invalid(.0))]
    Invalid(Vec<InvalidValue>),
}

impl ConfigError {
    /// The individual invalid settings (empty for file errors).
    pub fn invalid_values(&self) -> &[InvalidValue] {
        match self {
            ConfigError::Invalid(list) => list,
            _ => &[],
        }
    }
}

fn join_invalid(list: &[InvalidValue]) -> String {
    let parts: Vec<String> = list.iter().map(ToString::to_string).collect();
    parts.join("; ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn source_ranks_follow_precedence() {
        let file = Source::File {
            path: "/x".into(),
            line: 1,
        };
        let kong = Source::Env {
            var: "KONG_LOG_LEVEL".into(),
        };
        let gantry = Source::Env {
            var: "GANTRY_LOG_LEVEL".into(),
        };
        assert!(Source::Default.rank() < file.rank());
        assert!(file.rank() < kong.rank());
        assert!(kong.rank() < gantry.rank());
        assert!(!Source::Default.is_user_set());
        assert!(gantry.is_user_set());
    }

    #[test]
    fn displays() {
        let w = Warning::new(
            WarningLevel::Warn,
            Some("foo"),
            Source::File {
                path: "/etc/kong/kong.conf".into(),
                line: 3,
            },
            "unknown setting 'foo'".into(),
        );
        assert_eq!(
            w.to_string(),
            "unknown setting 'foo' (/etc/kong/kong.conf:3)"
        );
        let e = ConfigError::Invalid(vec![
            InvalidValue {
                key: "a".into(),
                source: Source::Env {
                    var: "KONG_A".into(),
                },
                message: "a is bad".into(),
            },
            InvalidValue {
                key: "b".into(),
                source: Source::Default,
                message: "b is bad".into(),
            },
        ]);
        assert_eq!(
            e.to_string(),
            "a is bad (from environment variable KONG_A); b is bad"
        );
        assert_eq!(e.invalid_values().len(), 2);
        let e = ConfigError::NoFile {
            path: "/nope".into(),
        };
        assert_eq!(e.to_string(), "no file at: /nope");
    }
}
