//! An export to a file: written into a file of its own beside it and renamed into
//! place once whole, so that the file holds the whole export or is left as it was; and
//! the check that a file may take an export or a report at all.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
};

use super::{Export, ExportSummary};
use crate::{
    error::{Error, FileError, Result},
    ledger::{Ledger, is_database_url},
    query::Query,
};

/// Refuses `out` as the file an export or a report is written to when it is not a
/// regular file (a folder, a link, a device), or when it is the SQLite ledger at `db`
/// or one of its files (its journal, its lock): a mistyped output path must not
/// replace the costs it was made from. A file that does not exist yet is fine.
///
/// ```
/// let err = ec_billing_ledger::check_output_file("costs.db".as_ref(), "costs.db-wal".as_ref());
/// assert!(err.is_err());
/// assert!(ec_billing_ledger::check_output_file("costs.db".as_ref(), "focus.csv".as_ref()).is_ok());
/// ```
///
/// # Errors
///
/// [`Error::InvalidInput`], saying which of the two it is.
pub fn check_output_file(db: &OsStr, out: &Path) -> Result<()> {
    let shown = || {
        ec_billing::text::escape(&out.display().to_string())
            .truncate(200)
            .to_string()
    };
    if let Ok(meta) = std::fs::symlink_metadata(out)
        && !meta.is_file()
    {
        return Err(Error::InvalidInput(format!(
            "{}: not a regular file (a folder, a link or a device is never replaced)",
            shown()
        )));
    }
    if is_database_url(db) {
        return Ok(());
    }
    // Both as the file system resolves them: a path that does not exist yet is its
    // folder's, resolved, and its name.
    let resolved = |path: &Path| {
        std::fs::canonicalize(path).ok().or_else(|| {
            let name = path.file_name()?;
            let parent = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            Some(std::fs::canonicalize(parent).ok()?.join(name))
        })
    };
    let (Some(ledger), Some(target)) = (resolved(Path::new(db)), resolved(out)) else {
        return Ok(());
    };
    let ledger_files = ["", "-wal", "-shm", "-journal", ".lock"].map(|suffix| {
        let mut name = ledger.clone().into_os_string();
        name.push(suffix);
        PathBuf::from(name)
    });
    if ledger_files.contains(&target) {
        return Err(Error::InvalidInput(format!(
            "{} is the ledger's own file: write it elsewhere",
            shown()
        )));
    }
    Ok(())
}

impl Ledger {
    /// Writes the lines in `query` to the file at `path`, as [`export`](Self::export)
    /// writes them to a stream, in one pass: into a file of its own beside `path`
    /// (created new, so nothing planted there is followed), which is renamed into place
    /// once every line is written and every window checked against its record. A
    /// reader of `path` sees the old file or the whole export, never part of one, and
    /// an export that fails leaves `path` as it was.
    ///
    /// One pass over the ledger, where a stream takes two, when every window comes in
    /// the export's order (a ledger as the ledger writes it); otherwise the file is
    /// made again in two passes. The file is not flushed to the disk: as with any
    /// write, the OS writes it back. The file beside is removed when the export fails or
    /// its future is dropped (only a killed process leaves it); a file replaced keeps
    /// its permissions.
    ///
    /// ```no_run
    /// use ec_billing_ledger::{Export, ExportFormat, Ledger, Query};
    ///
    /// # async fn run() -> Result<(), ec_billing_ledger::Error> {
    /// let ledger = Ledger::open_read_only("costs.db").await?;
    /// let summary = ledger
    ///     .export_to_file(&Query::all(), &Export::new(ExportFormat::Focus), "focus.csv")
    ///     .await?;
    /// eprintln!("{} lines, {} ECU", summary.lines, summary.total);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`export`](Self::export); [`Error::InvalidInput`] when `path` is not a
    /// regular file or is one of the ledger's own files ([`check_output_file`]);
    /// [`Error::Storage`] when the file cannot be written or put in place.
    pub async fn export_to_file(
        &self,
        query: &Query,
        export: &Export,
        path: impl AsRef<Path>,
    ) -> Result<ExportSummary> {
        let path = path.as_ref();
        check_output_file(self.path().as_os_str(), path)?;
        let failed = |what: &str, e: std::io::Error| {
            Error::Storage(FileError::new(path, what.to_string(), Some(Box::new(e))))
        };
        // The file replaced keeps its permissions.
        let permissions = std::fs::metadata(path).ok().map(|meta| meta.permissions());
        let mut passes = 1;
        loop {
            let part = Part(part_path(path));
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&part.0)
                .map_err(|e| failed("cannot create the export's file beside it", e))?;
            if let Some(permissions) = &permissions {
                file.set_permissions(permissions.clone()).map_err(|e| {
                    failed(
                        "cannot give the export's file the permissions of the one it replaces",
                        e,
                    )
                })?;
            }
            // The file is written on a thread of its own, while the next lines are made.
            let mut writer =
                FileWriter::new(file).map_err(|e| failed("cannot start the export's writer", e))?;
            let written = self
                .export_in_passes(query, export, &mut writer, passes, path)
                .await;
            let closed = writer.finish();
            let written = match (written, closed) {
                (Ok(done), Ok(())) => Ok(done),
                (Err(err), _) => Err(err),
                (Ok(_), Err(e)) => Err(failed("the export could not be written", e)),
            };
            match written {
                Ok((summary, in_order)) if in_order || passes == 2 => {
                    std::fs::rename(&part.0, path)
                        .map_err(|e| failed("cannot put the export's file in place", e))?;
                    part.keep();
                    return Ok(summary);
                }
                // A window came out of the export's order: made again in two passes,
                // which give each window in that order.
                Ok(_) => passes = 2,
                Err(err) => return Err(err),
            }
        }
    }
}

/// The part file of an export, removed when dropped (an export that fails, or whose
/// future is dropped half-way) unless it was put in place.
struct Part(PathBuf);

impl Part {
    /// It is in place: nothing to remove.
    fn keep(mut self) {
        self.0 = PathBuf::new();
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// How many bytes the export hands the file's thread at a time.
const WRITE_BUFFER: usize = 1 << 20;

/// A file written on a thread of its own: the export fills a buffer, the thread writes
/// full ones (two wait at most), and gives their room back. Memory holds four buffers
/// at most.
struct FileWriter {
    buffer: Vec<u8>,
    full: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    empty: std::sync::mpsc::Receiver<Vec<u8>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl FileWriter {
    fn new(mut file: std::fs::File) -> std::io::Result<Self> {
        use std::io::Write;
        let (full, to_write) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let (give_back, empty) = std::sync::mpsc::channel::<Vec<u8>>();
        let thread = std::thread::Builder::new()
            .name("ec-billing-export".to_string())
            .spawn(move || {
                for mut buffer in to_write {
                    file.write_all(&buffer)?;
                    buffer.clear();
                    let _ = give_back.send(buffer);
                }
                file.flush()
            })?;
        Ok(Self {
            buffer: Vec::with_capacity(WRITE_BUFFER),
            full: Some(full),
            empty,
            thread: Some(thread),
        })
    }

    /// Hands the buffer to the thread.
    fn send(&mut self) -> std::io::Result<()> {
        let next = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(WRITE_BUFFER));
        let full = std::mem::replace(&mut self.buffer, next);
        let sent = self.full.as_ref().map(|sender| sender.send(full));
        match sent {
            Some(Ok(())) => Ok(()),
            // The thread stopped: its error says why.
            _ => Err(self
                .join()
                .err()
                .unwrap_or_else(|| std::io::Error::other("the export's writer stopped"))),
        }
    }

    /// Waits for the thread to write what it was given and end.
    fn join(&mut self) -> std::io::Result<()> {
        self.full = None;
        match self.thread.take().map(std::thread::JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(_)) => Err(std::io::Error::other("the export's writer stopped")),
        }
    }

    /// Writes what is left and waits for the file to be written.
    fn finish(mut self) -> std::io::Result<()> {
        if !self.buffer.is_empty() {
            self.send()?;
        }
        self.join()
    }
}

impl std::io::Write for FileWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= WRITE_BUFFER {
            self.send()?;
        }
        Ok(data.len())
    }

    /// The buffer goes to the file when full, and at the end ([`FileWriter::finish`]).
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// A file of its own beside `path`: `.NAME.PID-NANOS.part`, the name cut so that the
/// whole stays within the 255 bytes a file name may have.
fn part_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut keep = name.len().min(200);
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    name.truncate(keep);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    path.with_file_name(format!(".{name}.{}-{nanos}.part", std::process::id()))
}
