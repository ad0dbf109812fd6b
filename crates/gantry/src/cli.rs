//! Command-line interface (Kong's verbs: start, stop, quit, reload, health, version,
//! config parse).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use gantry_config::Settings;

use crate::{control, declarative, logging, node};

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
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a declarative configuration file (kong.yml or JSON).
    Parse {
        /// The file to check.
        file: PathBuf,
    },
}

fn load_settings(opts: &ConfOpts) -> anyhow::Result<(Settings, Vec<gantry_config::Warning>)> {
    let mut env: Vec<(String, String)> = gantry_config::process_env().into_iter().collect();
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
            command: ConfigCommand::Parse { file },
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
