//! `ec-billing`: itemized costs and usage charts of Elastic Cloud deployments, and a
//! ledger that keeps them.
//!
//! Exit status: 0 on success; 2 for bad input, refused before any request; 1 for any
//! other failure, with one line on stderr naming the error code, the deployment and
//! the window.
//!
//! Cargo features:
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `simulate` | on | `--simulate`: the embedded simulator (`ec-billing-sim`, and with it axum) |
//!
//! The modules, each importing only from those listed after it: `commands` (what each
//! command checks and runs), `connect` (reaching the API or the embedded simulator),
//! `args` (the flags), `render` (table, JSON, CSV), `logging` (stderr's log lines and
//! progress bar), `exit` (how a run ends).

/// `eprintln!` that does not panic when stderr is closed: a line that cannot be told is
/// dropped, and the exit status still says what happened.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod args;
mod commands;
mod connect;
mod exit;
mod logging;
mod render;

use std::process::ExitCode;

use crate::{args::Cli, exit::one_line};

fn main() -> ExitCode {
    let cli = Cli::from_command_line();
    let progress = logging::progress_bar();
    logging::init_tracing(cli.global.verbose, &progress);
    let task = match commands::task(cli, jiff::Timestamp::now()) {
        Ok(task) => task,
        Err(message) => {
            say!("error: {}", one_line(&message, None));
            return ExitCode::from(2);
        }
    };
    let key = task.key().cloned();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            say!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        // A file over the process's size limit fails its write (EFBIG), said in one line
        // and cleaned up, instead of SIGXFSZ ending the process half-way (as Rust's
        // runtime does for SIGPIPE). The listener is held for the run.
        #[cfg(unix)]
        let _file_size_limit =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(libc::SIGXFSZ));
        task.run(&progress).await
    });
    progress.finish_and_clear();
    exit::exit_status(outcome, key.as_ref())
}
