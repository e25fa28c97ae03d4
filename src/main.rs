//! The `konnektid` binary: parses the command line and runs it (see `konnektid --help`).

use clap::Parser;

/// The server allocates many small, short-lived values per request from several threads, where
/// mimalloc is markedly cheaper than the system allocator (see README, "API benchmark").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    konnektid::memory::prefer_small_pages();
    konnektid::cli::run(konnektid::cli::Cli::parse())
}
