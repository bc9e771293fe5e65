//! Aggregates over every value of a window: Stddev, Distinct and nearest-rank Quantile.

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct SpreadAggregates {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub stddev_20ms: Option<f64>,
    pub items_forever: i64,
    pub median_20ms: Option<f64>,
    pub p90_qty_20ms_bucket: Option<i64>,
    pub min_by_quantile: Option<f64>,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    app.pipeline::<SpreadAggregates>(inputs.events.group_by(["user"]).aggregate([
        Stddev::on("amount").window("20ms").into("stddev_20ms"),
        Distinct::on("item").window("forever").into("items_forever"),
        Quantile::on("amount", 0.5).window("20ms").into("median_20ms"),
        Quantile::on("qty", 0.9).tumbling("20ms").into("p90_qty_20ms_bucket"),
        Quantile::on("amount", 0.0).window("forever").into("min_by_quantile"),
    ]));
}
