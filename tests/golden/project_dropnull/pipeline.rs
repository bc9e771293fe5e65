//! Native `dropnull`, `drop`, `rename` and `select`.

use crate::Inputs;
use volga_guest::prelude::*;

#[derive(Dataset)]
pub struct Spend {
    #[timestamp]
    pub ts: Timestamp,
    #[key]
    pub buyer: String,
    pub spent: f64,
}

pub fn declare(app: &mut App, inputs: &Inputs) {
    app.pipeline::<Spend>(
        inputs
            .events
            .dropnull(["amount"])
            .drop(["qty", "region"])
            .rename([("user", "buyer"), ("amount", "spent")])
            .select(["ts", "buyer", "spent"]),
    );
}
