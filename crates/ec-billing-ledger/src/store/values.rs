//! The values that cross the seam: how a ledger is opened, a window's record, what a
//! scan gives, what a sync writes. Both stores and everything above them speak these;
//! they name no driver and import no store.

use ec_billing::{Decimal, WindowSize};
use jiff::Timestamp;

use crate::{diff::LineChange, record::AnswerLine};

/// How a ledger is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// To read and write; a new ledger, with windows of this size (or months), when
    /// there is none.
    Create(Option<WindowSize>),
    /// To read and write a ledger that must exist.
    Existing,
    /// To read only: nothing is written.
    ReadOnly,
}

impl Access {
    pub(crate) fn creates(self) -> bool {
        matches!(self, Self::Create(_))
    }

    pub(crate) fn window(self) -> Option<WindowSize> {
        match self {
            Self::Create(window) => window,
            Self::Existing | Self::ReadOnly => None,
        }
    }
}

/// The window sizes a ledger keeps, as its store writes them: `month` or `day`.
pub(crate) fn window_text(size: WindowSize) -> &'static str {
    match size {
        WindowSize::Day => "day",
        _ => "month",
    }
}

/// A window size as a store reads it back: `month` or `day`, nothing else (an edited
/// `7d` would make windows overlap).
pub(crate) fn parse_window(text: &str) -> Option<WindowSize> {
    match text {
        "month" => Some(WindowSize::Month),
        "day" => Some(WindowSize::Day),
        _ => None,
    }
}

/// A window's record, as stored (its total and digest as text, as they were written:
/// a window's lines are checked against them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredWindow {
    pub(crate) organization: String,
    pub(crate) deployment: String,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) first_fetched_at: Timestamp,
    pub(crate) fetched_at: Timestamp,
    pub(crate) final_: bool,
    pub(crate) lines: i64,
    pub(crate) total: String,
    pub(crate) digest: String,
    /// A value of its record or of one of its lines could not be read as the ledger
    /// writes it (the window is then repaired, not read).
    pub(crate) unreadable: bool,
}

impl StoredWindow {
    /// The record of a window of which only the organization, deployment and start
    /// could be read as the ledger writes them: marked unreadable, so that the window
    /// is named, and repaired, rather than the whole read failing.
    pub(crate) fn unreadable(organization: String, deployment: String, start: Timestamp) -> Self {
        Self {
            organization,
            deployment,
            start,
            end: start,
            first_fetched_at: start,
            fetched_at: start,
            final_: false,
            lines: 0,
            total: String::new(),
            digest: String::new(),
            unreadable: true,
        }
    }
}

/// How many lines a scan hands over at once: what memory holds of a window while it is
/// read, however many lines the window has.
pub(crate) const SCAN_CHUNK: usize = 2048;

/// What a scan gives, in order, for each window: its record, its lines in chunks of at
/// most [`SCAN_CHUNK`] (in the store's order: the export's for a ledger as it writes
/// them), and its end.
#[derive(Debug)]
pub(crate) enum Scanned {
    /// A window starts: its record.
    Start(StoredWindow),
    /// Lines of the window that started last, and the sum of their hashes when the
    /// store made it as it read them ([`WindowChunks::hashing`]).
    Lines(Vec<AnswerLine>, Option<u128>),
    /// The window ends. `unreadable`: a row of it could not be read as the ledger
    /// writes it (the window is then named, and repaired).
    End {
        /// A row of the window could not be read.
        unreadable: bool,
    },
}

/// The rows of a windows ⟕ lines join, in window order, cut into [`Scanned`] items:
/// what both stores' scans give. `emit` says whether to go on.
#[derive(Debug, Default)]
pub(crate) struct WindowChunks {
    /// The organization, deployment and start of the window being read.
    current: Option<(String, String, Timestamp)>,
    lines: Vec<AnswerLine>,
    unreadable: bool,
    /// Lines given back by the reader, whose texts' room a store may write again
    /// ([`spare`](Self::spare)), and their chunks' room.
    spare_lines: Vec<AnswerLine>,
    spare_chunks: Vec<Vec<AnswerLine>>,
    /// The sum of the hashes of `lines`, when they are hashed as they are read.
    digest: Option<u128>,
}

impl WindowChunks {
    /// Chunks whose lines are hashed as they are read, for the digest a window's check
    /// compares (a store that reads on a thread of its own so takes that work off the
    /// reader's).
    pub(crate) fn hashing() -> Self {
        Self {
            digest: Some(0),
            ..Self::default()
        }
    }

    /// The chunk read so far, and its lines' digest sum, made anew.
    fn take_chunk(&mut self) -> Scanned {
        let digest = self.digest.as_mut().map(std::mem::take);
        Scanned::Lines(std::mem::take(&mut self.lines), digest)
    }

    /// Whether a row of this organization, deployment and start is of the window being
    /// read (a store asks before it reads a row's record: a record is read once).
    pub(crate) fn is_current(
        &self,
        organization: &str,
        deployment: &str,
        start: Timestamp,
    ) -> bool {
        self.current.as_ref().is_some_and(|(o, d, s)| {
            *s == start && d.as_str() == deployment && o.as_str() == organization
        })
    }

    /// A new window starts: the one being read ends.
    pub(crate) fn start(
        &mut self,
        window: StoredWindow,
        emit: &mut impl FnMut(Scanned) -> bool,
    ) -> bool {
        if !self.end(emit) {
            return false;
        }
        self.current = Some((
            window.organization.clone(),
            window.deployment.clone(),
            window.start,
        ));
        emit(Scanned::Start(window))
    }

    /// A row's line: `None` for the one row of a window of no lines; `Some(None)` for
    /// a line that could not be read as the ledger writes it.
    pub(crate) fn line(
        &mut self,
        line: Option<Option<AnswerLine>>,
        emit: &mut impl FnMut(Scanned) -> bool,
    ) -> bool {
        match line {
            None => {}
            Some(Some(line)) => {
                if self.lines.capacity() == 0 {
                    match self.spare_chunks.pop() {
                        Some(chunk) => self.lines = chunk,
                        None => self.lines.reserve_exact(SCAN_CHUNK),
                    }
                }
                if let Some(digest) = &mut self.digest {
                    *digest = digest.wrapping_add(crate::record::line_hash(&line));
                }
                self.lines.push(line);
                if self.lines.len() >= SCAN_CHUNK {
                    let chunk = self.take_chunk();
                    return emit(chunk);
                }
            }
            Some(None) => self.unreadable = true,
        }
        true
    }

    /// A chunk the reader is done with: its lines and its room are used again.
    pub(crate) fn recycle(&mut self, mut chunk: Vec<AnswerLine>) {
        if self.spare_lines.len() < SCAN_CHUNK {
            self.spare_lines.append(&mut chunk);
        }
        chunk.clear();
        if chunk.capacity() >= SCAN_CHUNK && self.spare_chunks.len() < 2 {
            self.spare_chunks.push(chunk);
        }
    }

    /// A line given back, to read a row into (its texts' room is written again), if
    /// there is one.
    pub(crate) fn spare(&mut self) -> Option<AnswerLine> {
        self.spare_lines.pop()
    }

    /// Every row is taken: the last window ends.
    pub(crate) fn finish(mut self, emit: &mut impl FnMut(Scanned) -> bool) -> bool {
        self.end(emit)
    }

    fn end(&mut self, emit: &mut impl FnMut(Scanned) -> bool) -> bool {
        if self.current.take().is_none() {
            return true;
        }
        if !self.lines.is_empty() {
            let chunk = self.take_chunk();
            if !emit(chunk) {
                return false;
            }
        }
        emit(Scanned::End {
            unreadable: std::mem::take(&mut self.unreadable),
        })
    }
}

/// A window's lines as a store reads them for a sync: those it could read, and whether
/// any row could not be read as the ledger writes it (then the window is repaired).
#[derive(Debug)]
pub(crate) struct StoredLines {
    pub(crate) window: StoredWindow,
    pub(crate) lines: Vec<AnswerLine>,
    pub(crate) unreadable: bool,
}

/// What a sync writes for one window, in one transaction.
#[derive(Debug)]
pub(crate) enum WindowUpdate {
    /// The window's lines, replacing any it had, with its record, the revisions the
    /// change brings, and whether it is a repair.
    Write(WindowWrite),
    /// Nothing changed upstream; the window may have settled.
    Settle {
        organization: String,
        deployment: String,
        start: Timestamp,
        final_: bool,
        now: Timestamp,
    },
    /// Nothing to write at all.
    Nothing,
}

/// A window written whole (see [`WindowUpdate::Write`]).
#[derive(Debug)]
pub(crate) struct WindowWrite {
    pub(crate) organization: String,
    pub(crate) deployment: String,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) lines: Vec<AnswerLine>,
    pub(crate) digest: String,
    pub(crate) total: Decimal,
    pub(crate) first_fetched_at: Timestamp,
    pub(crate) now: Timestamp,
    pub(crate) final_: bool,
    /// Recorded as revisions (empty unless the same window was fetched again).
    pub(crate) revisions: Vec<LineChange>,
    pub(crate) repaired: bool,
}

/// The counts a sync's journal ends with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct JournalEnd {
    pub(crate) id: i64,
    pub(crate) fetched: u64,
    pub(crate) revised: u64,
    pub(crate) failed: u64,
    pub(crate) now: Timestamp,
}
