//! What a run shows on stderr besides its error: log lines (`-v`, `-vv`) and a
//! progress bar over the windows, which never tear each other.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

/// `-v`: one line per request; `-vv`: also retries, pacing and waits. `RUST_LOG`
/// overrides. Log lines never tear the progress bar: it steps aside for each.
pub(crate) fn init_tracing(verbose: u8, progress: &ProgressBar) {
    let default = match verbose {
        0 => return,
        1 => "warn,ec_billing=info",
        _ => "warn,ec_billing=debug,ec_billing_sim=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogWriter(progress.clone()))
        .with_ansi(false)
        .init();
}

/// Writes each log line to stderr whole, with the progress bar out of the way.
#[derive(Clone, Debug)]
struct LogWriter(ProgressBar);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            progress: self.0.clone(),
            line: Vec::with_capacity(256),
        }
    }
}

/// One log line, written when complete.
#[derive(Debug)]
struct LogLine {
    progress: ProgressBar,
    line: Vec<u8>,
}

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.progress.suspend(|| {
            // Nothing to do when stderr is gone.
            let _ = std::io::stderr().write_all(&line);
        });
    }
}

/// A bar over all windows on stderr, shown only when stderr is a terminal.
pub(crate) fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {pos}/{len} windows [{bar:30}] {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
