//! Reading the ledger back: lines as a stream of chunks, each window checked against
//! its record; windows and revisions.

use ec_billing::Decimal;
use ec_billing::ExactAdd;
use jiff::Timestamp;

use crate::{
    error::{Error, FileError, Inconsistency, Result},
    ledger::Ledger,
    query::{Query, Revision, WindowRecord},
    record::{AnswerLine, LedgerLine, LineKey, LineType, Tally},
    store::{Scanned, StoredWindow},
    text::parse_decimal_text as decimal,
};

/// A line of the ledger as a read gives it: borrowed from its window's record and the
/// line read (nothing is copied per line).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LineOf<'a> {
    pub(crate) window: &'a StoredWindow,
    pub(crate) line: &'a AnswerLine,
}

impl std::ops::Deref for LineOf<'_> {
    type Target = AnswerLine;

    fn deref(&self) -> &AnswerLine {
        self.line
    }
}

impl LineOf<'_> {
    /// Whether its window may still be revised.
    pub(crate) fn provisional(&self) -> bool {
        !self.window.final_
    }

    /// The window it was fetched in.
    pub(crate) fn window_bounds(&self) -> (Timestamp, Timestamp) {
        (self.window.start, self.window.end)
    }

    /// The line, owned.
    pub(crate) fn to_ledger_line(self) -> LedgerLine {
        let (window, line) = (self.window, self.line.clone());
        LedgerLine {
            organization: window.organization.clone(),
            deployment: window.deployment.clone(),
            window: (window.start, window.end),
            provisional: !window.final_,
            key: line.key,
            hours: line.hours,
            instance_count: line.instance_count,
            price_per_hour: line.price_per_hour,
            quantity: line.quantity,
            quantity_formatted: line.quantity_formatted,
            rate: line.rate,
            rate_formatted: line.rate_formatted,
            cost: line.cost,
        }
    }
}

/// What a read of one window's lines finds, a line at a time: their tally, whether
/// their DTS lines are keyed by the window's bounds, and whether they came in the
/// export's order.
#[derive(Debug)]
pub(crate) struct WindowCheck {
    tally: Tally,
    dts_elsewhere: bool,
    in_order: bool,
    /// The key of the last line taken.
    last: Option<LineKey>,
}

impl WindowCheck {
    pub(crate) fn new() -> Self {
        Self {
            tally: Tally::new(),
            dts_elsewhere: false,
            in_order: true,
            last: None,
        }
    }

    /// Takes a chunk of the window's lines, in the order read, and the sum of their
    /// hashes if the store made it.
    pub(crate) fn add(
        &mut self,
        window: &StoredWindow,
        lines: &[AnswerLine],
        digest: Option<u128>,
    ) {
        match digest {
            Some(digest) => self.tally.add_digest(digest),
            None => lines
                .iter()
                .for_each(|line| self.tally.add_digest(crate::record::line_hash(line))),
        }
        let mut previous = self.last.as_ref();
        for line in lines {
            self.tally.count(line);
            if line.key.line_type == LineType::Dts
                && (line.key.period_start, line.key.period_end) != (window.start, window.end)
            {
                self.dts_elsewhere = true;
            }
            if previous.is_some_and(|p| key_order(p, &line.key).is_gt()) {
                self.in_order = false;
            }
            previous = Some(&line.key);
        }
        if let Some(last) = lines.last() {
            self.last = Some(last.key.clone());
        }
    }

    /// Whether the lines came in the export's order.
    pub(crate) fn in_order(&self) -> bool {
        self.in_order
    }
}

impl Ledger {
    /// Every line in `query`, by organization, deployment, window and natural key.
    ///
    /// # Errors
    ///
    /// [`Error::Inconsistent`] when a window's lines do not match its record;
    /// [`Error::Storage`] when the ledger cannot be read.
    pub async fn lines(&self, query: &Query) -> Result<Vec<LedgerLine>> {
        let mut lines = Vec::new();
        self.each_line(query, 1, |_, line| {
            lines.push(line.to_ledger_line());
            Ok(())
        })
        .await?;
        // One pass gives a window's lines as the store holds them: put them in the
        // export's order (windows already are).
        lines.sort_by(|a, b| {
            (
                a.organization.as_bytes(),
                a.deployment.as_bytes(),
                a.window.0,
            )
                .cmp(&(
                    b.organization.as_bytes(),
                    b.deployment.as_bytes(),
                    b.window.0,
                ))
                .then_with(|| key_order(&a.key, &b.key))
        });
        Ok(lines)
    }

    /// Calls `each` with every line in `query`, in the order of [`lines`](Self::lines),
    /// streaming: what a report or a sum over a large ledger reads, in the memory of a
    /// few thousand lines whatever the ledger's size. Every window is checked against
    /// its record (its lines' count, sum and digest) before any line is given: a first
    /// pass over one snapshot checks, a second gives.
    ///
    /// ```no_run
    /// # async fn run() -> ec_billing_ledger::Result<()> {
    /// use ec_billing_ledger::{Ledger, Query};
    ///
    /// let ledger = Ledger::open_read_only("costs.db").await?;
    /// let mut lines = 0_u64;
    /// ledger.for_each_line(&Query::all(), |_line| {
    ///     lines += 1;
    ///     Ok(())
    /// }).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`lines`](Self::lines); and the first error `each` returns, which ends the
    /// read.
    pub async fn for_each_line(
        &self,
        query: &Query,
        mut each: impl FnMut(LedgerLine) -> Result<()>,
    ) -> Result<()> {
        self.each_line(query, 2, |pass, line| {
            if pass == 0 {
                return Ok(());
            }
            each(line.to_ledger_line())
        })
        .await
    }

    /// Calls `each` with every line in `query`, `passes` times over one snapshot,
    /// streaming: memory holds a few thousand lines, whatever the size of a window or
    /// of the ledger.
    ///
    /// Pass 0 checks: each window's lines are checked against its record (their count,
    /// sum and digest) once its last line is read, and a mismatch ends the read with an
    /// error, so pass 0 may give lines of a window that then fails (a caller acts on
    /// them only once the read has succeeded, or in a later pass). Pass 0 gives a
    /// window's lines in the order the store holds them; later passes, of windows
    /// already checked, in the export's order ([`export_order`](crate::record::export_order)).
    pub(crate) async fn each_line(
        &self,
        query: &Query,
        passes: u8,
        each: impl FnMut(u8, LineOf<'_>) -> Result<()>,
    ) -> Result<()> {
        self.each_line_in_order(query, passes, each)
            .await
            .map(|_| ())
    }

    /// As [`each_line`](Self::each_line), and says whether every window came in the
    /// export's order in pass 0 (then a one-pass read gave every line in that order).
    pub(crate) async fn each_line_in_order(
        &self,
        query: &Query,
        passes: u8,
        mut each: impl FnMut(u8, LineOf<'_>) -> Result<()>,
    ) -> Result<bool> {
        if let Some((organization, deployment, start)) =
            self.store.orphans(query).await?.into_iter().next()
        {
            return Err(Error::Inconsistent(Inconsistency::new(
                self.path(),
                &organization,
                &deployment,
                (start, start),
                "its lines have no window record",
            )));
        }
        let mut reading = Reading::default();
        self.store
            .scan(query, passes, |pass, item| {
                reading.take(
                    pass,
                    item,
                    |window, check| match check {
                        Some(check) => self.verify_check(window, check),
                        None => Ok(()),
                    },
                    |pass, window, lines| {
                        for line in lines {
                            if query.holds(line.key.period_start) {
                                each(pass, LineOf { window, line })?;
                            }
                        }
                        Ok(())
                    },
                )
            })
            .await?;
        Ok(reading.unordered.is_empty())
    }

    /// Calls `each` with every window of `scope` and whether its lines match its
    /// record, read a chunk at a time.
    pub(crate) async fn check_windows(
        &self,
        scope: &Query,
        mut each: impl FnMut(&StoredWindow, Result<()>),
    ) -> Result<()> {
        let mut reading = Reading::default();
        self.store
            .scan(scope, 1, |pass, item| {
                reading.take(
                    pass,
                    item,
                    |window, check| {
                        if let Some(check) = check {
                            each(window, self.verify_check(window, check));
                        }
                        Ok(())
                    },
                    |_, _, _| Ok(()),
                )
            })
            .await
    }

    /// Checks the `lines` read of `window` against its record (see
    /// [`verify_check`](Self::verify_check)).
    pub(crate) fn verify(&self, window: &StoredWindow, lines: &[AnswerLine]) -> Result<()> {
        let mut check = WindowCheck::new();
        check.add(window, lines, None);
        self.verify_check(window, &check)
    }

    /// Checks what was read of `window`'s lines against its record: its bounds are a
    /// window's, its DTS lines are keyed by those bounds, and their count, exact sum and
    /// digest are the record's.
    pub(crate) fn verify_check(&self, window: &StoredWindow, check: &WindowCheck) -> Result<()> {
        let mismatch = if window.unreadable {
            Some("a value in its record or its lines is not what the ledger writes".to_string())
        } else if !crate::plan::is_window(window.start, window.end, self.window_size()) {
            Some(format!(
                "its bounds are not those of a {} window",
                crate::store::window_text(self.window_size())
            ))
        } else if check.dts_elsewhere {
            Some("its data-transfer lines are keyed by other bounds than its own".to_string())
        } else {
            check
                .tally
                .mismatch(window.lines, &window.total, &window.digest)
        };
        match mismatch {
            None => Ok(()),
            Some(what) => Err(Error::Inconsistent(Inconsistency::new(
                self.path(),
                &window.organization,
                &window.deployment,
                (window.start, window.end),
                what,
            ))),
        }
    }

    /// Every window in `query`, by organization, deployment and start.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the ledger cannot be read.
    pub async fn windows(&self, query: &Query) -> Result<Vec<WindowRecord>> {
        let windows = self.store.windows(query).await?;
        windows
            .into_iter()
            .map(|w| {
                let total = decimal(&w.total).ok_or_else(|| self.tampered(&w.total))?;
                Ok(WindowRecord {
                    organization: w.organization,
                    deployment: w.deployment,
                    window: (w.start, w.end),
                    first_fetched_at: w.first_fetched_at,
                    fetched_at: w.fetched_at,
                    is_final: w.final_,
                    digest: w.digest,
                    lines: u64::try_from(w.lines)
                        .map_err(|_| self.tampered(&w.lines.to_string()))?,
                    total,
                })
            })
            .collect()
    }

    /// Every revision in `query`, in the order they were seen.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the ledger cannot be read.
    pub async fn revisions(&self, query: &Query) -> Result<Vec<Revision>> {
        self.store.revisions(query).await
    }

    /// The exact total of the lines in `query`.
    ///
    /// # Errors
    ///
    /// [`Error::Inconsistent`] when a window's lines do not match its record;
    /// [`Error::Storage`] when the ledger cannot be read; [`Error::Overflow`] when the
    /// total overflows an exact decimal.
    pub async fn total(&self, query: &Query) -> Result<Decimal> {
        let mut total = Decimal::ZERO;
        self.each_line(query, 1, |_, line| {
            total = total
                .exact_add(line.cost)
                .ok_or_else(|| Error::Overflow("the total of the lines asked for".to_string()))?;
            Ok(())
        })
        .await?;
        Ok(total)
    }

    /// A stored value that is not what the ledger writes.
    pub(crate) fn tampered(&self, text: &str) -> Error {
        Error::Storage(FileError::new(
            self.path(),
            format!(
                "a value in the ledger, \"{}\", is not what the ledger writes",
                ec_billing::text::escape(text).truncate(48)
            ),
            None,
        ))
    }
}

/// A scan's items, followed: each window's check in pass 0, and in later passes each
/// window's lines in the export's order (a window pass 0 found out of order is held
/// and sorted; a ledger as the ledger writes it has none).
#[derive(Debug, Default)]
struct Reading {
    pass: u8,
    window: Option<StoredWindow>,
    /// The window's place in its pass.
    index: usize,
    check: Option<WindowCheck>,
    /// Pass 0's finding, by window place: those whose lines came out of order.
    unordered: std::collections::BTreeSet<usize>,
    /// The lines of a window being held to be sorted.
    held: Vec<AnswerLine>,
}

impl Reading {
    /// Takes one item of pass `pass`: `checked` is called with each window and its
    /// check when pass 0 has read it whole (`None` in later passes), `give` with lines.
    fn take(
        &mut self,
        pass: u8,
        item: &mut Scanned,
        mut checked: impl FnMut(&StoredWindow, Option<&WindowCheck>) -> Result<()>,
        mut give: impl FnMut(u8, &StoredWindow, &[AnswerLine]) -> Result<()>,
    ) -> Result<()> {
        if pass != self.pass {
            self.pass = pass;
            self.index = 0;
        }
        match item {
            Scanned::Start(window) => {
                self.window = Some(window.clone());
                self.check = (pass == 0).then(WindowCheck::new);
                Ok(())
            }
            Scanned::Lines(lines, digest) => {
                let Some(window) = &self.window else {
                    return Ok(());
                };
                if let Some(check) = &mut self.check {
                    check.add(window, lines, *digest);
                }
                if pass > 0 && self.unordered.contains(&self.index) {
                    self.held.append(lines);
                    return Ok(());
                }
                give(pass, window, lines)
            }
            &mut Scanned::End { unreadable } => {
                let Some(mut window) = self.window.take() else {
                    return Ok(());
                };
                window.unreadable |= unreadable;
                let index = self.index;
                self.index += 1;
                if let Some(check) = self.check.take() {
                    if !check.in_order() {
                        self.unordered.insert(index);
                    }
                    return checked(&window, Some(&check));
                }
                checked(&window, None)?;
                if self.held.is_empty() {
                    return Ok(());
                }
                let mut held = std::mem::take(&mut self.held);
                held.sort_by(crate::record::export_order);
                give(pass, &window, &held)
            }
        }
    }
}

/// The export's order of two keys (see [`export_order`](crate::record::export_order)).
fn key_order(a: &LineKey, b: &LineKey) -> std::cmp::Ordering {
    crate::record::key_order(a, b)
}
