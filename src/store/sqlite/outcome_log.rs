//! Delivery outcomes appended to files beside the database and folded
//! into `deliveries` in bulk.
//!
//! Why: a worker holds its provider permit until the outcome is durable,
//! so that a crash repeats at most `dispatch.concurrency` answered sends.
//! Updating `deliveries` a few rows at a time took as long as the provider
//! call itself against a fast provider; appending a line to a file takes
//! a few microseconds and survives a crash of the process just as a
//! SQLite commit in WAL mode with `synchronous = NORMAL` does (both sit in
//! the page cache; a power loss can drop the last of either). The writer
//! then applies whole batches at once, which costs a fraction per row.
//!
//! The rules that keep this invisible to the rest of the store:
//! - the writer folds everything appended so far before any other write
//!   (`writer::Writer::lock`), so a claim, a receipt or a superseding
//!   update never overtakes an outcome, and before the reads of delivery
//!   states;
//! - every line carries a sequence number, and `outcome_log.folded` (set
//!   in the same transaction as the fold) says which are applied, so a
//!   line folded once is never applied again, after a crash or a
//!   cancelled fold;
//! - at start the files left by a crash are folded before anything else
//!   runs, then removed;
//! - one process owns the files at a time (an advisory lock); another one
//!   opening the same database (`tocsin admin-token` beside `serve`)
//!   writes outcomes straight into `deliveries`.
//!
//! Segments are `<db>-outcomes.<n>`, one line per outcome:
//! `[seq, delivery, next state, provider id, error, at ms, refund, contact
//! to deactivate]`. A new segment starts every `SEGMENT_BYTES`; a segment
//! is removed once all of its lines are folded.

use sqlx::{Connection, SqliteConnection};
use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, MutexGuard};

use super::ms;
use crate::domain::DeliveryState;
use crate::store::sql::outcome_assignments;
use crate::store::{Outcome, OutcomeKind, StoreError, StoreResult};

/// Bytes after which appends go to a new segment (about 90 000 outcomes).
const SEGMENT_BYTES: u64 = 8 << 20;
/// Lines per UPDATE: bounds one statement's JSON text, not a SQLite limit.
const FOLD_CHUNK: usize = 10_000;

/// One outcome as a line of the log: sequence number, delivery, next
/// state, provider id, error, at (ms), refund, contact to deactivate.
type Line<S> = (i64, i64, S, Option<S>, Option<S>, i64, i64, Option<i64>);

/// Applies a JSON array of lines; a line whose sequence number is already
/// folded is skipped, which makes applying a line twice harmless.
static FOLD_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH v(id, next, provider_id, error, at, refund) AS MATERIALIZED (
             SELECT value->>1, value->>2, value->>3, value->>4, value->>5, value->>6
             FROM json_each(?1) WHERE value->>0 > (SELECT folded FROM outcome_log))
         UPDATE deliveries SET {} FROM v WHERE deliveries.id = v.id",
        outcome_assignments()
    )
});

const RETIRE_SQL: &str = "WITH v(contact, reason) AS (
         SELECT value->>7, value->>4 FROM json_each(?1)
         WHERE value->>7 IS NOT NULL AND value->>0 > (SELECT folded FROM outcome_log))
     UPDATE contacts SET active = 0, deactivated_reason = COALESCE(v.reason, 'invalid address')
     FROM v WHERE contacts.id = v.contact";

/// A line appended and not yet known to be folded.
#[derive(Debug)]
struct Logged {
    seq: i64,
    delivery: i64,
    line: String,
    retires: bool,
}

/// What one fold applies: JSON arrays of lines, each naming a delivery at
/// most once (one `UPDATE … FROM` applies one row per target row, so a
/// retried delivery's two outcomes go in consecutive statements).
#[derive(Debug)]
pub(super) struct Batch {
    chunks: Vec<String>,
    retires: Option<String>,
    last: i64,
}

impl Batch {
    fn of(rows: &[Logged]) -> Option<Self> {
        let last = rows.last()?.seq;
        let mut chunks = Vec::new();
        let mut seen = HashSet::new();
        let mut chunk = String::from("[");
        for row in rows {
            if seen.len() == FOLD_CHUNK || !seen.insert(row.delivery) {
                chunks.push(std::mem::replace(&mut chunk, String::from("[")) + "]");
                seen.clear();
                seen.insert(row.delivery);
            }
            if chunk.len() > 1 {
                chunk.push(',');
            }
            chunk.push_str(&row.line);
        }
        chunks.push(chunk + "]");
        let retiring: Vec<&str> = rows
            .iter()
            .filter(|r| r.retires)
            .map(|r| r.line.as_str())
            .collect();
        let retires = (!retiring.is_empty()).then(|| format!("[{}]", retiring.join(",")));
        Some(Self {
            chunks,
            retires,
            last,
        })
    }

    /// The sequence number of its last line.
    pub(super) fn last(&self) -> i64 {
        self.last
    }

    /// Applies the batch and marks it folded, in one transaction.
    pub(super) async fn apply(&self, conn: &mut SqliteConnection) -> StoreResult<()> {
        let mut tx = conn.begin().await?;
        for chunk in &self.chunks {
            sqlx::query(&FOLD_SQL).bind(chunk).execute(&mut *tx).await?;
        }
        if let Some(retires) = &self.retires {
            sqlx::query(RETIRE_SQL)
                .bind(retires)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE outcome_log SET folded = MAX(folded, ?)")
            .bind(self.last)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[derive(Debug)]
pub(super) struct OutcomeLog {
    /// `<db>-outcomes.`: a segment's path is this plus its number.
    prefix: PathBuf,
    /// Held open for the advisory lock; released when the log is dropped.
    _lock: File,
    /// `SEGMENT_BYTES`, smaller in tests.
    segment_bytes: u64,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    segment: u64,
    written: u64,
    next_seq: i64,
    pending: Vec<Logged>,
    /// Earlier segments and the last sequence number each holds.
    sealed: VecDeque<(u64, i64)>,
}

/// The lines a crash left behind, read at start while holding the lock.
#[derive(Debug)]
pub(super) struct Leftover {
    lock: File,
    prefix: PathBuf,
    segments: Vec<u64>,
    rows: Vec<Logged>,
}

impl Leftover {
    /// Drops the lines the database already holds (up to `folded`), as
    /// after a clean stop; returns how many are left.
    pub(super) fn keep_unfolded(&mut self, folded: i64) -> usize {
        self.rows.retain(|r| r.seq > folded);
        self.rows.len()
    }

    /// The lines to fold before the log is used again.
    pub(super) fn batch(&self) -> Option<Batch> {
        Batch::of(&self.rows)
    }
}

fn log_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Log {
        path: path.display().to_string(),
        source,
    }
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut p = prefix.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

fn segment_path(prefix: &Path, n: u64) -> PathBuf {
    with_suffix(prefix, &n.to_string())
}

/// Numbers of the segments beside `prefix`, in order.
fn segments(prefix: &Path) -> StoreResult<Vec<u64>> {
    let dir = match prefix.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let stem = prefix
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| log_error(dir, e))? {
        let name = entry.map_err(|e| log_error(dir, e))?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_prefix(&stem).and_then(|s| s.parse().ok()) {
            found.push(n);
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// Reads one segment's lines. A crash can leave the last line torn; the
/// reading stops there, and the deliveries it named stay `sending` and go
/// out again, as when an outcome was never recorded.
fn read_segment(path: &Path, rows: &mut Vec<Logged>) -> StoreResult<()> {
    let file = File::open(path).map_err(|e| log_error(path, e))?;
    // By bytes: a torn line can end inside a multi-byte character.
    for (i, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(|e| log_error(path, e))?;
        match std::str::from_utf8(&line).ok().and_then(parse_line) {
            Some(row) => rows.push(row),
            None => {
                tracing::warn!(path = %path.display(), line = i + 1, "outcome log ends in an unreadable line; the outcomes from there on are lost and those deliveries will be sent again");
                break;
            }
        }
    }
    Ok(())
}

fn parse_line(line: &str) -> Option<Logged> {
    let (seq, delivery, next, _, _, _, refund, contact): Line<String> =
        serde_json::from_str(line).ok()?;
    let valid = next.parse::<DeliveryState>().is_ok() && (0..=1).contains(&refund);
    valid.then(|| Logged {
        seq,
        delivery,
        line: line.to_owned(),
        retires: contact.is_some(),
    })
}

fn open_segment(prefix: &Path, n: u64) -> StoreResult<File> {
    let path = segment_path(prefix, n);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| log_error(&path, e))
}

fn to_line(seq: i64, o: &Outcome) -> String {
    let contact = match o.kind {
        OutcomeKind::InvalidAddress { .. } => o.contact.map(|c| c.0),
        _ => None,
    };
    let line: Line<&str> = (
        seq,
        o.delivery.0,
        o.kind.target().as_str(),
        o.kind.provider_id(),
        o.kind.reason(),
        ms(o.at),
        o.kind.refund(),
        contact,
    );
    serde_json::to_string(&line).expect("a tuple of numbers and strings serialises")
}

impl OutcomeLog {
    /// Takes the log of the database at `db` and reads what a crash left
    /// in it; `None` when another process holds it.
    pub(super) fn claim(db: &Path) -> StoreResult<Option<Leftover>> {
        let prefix = with_suffix(db, "-outcomes.");
        let lock_path = with_suffix(&prefix, "lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| log_error(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(log_error(&lock_path, e)),
        }
        let segments = segments(&prefix)?;
        let mut rows = Vec::new();
        for n in &segments {
            read_segment(&segment_path(&prefix, *n), &mut rows)?;
        }
        Ok(Some(Leftover {
            lock,
            prefix,
            segments,
            rows,
        }))
    }

    /// Starts a fresh segment once the leftover lines are folded (`folded`
    /// is the marker the database holds now).
    pub(super) fn start(left: Leftover, folded: i64) -> StoreResult<Self> {
        for n in &left.segments {
            let path = segment_path(&left.prefix, *n);
            std::fs::remove_file(&path).map_err(|e| log_error(&path, e))?;
        }
        let last = left.rows.iter().map(|r| r.seq).max().unwrap_or(0);
        let segment = left.segments.last().map_or(1, |n| n + 1);
        let file = open_segment(&left.prefix, segment)?;
        Ok(Self {
            prefix: left.prefix,
            _lock: left.lock,
            segment_bytes: SEGMENT_BYTES,
            inner: Mutex::new(Inner {
                file,
                segment,
                written: 0,
                next_seq: last.max(folded) + 1,
                pending: Vec::new(),
                sealed: VecDeque::new(),
            }),
        })
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the state consistent: every
        // change below is made after the write it depends on succeeded.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends the outcomes; when this returns they survive a crash of the
    /// process. Returns how many lines wait to be folded. A blocking write
    /// of a few kilobytes to the page cache, shorter than a hop to another
    /// thread would be.
    pub(super) fn append(&self, outcomes: &[Outcome]) -> StoreResult<usize> {
        let mut inner = self.inner();
        let first = inner.next_seq;
        let rows: Vec<Logged> = outcomes
            .iter()
            .zip(first..)
            .map(|(o, seq)| Logged {
                seq,
                delivery: o.delivery.0,
                line: to_line(seq, o),
                retires: matches!(o.kind, OutcomeKind::InvalidAddress { .. })
                    && o.contact.is_some(),
            })
            .collect();
        let mut text = String::new();
        for row in &rows {
            text.push_str(&row.line);
            text.push('\n');
        }
        if let Err(e) = inner.file.write_all(text.as_bytes()) {
            // Cut a partial write off, so that the next line starts clean.
            let written = inner.written;
            let _ = inner.file.set_len(written);
            return Err(log_error(&segment_path(&self.prefix, inner.segment), e));
        }
        inner.written += text.len() as u64;
        inner.next_seq = first + rows.len() as i64;
        inner.pending.extend(rows);
        Ok(inner.pending.len())
    }

    pub(super) fn has_pending(&self) -> bool {
        !self.inner().pending.is_empty()
    }

    /// What the next fold applies: every line appended so far.
    pub(super) fn batch(&self) -> Option<Batch> {
        Batch::of(&self.inner().pending)
    }

    /// Forgets the lines up to `last`, now folded, removes the segments
    /// that hold nothing else, and starts a new segment when this one is
    /// full. A segment that cannot be removed or started is retried at
    /// the next fold; nothing waits for it.
    pub(super) fn folded(&self, last: i64) {
        let mut inner = self.inner();
        let done = inner.pending.partition_point(|r| r.seq <= last);
        inner.pending.drain(..done);
        while let Some(&(n, end)) = inner.sealed.front() {
            if end > last {
                break;
            }
            let path = segment_path(&self.prefix, n);
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "removing a folded outcome log segment failed");
                break;
            }
            inner.sealed.pop_front();
        }
        if inner.written >= self.segment_bytes {
            let next = inner.segment + 1;
            match open_segment(&self.prefix, next) {
                Ok(file) => {
                    let sealed = (inner.segment, inner.next_seq - 1);
                    inner.sealed.push_back(sealed);
                    inner.file = file;
                    inner.segment = next;
                    inner.written = 0;
                }
                Err(e) => tracing::warn!(error = %e, "starting a new outcome log segment failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests;
