//! `changelog`: the changes of an aggregate as an event stream, deletions flagged.

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct RegionRows {
    #[key]
    pub region: String,
    #[timestamp]
    pub ts: Timestamp,
    pub rows_10ms: i64,
}

#[derive(Dataset)]
pub struct RegionRowChanges {
    #[key]
    pub region: String,
    #[timestamp]
    pub ts: Timestamp,
    pub rows_10ms: i64,
    pub deleted: bool,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    let counts = app.pipeline::<RegionRows>(
        inputs.events.group_by(["region"]).aggregate([Count::rows().window("10ms").into("rows_10ms")]),
    );
    app.pipeline::<RegionRowChanges>(counts.changelog("deleted"));
}
