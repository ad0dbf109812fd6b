//! The `gantry` command: start a node, control a running one (stop, quit, reload,
//! health), and check declarative configuration files. Mirrors Kong's CLI.
#![forbid(unsafe_code)]

mod admin;
mod build_thread;
mod cli;
mod control;
mod db;
mod declarative;
mod logging;
mod node;
mod options;
mod reconfigure;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: see `gantry-alloc`.
#[global_allocator]
static ALLOCATOR: gantry_alloc::Allocator = gantry_alloc::Allocator {};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("Error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
