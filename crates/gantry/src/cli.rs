//! Command-line interface (Kong's verbs: start, stop, quit, reload, health, version,
//! config parse).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use gantry_config::Settings;

use crate::{control, db, declarative, logging, node};

#[derive(Debug, Parser)]
#[command(name = "gantry", version, about = "A Kong-compatible API gateway")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct ConfOpts {
    /// Configuration file (kong.conf format).
    #[arg(short = 'c', long = "conf")]
    conf: Option<PathBuf>,
    /// Override the prefix directory.
    #[arg(short = 'p', long = "prefix")]
    prefix: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a Gantry node in the foreground.
    Start {
        #[command(flatten)]
        conf: ConfOpts,
    },
    /// Stop a running node (in-flight requests finish first).
    Stop {
        #[command(flatten)]
        conf: ConfOpts,
    },
    /// Gracefully stop a running node, waiting up to --timeout seconds.
    Quit {
        #[command(flatten)]
        conf: ConfOpts,
        /// Seconds to wait for the node to exit.
        #[arg(short = 't', long, default_value_t = 10)]
        timeout: u64,
    },
    /// Reload the declarative configuration of a running node (SIGHUP).
    Reload {
        #[command(flatten)]
        conf: ConfOpts,
    },
    /// Tell whether a node runs in the prefix.
    Health {
        #[command(flatten)]
        conf: ConfOpts,
    },
    /// Print the version.
    Version,
    /// Declarative configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
        #[command(flatten)]
        conf: ConfOpts,
    },
    /// Database migrations (sqlite).
    Migrations {
        #[command(subcommand)]
        command: MigrationsCommand,
        #[command(flatten)]
        conf: ConfOpts,
    },
}

#[derive(Debug, Subcommand)]
enum MigrationsCommand {
    /// Create the database schema (same as `up` on a new database).
    Bootstrap,
    /// Run pending migrations.
    Up,
    /// List executed and pending migrations.
    List,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a declarative configuration file (kong.yml or JSON).
    Parse {
        /// The file to check.
        file: PathBuf,
    },
    /// Import a declarative file into the database (all or nothing).
    #[command(name = "db_import", alias = "db-import")]
    DbImport {
        /// The kong.yml / JSON file.
        file: PathBuf,
    },
    /// Export the database as a declarative file (stdout when no file is given).
    #[command(name = "db_export", alias = "db-export")]
    DbExport {
        /// Where to write; `-` or nothing for stdout.
        file: Option<PathBuf>,
    },
}

fn load_settings(opts: &ConfOpts) -> anyhow::Result<(Settings, Vec<gantry_config::Warning>)> {
    let mut env: Vec<(String, String)> = gantry_config::process_env().collect();
    if let Some(p) = &opts.prefix {
        env.push(("GANTRY_PREFIX".to_string(), p.display().to_string()));
    }
    Settings::load(opts.conf.as_deref(), env).map_err(|e| anyhow::anyhow!("{e}"))
}

#[allow(clippy::print_stdout)]
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Version => {
            println!("Gantry {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Start { conf } => {
            let (settings, warnings) = load_settings(&conf)?;
            logging::init(settings.log_level);
            for w in &warnings {
                logging::warning(w);
            }
            node::run(settings).context("gantry failed")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stop { conf } => {
            let (settings, _) = load_settings(&conf)?;
            control::stop(&settings.prefix, nix::sys::signal::Signal::SIGTERM, 30)?;
            println!("Gantry stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Quit { conf, timeout } => {
            let (settings, _) = load_settings(&conf)?;
            control::stop(&settings.prefix, nix::sys::signal::Signal::SIGQUIT, timeout)?;
            println!("Gantry stopped (gracefully)");
            Ok(ExitCode::SUCCESS)
        }
        Command::Reload { conf } => {
            let (settings, _) = load_settings(&conf)?;
            control::signal(&settings.prefix, nix::sys::signal::Signal::SIGHUP)?;
            println!("Gantry reloaded");
            Ok(ExitCode::SUCCESS)
        }
        Command::Health { conf } => {
            let (settings, _) = load_settings(&conf)?;
            match control::running_pid(&settings.prefix) {
                Some(pid) => {
                    println!("gantry ......... running (pid {pid})");
                    println!("Gantry is healthy at {}", settings.prefix.display());
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    println!("gantry ......... not running");
                    println!("Gantry is not running at {}", settings.prefix.display());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Config {
            command: ConfigCommand::DbImport { file },
            conf,
        } => {
            let (settings, _) = load_settings(&conf)?;
            let summary = db::import(&settings, &file)?;
            println!("imported {}: {summary}", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::DbExport { file },
            conf,
        } => {
            let (settings, _) = load_settings(&conf)?;
            let yaml = db::export(&settings)?;
            match file.filter(|f| f.as_os_str() != "-") {
                Some(f) => {
                    std::fs::write(&f, yaml)
                        .with_context(|| format!("cannot write {}", f.display()))?;
                    println!("exported to {}", f.display());
                }
                None => print!("{yaml}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrations { command, conf } => {
            let (settings, _) = load_settings(&conf)?;
            match command {
                MigrationsCommand::Bootstrap | MigrationsCommand::Up => {
                    let ran = db::migrations_up(&settings)?;
                    if ran.is_empty() {
                        println!("Database is already up-to-date");
                    } else {
                        println!("{} migration(s) processed", ran.len());
                    }
                }
                MigrationsCommand::List => print!("{}", db::migrations_list(&settings)?),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Parse { file },
            ..
        } => match declarative::load_file(&file) {
            Ok(summary) => {
                println!("parse successful: {}", summary.describe());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("Error: {} is invalid:\n{e}", file.display());
                }
                Ok(ExitCode::FAILURE)
            }
        },
    }
}
