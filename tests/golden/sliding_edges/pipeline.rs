//! Sliding windows: rows leave exactly `width` after their time, as rows at that time enter.

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct SlidingEdges {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub rows_10ms: i64,
    pub amounts_10ms: i64,
    pub sum_10ms: f64,
    pub avg_10ms: Option<f64>,
    pub max_qty_5ms: Option<i64>,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    app.pipeline::<SlidingEdges>(inputs.events.group_by(["user"]).aggregate([
        Count::rows().window("10ms").into("rows_10ms"),
        Count::on("amount").window("10ms").into("amounts_10ms"),
        Sum::on("amount").window("10ms").into("sum_10ms"),
        Avg::on("amount").window("10ms").into("avg_10ms"),
        Max::on("qty").window("5ms").into("max_qty_5ms"),
    ]));
}
