//! The `konnektid` binary: parses the command line and runs it (see `konnektid --help`).

use clap::Parser;

fn main() -> std::process::ExitCode {
    konnektid::cli::run(konnektid::cli::Cli::parse())
}
