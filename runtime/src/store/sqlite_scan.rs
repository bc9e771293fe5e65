//! Reading a history through SQLite's C API: one statement stepped row by row, each column
//! read straight into a [`Value`], repeated strings shared.
//!
//! This is the cold store's bulk read path (range reads, training sets). Through sqlx, each row
//! was a message from the connection's thread holding a copy of every value, and the 8.5M-row
//! history of the reference example took 36 s and 6.9 GB to read; here a row costs its column
//! reads. The connection is sqlx's own, held locked (`LockedSqliteHandle`) for the scan.

#![allow(unsafe_code)]

use std::ffi::c_int;
use std::ptr::NonNull;

use libsqlite3_sys as ffi;

use super::sqlite_insert::{SqliteFailure, Statement, failure};
use crate::connector::Interner;
use crate::schema::Schema;
use crate::value::{F64, Row, ScalarType, Value};

/// Why a scan stopped.
#[derive(Debug)]
pub(super) enum ScanError {
    /// SQLite failed.
    Sqlite(SqliteFailure),
    /// A cell does not read as its field: the field and why.
    Cell { field: String, message: String },
}

/// Runs `sql` (a `SELECT` of `schema`'s fields, in order) with the integer parameters `binds`,
/// and reads every row it returns.
///
/// # Safety
/// `db` must be an open connection no other thread uses until this returns.
pub(super) unsafe fn scan(
    db: NonNull<ffi::sqlite3>,
    sql: &str,
    binds: &[i64],
    schema: &Schema,
) -> Result<Vec<Row>, ScanError> {
    let db = db.as_ptr();
    // SAFETY (for every block below): `db` is open and ours for the call (the caller's
    // contract); the statement is finalized by `Statement`'s drop before this returns.
    let statement = unsafe { Statement::prepare(db, sql) }.map_err(ScanError::Sqlite)?;
    for (i, &value) in binds.iter().enumerate() {
        let code = unsafe { ffi::sqlite3_bind_int64(statement.raw, i as c_int + 1, value) };
        unsafe { statement.check(code) }.map_err(ScanError::Sqlite)?;
    }
    let mut interners: Vec<Interner> = schema.fields.iter().map(|_| Interner::default()).collect();
    let mut rows = Vec::new();
    loop {
        match unsafe { ffi::sqlite3_step(statement.raw) } {
            ffi::SQLITE_ROW => {}
            ffi::SQLITE_DONE => return Ok(rows),
            _ => return Err(ScanError::Sqlite(unsafe { failure(db) })),
        }
        let mut row = Vec::with_capacity(schema.fields.len());
        for (i, (field, interner)) in schema.fields.iter().zip(&mut interners).enumerate() {
            let column = i as c_int;
            // SAFETY: the statement has a current row with a column per field (the caller's
            // SELECT); text is copied out before the next step.
            let value = unsafe {
                if ffi::sqlite3_column_type(statement.raw, column) == ffi::SQLITE_NULL {
                    Value::Null
                } else if field.ty.list {
                    // Lists are stored as the JSON text this store wrote.
                    let text = column_text(statement.raw, column)
                        .map_err(|message| ScanError::Cell { field: field.name.clone(), message })?;
                    crate::online::decode::list_from_text(field.ty, text)
                        .map_err(|message| ScanError::Cell { field: field.name.clone(), message })?
                } else {
                    match field.ty.scalar {
                        ScalarType::Int | ScalarType::Timestamp => {
                            Value::Int(ffi::sqlite3_column_int64(statement.raw, column))
                        }
                        ScalarType::Float => {
                            Value::Float(F64(ffi::sqlite3_column_double(statement.raw, column)))
                        }
                        ScalarType::Bool => {
                            Value::Bool(ffi::sqlite3_column_int64(statement.raw, column) != 0)
                        }
                        ScalarType::Str => interner.intern(
                            column_text(statement.raw, column)
                                .map_err(|message| ScanError::Cell { field: field.name.clone(), message })?,
                        ),
                    }
                }
            };
            row.push(value);
        }
        rows.push(row);
    }
}

/// The text of a column of the current row, valid until the next step.
unsafe fn column_text<'a>(statement: *mut ffi::sqlite3_stmt, column: c_int) -> Result<&'a str, String> {
    // SAFETY: the statement has a current row; SQLite returns a pointer to `bytes` bytes it
    // owns until the next step (or null for an empty value).
    let (text, bytes) = unsafe {
        (ffi::sqlite3_column_text(statement, column), ffi::sqlite3_column_bytes(statement, column))
    };
    if text.is_null() || bytes <= 0 {
        return Ok("");
    }
    let bytes = unsafe { std::slice::from_raw_parts(text, bytes as usize) };
    std::str::from_utf8(bytes).map_err(|e| format!("text that is not UTF-8 ({e})"))
}
