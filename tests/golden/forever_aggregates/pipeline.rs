//! `forever` windows: every row ever, exact sums of values that cancel (1e16 + 1 - 1e16).

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct ForeverAggregates {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub rows: i64,
    pub qty: i64,
    pub total: f64,
    pub mean: Option<f64>,
    pub least: Option<f64>,
    pub most: Option<f64>,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    app.pipeline::<ForeverAggregates>(inputs.events.group_by(["user"]).aggregate([
        Count::rows().window("forever").into("rows"),
        Sum::on("qty").window("forever").into("qty"),
        Sum::on("amount").window("forever").into("total"),
        Avg::on("amount").window("forever").into("mean"),
        Min::on("amount").window("forever").into("least"),
        Max::on("amount").window("forever").into("most"),
    ]));
}
