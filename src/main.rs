//! The `slim` command.

use clap::Parser;
use slim::cli::{Cli, Command};

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let level = if cli.verbose {
        "debug"
    } else if cli.quiet {
        "error"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLIM_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let result = match &cli.command {
        Command::Build(args) => slim::cli::build::run(args, cli.quiet, cli.verbose).await,
    };
    if let Err(e) = result {
        eprintln!("slim: error: {e}");
        std::process::exit(e.exit_code());
    }
}
