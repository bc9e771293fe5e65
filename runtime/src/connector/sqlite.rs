//! The `sqlite` connector: tables of a SQLite database file, read through sqlx.

use std::path::PathBuf;

use serde::Deserialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{Connection, Row as _, SqliteConnection, ValueRef};

use super::{Connector, ConnectorError, Kept, RowFilter, TableSource, file_name, parse_timestamp};
use crate::config::Config;
use crate::schema::Schema;
use crate::value::{F64, Row, ScalarType, Value};

/// `[connectors.NAME] kind = "sqlite"`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SqliteConfig {
    /// The database file.
    pub path: PathBuf,
}

/// An opened `sqlite` connector.
pub struct SqliteSource {
    path: PathBuf,
}

impl Connector for SqliteSource {
    type Config = SqliteConfig;

    fn open(config: &SqliteConfig, settings: &Config) -> Result<Self, ConnectorError> {
        let path = settings.resolve(&config.path);
        if !path.exists() {
            return Err(ConnectorError::Io {
                file: file_name(&path),
                message: "no such database file".into(),
            });
        }
        Ok(SqliteSource { path })
    }
}

impl TableSource for SqliteSource {
    fn locate(&self, table: &str) -> String {
        format!("{}#{table}", file_name(&self.path))
    }

    fn read_table(
        &self,
        table: &str,
        dataset: &str,
        schema: &Schema,
        filter: Option<&dyn RowFilter>,
    ) -> Result<Vec<Row>, ConnectorError> {
        let location = self.locate(table);
        let io = |e: sqlx::Error| ConnectorError::Io { file: location.clone(), message: e.to_string() };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| ConnectorError::Io { file: location.clone(), message: e.to_string() })?;
        let columns: Vec<String> = schema.fields.iter().map(|f| format!("\"{}\"", f.name)).collect();
        let sql = format!("SELECT {} FROM \"{}\"", columns.join(", "), table.replace('"', "\"\""));
        let records: Vec<SqliteRow> = runtime.block_on(async {
            let options = SqliteConnectOptions::new().filename(&self.path).read_only(true);
            let mut connection = SqliteConnection::connect_with(&options).await.map_err(io)?;
            // Identifiers are quoted with embedded quotes doubled; no value is interpolated.
            sqlx::query(sqlx::AssertSqlSafe(sql.clone())).fetch_all(&mut connection).await.map_err(
                |e| match e {
                    sqlx::Error::Database(db) if db.message().contains("no such column") => {
                        ConnectorError::MissingColumn {
                            file: location.clone(),
                            column: db.message().rsplit(": ").next().unwrap_or_default().to_string(),
                            dataset: dataset.to_string(),
                            found: "see the table's schema".into(),
                        }
                    }
                    other => io(other),
                },
            )
        })?;
        let filtering = |message| ConnectorError::Filter { file: location.clone(), message };
        let mut kept = Kept::new(Vec::with_capacity(records.len()), filter).map_err(filtering)?;
        for (index, record) in records.iter().enumerate() {
            let row: Row = schema
                .fields
                .iter()
                .enumerate()
                .map(|(i, field)| {
                    let error = |message: String| ConnectorError::Value {
                        file: location.clone(),
                        line: index as u64 + 1,
                        column: field.name.clone(),
                        message,
                    };
                    let is_null = record.try_get_raw(i).map(|v| v.is_null()).unwrap_or(true);
                    if is_null {
                        return if field.ty.nullable {
                            Ok(Value::Null)
                        } else {
                            Err(error(format!("null in a field of type {}", field.ty)))
                        };
                    }
                    let bad = |e: sqlx::Error| error(e.to_string());
                    if field.ty.list {
                        let text = record.try_get::<String, _>(i).map_err(bad)?;
                        return crate::online::decode::list_from_text(field.ty, &text).map_err(error);
                    }
                    Ok(match field.ty.scalar {
                        ScalarType::Int => Value::Int(record.try_get::<i64, _>(i).map_err(bad)?),
                        ScalarType::Float => Value::Float(F64(record.try_get::<f64, _>(i).map_err(bad)?)),
                        ScalarType::Str => Value::str(&record.try_get::<String, _>(i).map_err(bad)?),
                        ScalarType::Bool => Value::Bool(record.try_get::<bool, _>(i).map_err(bad)?),
                        ScalarType::Timestamp => match record.try_get::<i64, _>(i) {
                            Ok(ms) => Value::Int(ms),
                            Err(_) => Value::Int(
                                parse_timestamp(&record.try_get::<String, _>(i).map_err(bad)?)
                                    .map_err(error)?,
                            ),
                        },
                    })
                })
                .collect::<Result<_, _>>()?;
            kept.push(row).map_err(filtering)?;
        }
        kept.finish().map_err(filtering)
    }
}
