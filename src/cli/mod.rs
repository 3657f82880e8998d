//! The command line: one module per subcommand.

pub mod build;

use clap::{Parser, Subcommand};

/// slim: minify container images by keeping only the files the app uses, and prove it.
#[derive(Debug, Parser)]
#[command(name = "slim", version, about)]
pub struct Cli {
    /// Print less: only errors and the final result.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more: the app's output and debug logs.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyze IMAGE under the sensor and write its slim image (IMAGE-slim by default).
    Build(build::BuildArgs),
}
