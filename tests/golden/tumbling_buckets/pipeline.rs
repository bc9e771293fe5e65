//! Tumbling windows: the last closed bucket, rows exactly on a bucket's start belong to it.

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct TumblingBuckets {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub rows_10ms: i64,
    pub sum_10ms: f64,
    pub avg_20ms: Option<f64>,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    app.pipeline::<TumblingBuckets>(inputs.events.group_by(["user"]).aggregate([
        Count::rows().tumbling("10ms").into("rows_10ms"),
        Sum::on("amount").tumbling("10ms").into("sum_10ms"),
        Avg::on("amount").tumbling("20ms").into("avg_20ms"),
    ]));
}
