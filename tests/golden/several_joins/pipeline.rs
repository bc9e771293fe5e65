//! Two joins in one pipeline, then an aggregate over the joined rows.

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct SpendByCity {
    #[key]
    pub city: String,
    #[timestamp]
    pub ts: Timestamp,
    pub spent_forever: f64,
    pub events_10ms: i64,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    let joined = inputs
        .events
        .select(["user", "ts", "item", "region", "qty"])
        .join(&inputs.profiles, Join::on(["user"]))
        .join(&inputs.prices, Join::on(["item", "region"]))
        .dropnull(["city"]);
    app.pipeline::<SpendByCity>(joined.group_by(["city"]).aggregate([
        Sum::on("price").window("forever").into("spent_forever"),
        Count::rows().window("10ms").into("events_10ms"),
    ]));
}
