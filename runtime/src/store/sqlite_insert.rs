//! Appending rows to a history through SQLite's C API: one prepared single-row `INSERT`, each
//! row's values bound straight from the row, all rows in one transaction.
//!
//! This is the cold store's write path, and the one hot loop of it. Going through sqlx cost a
//! statement of 3,000 rows' placeholders per 30,000 values, an argument vector per statement,
//! an encode call, a lock and a clear per value, and a statement journal (a multi-row statement
//! may fail half way); here a row costs its binds, and a statement of up to 64 rows one step.
//! A step of a one-row insert was itself a third of the cost: it opens a cursor on the table,
//! finds its last row anew, and closes it again; a statement of many rows does that once.
//!
//! A live history's connection is sqlx's own, held locked (`LockedSqliteHandle`) so its worker
//! thread makes no call on it meanwhile; a part of an offline history has a [`Bulk`] connection
//! of its own, with its statements prepared once and one transaction open from its first row to
//! its last.

#![allow(unsafe_code)]

use std::borrow::Borrow;
use std::ffi::{CStr, CString, c_int};
use std::path::Path;
use std::ptr::{self, NonNull};

use libsqlite3_sys as ffi;

use super::codec::{self, Cell};
use crate::value::{F64, PREFETCH_AHEAD, Row, Value, prefetch, prefetch_row};

/// A SQLite failure, with SQLite's message.
#[derive(Debug)]
pub(super) struct SqliteFailure(pub String);

/// The inserts of rows into one table: of one row, and of `rows` rows at once.
pub(super) struct InsertSql {
    /// `INSERT ... VALUES (?, ...)`, one placeholder per field.
    pub one: String,
    /// The same, with `rows` rows of placeholders.
    pub many: String,
    /// Rows of `many`.
    pub rows: usize,
    /// Fields per row.
    pub width: usize,
}

/// Rows per multi-row insert of rows `width` values wide: 64, or fewer for wide rows, so that
/// a statement binds at most 2,048 values.
pub(super) fn rows_per_statement(width: usize) -> usize {
    (2048 / width.max(1)).clamp(1, 64)
}

/// What to do with an open connection in one transaction: rows for a table, and optionally the
/// catalog's row count of a dataset to raise by their number.
pub(super) struct Append<'a, R> {
    /// Statements run before the transaction (pragmas).
    pub before: &'a [&'a str],
    /// The inserts into the table.
    pub insert: &'a InsertSql,
    /// The rows, each as wide as the insert's placeholders.
    pub rows: &'a [R],
    /// The dataset whose catalog row count to raise, in the same transaction.
    pub count_for: Option<&'a str>,
}

/// Runs `append` on the connection `db` in one transaction. On failure the transaction is rolled
/// back, and the error says whether the connection is usable again (out of any transaction).
///
/// # Safety
/// `db` must be an open connection no other thread uses until this returns.
pub(super) unsafe fn append<R: Borrow<Row>>(
    db: NonNull<ffi::sqlite3>,
    append: &Append<'_, R>,
) -> Result<(), (SqliteFailure, bool)> {
    let db = db.as_ptr();
    // SAFETY (for every block below): `db` is open and ours for the call (the caller's
    // contract); statements are finalized by `Statement`'s drop before this returns.
    for statement in append.before {
        unsafe { exec(db, statement) }.map_err(|e| (e, true))?;
    }
    unsafe { exec(db, "BEGIN") }.map_err(|e| (e, true))?;
    let result = unsafe { insert_all(db, append) }.and_then(|()| unsafe { exec(db, "COMMIT") });
    match result {
        Ok(()) => Ok(()),
        Err(failure) => {
            // A failed COMMIT may leave the transaction open (SQLITE_BUSY): roll it back, and
            // report the connection unusable if that did not end it.
            if unsafe { ffi::sqlite3_get_autocommit(db) } == 0 {
                let _ = unsafe { exec(db, "ROLLBACK") };
            }
            let usable = unsafe { ffi::sqlite3_get_autocommit(db) } != 0;
            Err((failure, usable))
        }
    }
}

unsafe fn insert_all<R: Borrow<Row>>(
    db: *mut ffi::sqlite3,
    append: &Append<'_, R>,
) -> Result<(), SqliteFailure> {
    let insert = unsafe { Inserts::prepare(db, append.insert, append.rows.len()) }?;
    // SAFETY: the statements are live, and finalized (below) before the rows are released.
    unsafe { insert.insert_all(append.rows) }?;
    drop(insert);
    if let Some(name) = append.count_for {
        let update =
            unsafe { Statement::prepare(db, "UPDATE _volga_datasets SET rows = rows + ? WHERE name = ?") }?;
        unsafe {
            update.check(ffi::sqlite3_bind_int64(update.raw, 1, append.rows.len() as i64))?;
            update.bind_text(2, name, ffi::SQLITE_STATIC())?;
            update.step_done()?;
        }
    }
    Ok(())
}

unsafe fn exec(db: *mut ffi::sqlite3, sql: &str) -> Result<(), SqliteFailure> {
    let sql = CString::new(sql).map_err(|_| SqliteFailure(format!("statement with a NUL byte: {sql}")))?;
    // SAFETY: `db` is open; the statement text is NUL-terminated; no callback.
    let code = unsafe { ffi::sqlite3_exec(db, sql.as_ptr(), None, ptr::null_mut(), ptr::null_mut()) };
    if code == ffi::SQLITE_OK { Ok(()) } else { Err(unsafe { failure(db) }) }
}

/// The connection's last error.
pub(super) unsafe fn failure(db: *mut ffi::sqlite3) -> SqliteFailure {
    // SAFETY: `db` is open; SQLite returns a NUL-terminated message it owns.
    let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) };
    SqliteFailure(message.to_string_lossy().into_owned())
}

/// The prepared inserts of an [`InsertSql`].
struct Inserts {
    one: Statement,
    /// Prepared only for writes of a statement's worth of rows or more: preparing it took
    /// 29 us, against 1 us for the one-row insert, and most live appends of a pipeline serving
    /// a trickle of events hold a row or two.
    many: Option<Statement>,
    rows: usize,
    width: usize,
}

impl Inserts {
    /// The inserts for writing `rows` rows (or more, for a writer that appends many times).
    unsafe fn prepare(db: *mut ffi::sqlite3, sql: &InsertSql, rows: usize) -> Result<Inserts, SqliteFailure> {
        // SAFETY: `db` is open (the caller's contract).
        let one = unsafe { Statement::prepare(db, &sql.one) }?;
        let many = if rows >= sql.rows { Some(unsafe { Statement::prepare(db, &sql.many) }?) } else { None };
        Ok(Inserts { one, many, rows: sql.rows, width: sql.width })
    }

    /// Inserts `rows` (each `width` values wide): whole statements of many rows, then the rest
    /// one at a time. Text is bound without a copy: the statements must be finalized, or their
    /// bindings cleared ([`Inserts::clear`]), before the rows are released.
    unsafe fn insert_all<R: Borrow<Row>>(&self, rows: &[R]) -> Result<(), SqliteFailure> {
        // SAFETY (of each bind): the statement is live; the row outlives the step (every
        // parameter is bound again for the next statement, and the caller clears or finalizes
        // it before the rows go).
        unsafe {
            self.insert_each(rows.len(), |statement, offset, i| {
                // A history's rows reach their insert after the rest of their batch has pushed
                // them out of the cache; where `rows` are references in another order than the
                // rows themselves (a live append, in key order), so are the rows' own headers:
                // fetched further ahead, so that reading where a row's values are does not wait.
                if let Some(further) = rows.get(i + 2 * PREFETCH_AHEAD) {
                    prefetch::<Row>(further.borrow());
                }
                if let Some(ahead) = rows.get(i + PREFETCH_AHEAD) {
                    prefetch_row(ahead.borrow());
                }
                statement.bind_row(offset, rows[i].borrow())
            })
        }
    }

    /// Inserts `count` rows, binding row `i` with `bind(statement, offset, i)` (its values to
    /// the statement's parameters after the first `offset`): whole statements of many rows,
    /// then the rest one at a time.
    unsafe fn insert_each(
        &self,
        count: usize,
        mut bind: impl FnMut(&Statement, c_int, usize) -> Result<(), SqliteFailure>,
    ) -> Result<(), SqliteFailure> {
        let mut next = 0;
        if let Some(many) = &self.many {
            while count - next >= self.rows {
                for r in 0..self.rows {
                    bind(many, (r * self.width) as c_int, next + r)?;
                }
                // SAFETY: the statement is live and fully bound.
                unsafe { many.step_done() }?;
                next += self.rows;
            }
        }
        for i in next..count {
            bind(&self.one, 0, i)?;
            // SAFETY: as above.
            unsafe { self.one.step_done() }?;
        }
        Ok(())
    }

    /// Unbinds every parameter, so that no statement refers to rows about to be released.
    fn clear(&self) {
        for statement in std::iter::once(&self.one).chain(&self.many) {
            // SAFETY: the statement is live; clearing bindings cannot fail.
            unsafe { ffi::sqlite3_clear_bindings(statement.raw) };
        }
    }
}

/// A prepared statement, finalized when dropped.
pub(super) struct Statement {
    db: *mut ffi::sqlite3,
    pub(super) raw: *mut ffi::sqlite3_stmt,
}

impl Statement {
    pub(super) unsafe fn prepare(db: *mut ffi::sqlite3, sql: &str) -> Result<Statement, SqliteFailure> {
        let mut raw = ptr::null_mut();
        let length = c_int::try_from(sql.len()).map_err(|_| SqliteFailure("statement too long".into()))?;
        // SAFETY: `db` is open; the text and its length are valid for the call.
        let code =
            unsafe { ffi::sqlite3_prepare_v2(db, sql.as_ptr().cast(), length, &mut raw, ptr::null_mut()) };
        if code != ffi::SQLITE_OK || raw.is_null() {
            return Err(unsafe { failure(db) });
        }
        Ok(Statement { db, raw })
    }

    pub(super) unsafe fn check(&self, code: c_int) -> Result<(), SqliteFailure> {
        if code == ffi::SQLITE_OK { Ok(()) } else { Err(unsafe { failure(self.db) }) }
    }

    /// Binds `row`'s values to the parameters after the first `offset`, in order.
    unsafe fn bind_row(&self, offset: c_int, row: &Row) -> Result<(), SqliteFailure> {
        for (i, value) in row.iter().enumerate() {
            // SAFETY: the caller's row fits the statement's parameters after `offset`.
            unsafe { self.bind(offset + i as c_int + 1, value) }?;
        }
        Ok(())
    }

    /// Binds the first `width` values encoded in `row` ([`codec::encode`]; bytes after them
    /// are not read) to the parameters after the first `offset`, in order. Text is bound
    /// without a copy, as by [`Statement::bind`].
    unsafe fn bind_encoded(&self, offset: c_int, width: usize, mut row: &[u8]) -> Result<(), SqliteFailure> {
        let raw = self.raw;
        for i in 0..width {
            let index = offset + i as c_int + 1;
            let cell = codec::next_cell(&mut row)
                .ok_or_else(|| SqliteFailure(format!("a held row of {i} values for {width} fields")))?;
            // SAFETY: the statement is live; `index` is within its parameters (it takes rows of
            // `width` values after `offset`); text stays alive while bound (the caller's rows).
            let code = unsafe {
                match cell {
                    Cell::Null => ffi::sqlite3_bind_null(raw, index),
                    Cell::Bool(b) => ffi::sqlite3_bind_int64(raw, index, i64::from(b)),
                    Cell::Int(v) => ffi::sqlite3_bind_int64(raw, index, v),
                    Cell::Float(v) => ffi::sqlite3_bind_double(raw, index, v),
                    Cell::Text(text) => ffi::sqlite3_bind_text64(
                        raw,
                        index,
                        text.as_ptr().cast(),
                        text.len() as u64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                    Cell::List(list) => {
                        self.bind(index, &list)?;
                        ffi::SQLITE_OK
                    }
                }
            };
            unsafe { self.check(code) }?;
        }
        Ok(())
    }

    /// Binds `value` to parameter `index` (from 1). Text is bound without a copy: it must stay
    /// alive until the parameter is bound again or the statement is finalized.
    unsafe fn bind(&self, index: c_int, value: &Value) -> Result<(), SqliteFailure> {
        let raw = self.raw;
        // SAFETY: the statement is live; the index is within its parameters (the caller's
        // row is as wide as the insert).
        let code = unsafe {
            match value {
                Value::Null => ffi::sqlite3_bind_null(raw, index),
                Value::Bool(b) => ffi::sqlite3_bind_int64(raw, index, i64::from(*b)),
                Value::Int(v) => ffi::sqlite3_bind_int64(raw, index, *v),
                Value::Float(F64(v)) => ffi::sqlite3_bind_double(raw, index, *v),
                Value::Str(s) => return self.bind_text(index, s, ffi::SQLITE_STATIC()),
                // Lists are stored as JSON text, made here: SQLite copies it.
                Value::List(_) => {
                    let text = crate::training::format_cell(value);
                    return self.bind_text(index, &text, ffi::SQLITE_TRANSIENT());
                }
            }
        };
        unsafe { self.check(code) }
    }

    /// Binds `text`: without a copy for `SQLITE_STATIC` (the caller keeps `text` alive while
    /// it is bound, see [`Statement::bind`]), copied by SQLite for `SQLITE_TRANSIENT`.
    unsafe fn bind_text(
        &self,
        index: c_int,
        text: &str,
        lifetime: ffi::sqlite3_destructor_type,
    ) -> Result<(), SqliteFailure> {
        // SAFETY: the statement is live; `lifetime` says whether SQLite copies `text`.
        let code = unsafe {
            ffi::sqlite3_bind_text64(
                self.raw,
                index,
                text.as_ptr().cast(),
                text.len() as u64,
                lifetime,
                ffi::SQLITE_UTF8 as u8,
            )
        };
        unsafe { self.check(code) }
    }

    /// Runs a statement that returns no rows, and resets it for the next binds.
    unsafe fn step_done(&self) -> Result<(), SqliteFailure> {
        // SAFETY: the statement is live and fully bound.
        let code = unsafe { ffi::sqlite3_step(self.raw) };
        if code != ffi::SQLITE_DONE {
            let failure = unsafe { failure(self.db) };
            unsafe { ffi::sqlite3_reset(self.raw) };
            return Err(failure);
        }
        // After SQLITE_DONE, a reset cannot fail.
        unsafe { ffi::sqlite3_reset(self.raw) };
        Ok(())
    }
}

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: the statement was prepared on `db` and is finalized once.
        unsafe { ffi::sqlite3_finalize(self.raw) };
    }
}

/// A connection of the cold store's own to a new file, for one writer: the file's table
/// created, its insert prepared once, and one transaction open from the first row to
/// [`Bulk::finish`]. For files nothing reads until they are complete (parts of an offline
/// history, which their `setup` writes without a journal): a failed write leaves a file to
/// delete, not one to repair.
pub(super) struct Bulk {
    /// The prepared inserts: `None` once finalized.
    insert: Option<Inserts>,
    db: NonNull<ffi::sqlite3>,
    closed: bool,
}

// SAFETY: the connection is opened without SQLite's per-connection mutex and is used by one
// thread at a time: `Bulk` owns it and its statement, and every use takes `&mut self` or `self`.
unsafe impl Send for Bulk {}

impl Bulk {
    /// Creates the file at `path`, runs `setup` (pragmas, the table), and prepares `insert`.
    pub(super) fn create(path: &Path, setup: &[&str], insert: &InsertSql) -> Result<Bulk, SqliteFailure> {
        let name = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| SqliteFailure(format!("a path with a NUL byte: {}", path.display())))?;
        let flags = ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_CREATE | ffi::SQLITE_OPEN_NOMUTEX;
        let mut db = ptr::null_mut();
        // SAFETY: the name is NUL-terminated; SQLite sets `db` even on failure (to a handle
        // that must be closed), or leaves it null when out of memory.
        let code = unsafe { ffi::sqlite3_open_v2(name.as_ptr(), &mut db, flags, ptr::null()) };
        let Some(db) = NonNull::new(db) else {
            return Err(SqliteFailure("out of memory opening a connection".into()));
        };
        // From here the connection is closed by `Bulk`'s drop, on any failure.
        let mut bulk = Bulk { insert: None, db, closed: false };
        if code != ffi::SQLITE_OK {
            return Err(unsafe { failure(db.as_ptr()) });
        }
        for statement in setup.iter().copied().chain(["BEGIN"]) {
            // SAFETY: `db` is open and ours.
            unsafe { exec(db.as_ptr(), statement) }?;
        }
        // SAFETY: as above.
        bulk.insert = Some(unsafe { Inserts::prepare(db.as_ptr(), insert, usize::MAX) }?);
        Ok(bulk)
    }

    /// Inserts the first `count` of `rows`, encoded by [`codec::encode`], in the open
    /// transaction, in order: each starts with a row's encoding, of as many values as the
    /// insert has parameters (what follows them is not read).
    pub(super) fn append_encoded<'a>(
        &mut self,
        count: usize,
        mut rows: impl Iterator<Item = &'a [u8]>,
    ) -> Result<(), SqliteFailure> {
        let insert = self.insert.as_ref().ok_or_else(|| SqliteFailure("the writer is finished".into()))?;
        let width = insert.width;
        // SAFETY: the statement is live and ours; the text it binds without a copy (in the
        // rows' bytes, which outlive `'a`) is unbound below, before the caller can release it.
        let inserted = unsafe {
            insert.insert_each(count, |statement, offset, _| {
                let row = rows.next().ok_or_else(|| SqliteFailure("fewer held rows than counted".into()))?;
                statement.bind_encoded(offset, width, row)
            })
        };
        insert.clear();
        inserted
    }

    /// Inserts `rows` with `insert` (another table's, in the same file and transaction).
    pub(super) fn insert_rows(&mut self, insert: &InsertSql, rows: &[Row]) -> Result<(), SqliteFailure> {
        if let Some(row) = rows.iter().find(|row| row.len() != insert.width) {
            return Err(SqliteFailure(format!("a row of {} values for {} fields", row.len(), insert.width)));
        }
        // SAFETY: the connection is open and ours; the statements are finalized (dropped)
        // before this returns, so nothing stays bound to the rows.
        unsafe {
            let statements = Inserts::prepare(self.db.as_ptr(), insert, rows.len())?;
            statements.insert_all(rows)
        }
    }

    /// Commits the rows, runs `after` (an index build), and closes the connection.
    pub(super) fn finish(mut self, after: &[&str]) -> Result<(), SqliteFailure> {
        self.insert = None;
        let db = self.db.as_ptr();
        let outcome = ["COMMIT"].iter().chain(after).try_for_each(|statement| {
            // SAFETY: `db` is open and ours; its one statement is finalized.
            unsafe { exec(db, statement) }
        });
        self.closed = true;
        // SAFETY: as above; closed once, here (`closed` keeps the drop from closing it again).
        let code = unsafe { ffi::sqlite3_close(db) };
        outcome?;
        if code != ffi::SQLITE_OK {
            return Err(SqliteFailure(format!("cannot close the file (SQLite code {code})")));
        }
        Ok(())
    }
}

impl Drop for Bulk {
    fn drop(&mut self) {
        if !self.closed {
            // Not finished: the rows are abandoned. The statement first, then the connection.
            self.insert = None;
            // SAFETY: the connection is ours and still open, its one statement finalized.
            unsafe { ffi::sqlite3_close(self.db.as_ptr()) };
        }
    }
}
