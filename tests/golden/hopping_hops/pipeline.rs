//! Hopping windows: overlapping hops (stride < width) and hops with gaps (stride > width).

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct HoppingHops {
    #[key]
    pub user: String,
    #[timestamp]
    pub ts: Timestamp,
    pub rows_10ms_every_5ms: i64,
    pub qty_4ms_every_10ms: i64,
    pub max_20ms_every_10ms: Option<f64>,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    app.pipeline::<HoppingHops>(inputs.events.group_by(["user"]).aggregate([
        Count::rows().hopping("10ms", "5ms").into("rows_10ms_every_5ms"),
        Sum::on("qty").hopping("4ms", "10ms").into("qty_4ms_every_10ms"),
        Max::on("amount").hopping("20ms", "10ms").into("max_20ms_every_10ms"),
    ]));
}
