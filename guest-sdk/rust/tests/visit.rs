//! Rows read in turn into one value (`Row::visit`, what `filter`, `transform` and `assign` call)
//! are the rows a batch decodes to, whatever the previous row left in the value.

use volga_guest::bindings::volga::pipeline::types::Batch;
use volga_guest::prelude::*;
use volga_guest::{Columns, Row};

#[derive(Dataset, Clone, Debug, PartialEq)]
pub struct Mixed {
    #[key]
    pub id: String,
    #[timestamp]
    pub at: Timestamp,
    pub note: Option<String>,
    pub tags: Vec<String>,
    pub count: Option<i64>,
    pub price: f64,
    pub flag: bool,
}

fn rows() -> Vec<Mixed> {
    (0..50)
        .map(|i| Mixed {
            // Strings that grow and shrink, optional values that come and go.
            id: "k".repeat(1 + (i * 7) % 11),
            at: Timestamp(1_000 + i as i64),
            note: (i % 3 != 0).then(|| format!("note {}", "é".repeat(i % 5))),
            tags: (0..i % 4).map(|t| format!("t{t}")).collect(),
            count: (i % 2 == 0).then_some(i as i64 * 10),
            price: i as f64 / 4.0,
            flag: i % 5 == 0,
        })
        .collect()
}

fn batch(rows: &[Mixed]) -> Columns {
    Columns::new(Batch {
        len: rows.len() as u32,
        names: Mixed::fields().iter().map(|f| f.name.to_string()).collect(),
        columns: Mixed::encode(rows),
    })
}

#[test]
fn rows_read_in_turn_into_one_value_are_the_rows_decoded() {
    let rows = rows();
    let decoded = Mixed::decode(&mut batch(&rows)).unwrap();
    assert_eq!(decoded, rows);
    let mut visited = Vec::new();
    Mixed::visit(&mut batch(&rows), |row| visited.push(row.clone())).unwrap();
    assert_eq!(visited, rows);
}

#[test]
fn a_null_in_a_required_column_is_an_error_when_read_in_turn() {
    let rows = rows();
    let mut columns = Mixed::encode(&rows);
    columns[0].nulls = Some((0..rows.len()).map(|i| i == 7).collect());
    let mut batch = Columns::new(Batch {
        len: rows.len() as u32,
        names: Mixed::fields().iter().map(|f| f.name.to_string()).collect(),
        columns,
    });
    let error = Mixed::visit(&mut batch, |_| {}).unwrap_err();
    assert!(error.contains("null value in a field that is not optional"), "{error}");
}
