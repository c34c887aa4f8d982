//! The `fleetfit` command line. Exit codes: 0 plan written / check passed, 1 check found
//! violations, 2 bad input, 3 the solver gave up with no plan.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `fleetfit plan ... | head` ends quietly when the reader goes away, as Unix tools do.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE at startup, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("fleetfit: {err:#}");
            ExitCode::from(cli::exit_code(&err))
        }
    }
}
