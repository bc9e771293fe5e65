//! Aggregates that depend on when values came: LastK, FirstK and ExpDecaySum.

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct RecentValues {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub last_qty_20ms: Vec<i64>,
    pub first_items: Vec<String>,
    pub last_amounts_10ms_bucket: Vec<f64>,
    pub decayed_amount_30ms: f64,
    pub last_items: Vec<String>,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    app.pipeline::<RecentValues>(inputs.events.group_by(["user"]).aggregate([
        LastK::on("qty", 3).window("20ms").into("last_qty_20ms"),
        FirstK::on("item", 2).window("forever").into("first_items"),
        LastK::on("amount", 2).tumbling("10ms").into("last_amounts_10ms_bucket"),
        ExpDecaySum::on("amount", "10ms").window("30ms").into("decayed_amount_30ms"),
        LastK::on("item", 2).window("forever").into("last_items"),
    ]));
}
