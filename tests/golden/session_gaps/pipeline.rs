//! Session windows: the last closed session; rows exactly `gap` apart start a new one.

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct SessionGaps {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub rows_5ms: i64,
    pub sum_5ms: f64,
    pub max_qty_10ms: Option<i64>,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    app.pipeline::<SessionGaps>(inputs.events.group_by(["user"]).aggregate([
        Count::rows().session("5ms").into("rows_5ms"),
        Sum::on("amount").session("5ms").into("sum_5ms"),
        Max::on("qty").session("10ms").into("max_qty_10ms"),
    ]));
}
