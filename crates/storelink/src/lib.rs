//! The `storelink` binary's library half: configuration, database bootstrap, and the assembly of
//! the roles (serve, worker, demo, migrate, the CLI) from the domain crates. It holds no business
//! rules of its own; those live in the crates it wires together.

pub mod config;
pub mod database;
pub mod demo;
pub mod keys;
pub mod server;
pub mod sync_cli;
pub mod telemetry;
pub mod tenants_cli;

/// A binary's `main`: runs `work` on a multi-threaded runtime; an error is printed once, with its
/// causes, on stderr and makes the exit code 1.
pub fn run_to_exit(work: impl Future<Output = anyhow::Result<()>>) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime failed: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
