//! The commands: each checks its own flags into a task (bad input never gets past
//! [`task`]), then runs it. `items` and `charts` are one command, [`fetch`]; `sync`
//! and `export` work on a ledger, and `report` draws one.

mod export;
mod fetch;
pub(crate) mod report;
mod sync;

use ec_billing::ApiKey;
use indicatif::ProgressBar;
use jiff::Timestamp;

use crate::{
    args::{Cli, Command},
    connect,
    exit::Outcome,
};

/// What the command line asks for, checked: bad input never gets this far.
#[derive(Debug)]
pub(crate) enum Task {
    /// `items` or `charts`.
    Fetch(fetch::Plan),
    /// `sync`.
    Sync(sync::SyncTask),
    /// `export`.
    Export(export::ExportTask),
    /// `report`.
    Report(report::ReportTask),
}

/// Checks every flag of the command line, `now` being the end of a default range; an
/// error here exits with status 2 before any request.
///
/// # Errors
///
/// The message for the user, quoting the bad input.
pub(crate) fn task(cli: Cli, now: Timestamp) -> Result<Task, String> {
    let Cli {
        mut global,
        command,
    } = cli;
    connect::simulator_built(&global)?;
    let task = match command {
        Command::Items(args) => fetch::items(args, &mut global, now).map(Task::Fetch),
        Command::Charts(args) => fetch::charts(args, &mut global, now).map(Task::Fetch),
        Command::Sync(args) => sync::check(args, &mut global).map(Task::Sync),
        Command::Export(args) => export::check(args).map(Task::Export),
        Command::Report(args) => report::check(args).map(Task::Report),
    };
    task.map_err(|err| err.to_string())
}

impl Task {
    /// The API key, to be redacted from every line the run prints.
    pub(crate) fn key(&self) -> Option<&ApiKey> {
        match self {
            Self::Fetch(plan) => plan.client.key(),
            Self::Sync(sync) => sync.client.key(),
            Self::Export(_) | Self::Report(_) => None,
        }
    }

    /// Runs the task, ticking `progress` as windows are done.
    ///
    /// # Errors
    ///
    /// The first failure (without `--keep-going`), or one that ends any run.
    pub(crate) async fn run(self, progress: &ProgressBar) -> anyhow::Result<Outcome> {
        match self {
            Self::Fetch(plan) => fetch::run(plan, progress).await,
            Self::Sync(sync) => sync::run(sync, progress).await,
            Self::Export(export) => export::run(export).await,
            Self::Report(report) => report::run(report).await,
        }
    }
}
