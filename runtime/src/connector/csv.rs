//! The `csv` connector: a folder of CSV files with a header row; table `users` is `users.csv`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Connector, ConnectorError, Interner, TableSource, file_name, parse_cell_interned};
use crate::config::Config;
use crate::schema::Schema;
use crate::value::Row;

/// `[connectors.NAME] kind = "csv"`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CsvConfig {
    /// The folder holding `<table>.csv` files.
    pub dir: PathBuf,
}

/// An opened `csv` connector.
pub struct CsvSource {
    dir: PathBuf,
}

impl Connector for CsvSource {
    type Config = CsvConfig;

    fn open(config: &CsvConfig, settings: &Config) -> Result<Self, ConnectorError> {
        Ok(CsvSource { dir: settings.resolve(&config.dir) })
    }
}

impl CsvSource {
    /// A source over the files of `dir`.
    pub fn new(dir: &Path) -> Self {
        CsvSource { dir: dir.to_path_buf() }
    }

    fn path(&self, table: &str) -> PathBuf {
        self.dir.join(format!("{table}.csv"))
    }
}

impl TableSource for CsvSource {
    fn locate(&self, table: &str) -> String {
        file_name(&self.path(table))
    }

    fn read_table(&self, table: &str, dataset: &str, schema: &Schema) -> Result<Vec<Row>, ConnectorError> {
        let path = self.path(table);
        let file = file_name(&path);
        let io = |e: csv::Error| ConnectorError::Io { file: file.clone(), message: e.to_string() };
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_path(&path).map_err(io)?;
        let headers = reader.headers().map_err(io)?.clone();
        let columns: Vec<usize> = schema
            .fields
            .iter()
            .map(|field| {
                headers.iter().position(|h| h.trim() == field.name).ok_or_else(|| {
                    ConnectorError::MissingColumn {
                        file: file.clone(),
                        column: field.name.clone(),
                        dataset: dataset.to_string(),
                        found: headers.iter().collect::<Vec<_>>().join(", "),
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        let mut rows = Vec::new();
        let mut record = csv::StringRecord::new();
        let mut interners: Vec<Interner> = columns.iter().map(|_| Interner::default()).collect();
        while reader.read_record(&mut record).map_err(io)? {
            let line = record.position().map_or(0, |p| p.line());
            let mut row = Vec::with_capacity(columns.len());
            for ((field, &column), interner) in schema.fields.iter().zip(&columns).zip(&mut interners) {
                let text = record.get(column).unwrap_or("");
                let value = parse_cell_interned(field.ty, text, interner).map_err(|message| {
                    ConnectorError::Value { file: file.clone(), line, column: field.name.clone(), message }
                })?;
                row.push(value);
            }
            rows.push(row);
        }
        Ok(rows)
    }
}
